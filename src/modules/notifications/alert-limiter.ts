import { Inject, Injectable, Logger } from '@nestjs/common';
import { SETTINGS, type Settings } from '../../config/settings';
import type { AlertEventType } from './alert.types';
import { NotificationsRepository } from './notifications.repository';

// Rate limits per event type (at most N per window), per session and per user (one per type per
// session window each), exact across instances: each allowed alert takes a numbered slot with a
// unique insert. While MongoDB is away the same rules run on this instance's memory. The per-user
// limit keeps one user from spending the type's whole budget (a help request from each of many new
// sessions, a report of each of many messages): the rest of theirs go to the digest.
@Injectable()
export class AlertLimiter {
  private readonly logger = new Logger('alerts');
  // where to start looking for a free slot in a type window; slots below are taken
  private readonly hints = new Map<string, number>();
  private readonly local = new Set<string>();

  constructor(
    private readonly repository: NotificationsRepository,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  async allow(
    type: AlertEventType,
    sessionId: string | undefined,
    at: Date,
    userId?: string,
  ): Promise<boolean> {
    const { perType, typeWindowMs, sessionWindowMs } = this.settings.notifications.limits;
    const window = Math.floor(at.getTime() / sessionWindowMs);
    if (sessionId && !(await this.take(`s:${type}:${sessionId}:${window}`, sessionWindowMs, at)))
      return false;
    if (userId && !(await this.take(`u:${type}:${userId}:${window}`, sessionWindowMs, at))) return false;
    const base = `t:${type}:${Math.floor(at.getTime() / typeWindowMs)}`;
    for (let slot = this.hints.get(base) ?? 1; slot <= perType; slot++) {
      if (await this.take(`${base}:${slot}`, typeWindowMs, at)) {
        this.hint(base, slot + 1);
        return true;
      }
    }
    this.hint(base, perType + 1);
    return false;
  }

  private hint(base: string, next: number): void {
    this.hints.set(base, next);
    // only the current windows matter
    if (this.hints.size > 200) this.hints.delete(this.hints.keys().next().value as string);
  }

  private async take(key: string, windowMs: number, at: Date): Promise<boolean> {
    try {
      return await this.repository.mark(key, 2 * windowMs, at);
    } catch (error) {
      this.logger.warn({ event: 'alert_limit_local', err: String(error) }, 'rate limit on local memory');
      if (this.local.has(key)) return false;
      this.local.add(key);
      if (this.local.size > 10_000) this.local.clear();
      return true;
    }
  }
}
