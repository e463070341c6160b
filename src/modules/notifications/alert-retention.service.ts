import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { SETTINGS, type Settings } from '../../config/settings';
import { NotificationsRepository } from './notifications.repository';

// at most this long between sweeps (less when ALERT_RETENTION is shorter)
const SWEEP_EVERY_MS = 3_600_000;

// Alerts and digests older than ALERT_RETENTION (90 days) are removed once settled, with the reasons
// they keep (a help request's text, a reporter's words): before, nothing ever removed them. On every
// instance; the deletes are idempotent (docs/protocol.md, "Alert limits and digests").
@Injectable()
export class AlertRetentionService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('alerts');
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly repository: NotificationsRepository,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  onModuleInit(): void {
    const every = Math.min(SWEEP_EVERY_MS, this.settings.notifications.retentionMs);
    this.timer = setInterval(() => void this.sweep(), every);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  async sweep(now = Date.now()): Promise<number> {
    try {
      const removed = await this.repository.removeSettled(
        new Date(now - this.settings.notifications.retentionMs),
      );
      if (removed > 0) this.logger.log({ event: 'alerts_expired', count: removed }, 'alert retention sweep');
      return removed;
    } catch (error) {
      this.logger.warn({ event: 'alert_sweep_failed', err: String(error) }, 'alert retention sweep failed');
      return 0;
    }
  }
}
