import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { SETTINGS, type Settings } from '../../config/settings';
import { sessionLink } from './alert-format';
import { AlertLimiter } from './alert-limiter';
import type { AlertEvent, AlertEventType, NotificationRecord } from './alert.types';
import { DeliveryService } from './delivery.service';
import { NotificationsRepository } from './notifications.repository';
import { newId } from '../../common/ids';

// The one entry point for internal events admins must hear about: help requests, LLM and database
// failures, abnormal traffic, crashes. raise() never throws and never blocks the caller for long:
// the alert is rate-limited, stored, then sent; what the limits held back goes out in a digest.
@Injectable()
export class AlertsService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('alerts');
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly limiter: AlertLimiter,
    private readonly delivery: DeliveryService,
    private readonly repository: NotificationsRepository,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  onModuleInit(): void {
    this.timer = setInterval(() => void this.digest(), this.settings.notifications.digestIntervalMs);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  async raise(event: AlertEvent): Promise<NotificationRecord | undefined> {
    try {
      const at = event.at ?? new Date();
      const allowed = await this.limiter.allow(event.type, event.sessionId, at, event.userId);
      const record: NotificationRecord = {
        id: newId(),
        kind: 'alert',
        type: event.type,
        user_id: event.userId ?? null,
        session_id: event.sessionId ?? null,
        affected_users: event.affectedUsers ?? (event.userId ? 1 : 0),
        details: event.details ?? null,
        reason: event.reason ?? null,
        link: event.sessionId ? sessionLink(this.settings.publicBaseUrl, event.sessionId) : null,
        at,
        channels: this.delivery.channelsFor([event.type]),
        sent: [],
        status: allowed ? 'pending' : 'suppressed',
        attempts: 0,
        next_attempt_at: allowed ? this.delivery.firstAttemptEnds() : null,
        last_error: null,
        digest_id: null,
        summary: null,
      };
      await this.delivery.store(record);
      this.logger.log(
        {
          event: allowed ? 'alert_raised' : 'alert_suppressed',
          alert_id: record.id,
          type: record.type,
          user_id: record.user_id,
          session_id: record.session_id,
          channels: record.channels,
        },
        allowed ? 'alert raised' : 'alert held for the digest',
      );
      if (allowed) await this.delivery.attempt(record);
      return record;
    } catch (error) {
      this.logger.error(
        { event: 'alert_raise_failed', type: event.type, err: String(error) },
        'alert failed',
      );
      return undefined;
    }
  }

  // Alerts of `type` made before `before`, reason included, once settled (NotificationsRepository
  // .removeSettled): a message report's alert goes with its report, which ROOM_RETENTION removes
  // (docs/protocol.md, "Reports"). The number removed.
  expire(type: AlertEventType, before: Date): Promise<number> {
    return this.repository.removeSettled(before, type);
  }

  // A purged session's alerts, once settled (NotificationsRepository.removeSettledOf): they name the
  // session and keep its user's help text (docs/protocol.md, "Session library").
  forgetSession(sessionId: string): Promise<number> {
    return this.repository.removeSettledOf(sessionId);
  }

  // Sends one digest of every alert the limits held back since the last one. One instance per
  // interval does it (a unique mark); a suppressed alert lands in exactly one digest.
  async digest(now = new Date()): Promise<NotificationRecord | undefined> {
    try {
      const interval = this.settings.notifications.digestIntervalMs;
      if (!(await this.repository.mark(`d:${Math.floor(now.getTime() / interval)}`, 2 * interval, now)))
        return;
      await this.repository.purgeMarks(now);
      const digestId = newId();
      const held = await this.repository.takeSuppressed(digestId, undefined, now);
      if (held.length === 0) return;
      const summary: Record<string, number> = {};
      for (const alert of held) summary[alert.type] = (summary[alert.type] ?? 0) + 1;
      const sessions = [...new Set(held.map((alert) => alert.session_id).filter((id) => id !== null))];
      const users = new Set(held.map((alert) => alert.user_id).filter((id) => id !== null));
      const first = held.reduce((min, alert) => (alert.at < min ? alert.at : min), held[0].at);
      const record: NotificationRecord = {
        id: digestId,
        kind: 'digest',
        type: 'digest',
        user_id: null,
        session_id: null,
        affected_users: users.size,
        details: `${held.length} alerts since ${first.toISOString()}${
          sessions.length > 0
            ? `; sessions: ${sessions.slice(0, 20).join(', ')}${sessions.length > 20 ? ', …' : ''}`
            : ''
        }`,
        reason: null,
        link: null,
        at: now,
        channels: this.delivery.channelsFor(held.map((alert) => alert.type)),
        sent: [],
        status: 'pending',
        attempts: 0,
        next_attempt_at: this.delivery.firstAttemptEnds(),
        last_error: null,
        digest_id: null,
        summary,
      };
      await this.delivery.store(record);
      await this.delivery.attempt(record);
      return record;
    } catch (error) {
      this.logger.warn({ event: 'alert_digest_failed', err: String(error) }, 'digest failed');
      return undefined;
    }
  }
}
