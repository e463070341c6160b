import { Inject, Injectable, Logger } from '@nestjs/common';
import { SETTINGS, type Settings } from '../../config/settings';
import { MemorySlots, takeSlot } from './alert-slots';
import type { AlertEventType } from './alert.types';
import { NotificationsRepository } from './notifications.repository';

// Rate limits per event type (at most N within any span of ALERT_LIMIT_WINDOW), per session and per
// user (one per type within any span of ALERT_SESSION_WINDOW each), exact across instances: each
// allowed alert takes one of the group's numbered slots with a unique insert (alert-slots.ts; with or
// without Redis, on FerretDB as on MongoDB). While MongoDB is away the same rules run on this
// instance's memory. The per-user limit keeps one user from spending the type's whole budget (a help
// request from each of many new sessions, a report of each of many messages): the rest of theirs go
// to the digest. Until the timers audit of session 43 the limits counted fixed windows
// (`floor(at / window)` in the key), so a burst straddling a window's end got twice the limit through
// (6 help alerts sent within ~1 s with a limit of 3 per 6 s, 3 of 3 runs; docs/protocol.md, "Alert
// limits and digests").
@Injectable()
export class AlertLimiter {
  private readonly logger = new Logger('alerts');
  private readonly local = new MemorySlots();

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
    if (sessionId && !(await this.take(`s:${type}:${sessionId}`, 1, sessionWindowMs, at))) return false;
    if (userId && !(await this.take(`u:${type}:${userId}`, 1, sessionWindowMs, at))) return false;
    return this.take(`t:${type}`, perType, typeWindowMs, at);
  }

  private async take(group: string, size: number, windowMs: number, at: Date): Promise<boolean> {
    try {
      return await takeSlot(this.repository, group, size, windowMs, at.getTime());
    } catch (error) {
      this.logger.warn({ event: 'alert_limit_local', err: String(error) }, 'rate limit on local memory');
      return takeSlot(this.local, group, size, windowMs, at.getTime());
    }
  }
}
