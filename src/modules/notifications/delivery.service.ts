import {
  Inject,
  Injectable,
  Logger,
  type OnModuleDestroy,
  type OnModuleInit,
  Optional,
} from '@nestjs/common';
import { SETTINGS, type Settings } from '../../config/settings';
import { MailSender } from '../../infra/mail/mail.sender';
import { SMS_SENDER, type Sms } from '../../infra/sms/sms';
import { backoffMs, smsOf, subjectOf, textOf } from './alert-format';
import type { AlertChannel, NotificationRecord } from './alert.types';
import { NotificationsRepository } from './notifications.repository';

// How long the instance that raised an alert has to send it before others may retry it.
export const FIRST_ATTEMPT_MS = 120_000;

// Sends stored alerts through their channels and retries the channels that failed, with backoff,
// until ALERT_RETRY_ATTEMPTS. Each retry attempt is taken by one instance only (a unique mark).
// Alerts that could not be stored (MongoDB away) wait here and are stored once it is back.
@Injectable()
export class DeliveryService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('alerts');
  private readonly unsaved: NotificationRecord[] = [];
  private timer?: NodeJS.Timeout;
  private ticking = false;

  constructor(
    private readonly repository: NotificationsRepository,
    @Inject(SETTINGS) private readonly settings: Settings,
    @Optional() private readonly mail?: MailSender,
    @Optional() @Inject(SMS_SENDER) private readonly sms?: Sms,
  ) {}

  onModuleInit(): void {
    const every = Math.max(100, Math.min(this.settings.notifications.retry.baseMs, 5000));
    this.timer = setInterval(() => void this.tick(), every);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  // Which configured channels an event goes to; the log when none of them is configured.
  channelsFor(types: Array<NotificationRecord['type']>): AlertChannel[] {
    const wanted = new Set<AlertChannel>();
    for (const type of types) {
      const rules =
        type === 'digest' ? (['email', 'sms'] as AlertChannel[]) : this.settings.notifications.rules[type];
      for (const channel of rules) wanted.add(channel);
    }
    const usable = [...wanted].filter(
      (channel) => channel === 'log' || (channel === 'email' ? Boolean(this.mail) : Boolean(this.sms)),
    );
    return usable.length > 0 ? usable : ['log'];
  }

  async store(record: NotificationRecord): Promise<void> {
    try {
      await this.repository.insert(record);
    } catch (error) {
      this.logger.error(
        { event: 'alert_store_failed', alert_id: record.id, err: describe(error) },
        'alert kept in memory',
      );
      this.unsaved.push(record);
    }
  }

  // One attempt at every channel not yet sent; then the alert is sent, due again later, or failed.
  async attempt(record: NotificationRecord): Promise<void> {
    const errors: string[] = [];
    for (const channel of record.channels) {
      if (record.sent.includes(channel)) continue;
      try {
        await this.sendVia(channel, record);
        record.sent.push(channel);
      } catch (error) {
        errors.push(`${channel}: ${describe(error)}`);
      }
    }
    record.attempts++;
    const { attempts, baseMs, maxMs } = this.settings.notifications.retry;
    if (errors.length === 0) {
      record.status = 'sent';
      record.next_attempt_at = null;
      record.last_error = null;
    } else {
      record.last_error = errors.join('; ').slice(0, 1000);
      record.status = record.attempts >= attempts ? 'failed' : 'pending';
      record.next_attempt_at =
        record.status === 'pending' ? new Date(Date.now() + backoffMs(record.attempts, baseMs, maxMs)) : null;
      this.logger.warn(
        {
          event: record.status === 'failed' ? 'alert_failed' : 'alert_retry',
          alert_id: record.id,
          type: record.type,
          attempts: record.attempts,
          next_attempt_at: record.next_attempt_at?.toISOString(),
          err: record.last_error,
        },
        'alert delivery failed',
      );
    }
    if (this.unsaved.includes(record)) return;
    await this.repository.saveDelivery(record).catch((error: unknown) => {
      this.logger.error(
        { event: 'alert_save_failed', alert_id: record.id, err: describe(error) },
        'alert save failed',
      );
    });
  }

  // Stores what waited in memory, then retries what is due.
  async tick(now = new Date()): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      for (const record of [...this.unsaved]) {
        if (record.status === 'pending' && record.next_attempt_at && record.next_attempt_at <= now)
          await this.attempt(record);
        try {
          await this.repository.insert(record);
          this.unsaved.splice(this.unsaved.indexOf(record), 1);
        } catch {
          break;
        }
      }
      for (const record of await this.repository.due(now)) {
        if (await this.repository.mark(`r:${record.id}:${record.attempts}`, 24 * 3_600_000))
          await this.attempt(record);
      }
    } catch (error) {
      this.logger.warn({ event: 'alert_retry_tick_failed', err: describe(error) }, 'alert retry tick failed');
    } finally {
      this.ticking = false;
    }
  }

  get waiting(): number {
    return this.unsaved.length;
  }

  private async sendVia(channel: AlertChannel, record: NotificationRecord): Promise<void> {
    switch (channel) {
      case 'email':
        if (!this.mail) throw new Error('email is not configured');
        return this.mail.send({ subject: subjectOf(record), text: textOf(record) });
      case 'sms':
        if (!this.sms) throw new Error('sms is not configured');
        return this.sms.send(smsOf(record));
      case 'log':
        // never the user's reason text: logs carry ids, links and error details only
        this.logger.warn(
          {
            event: 'alert',
            alert_id: record.id,
            type: record.type,
            user_id: record.user_id,
            session_id: record.session_id,
            affected_users: record.affected_users,
            link: record.link,
            details: record.details,
            summary: record.summary,
          },
          subjectOf(record),
        );
        return;
    }
  }
}

function describe(error: unknown): string {
  return error instanceof Error
    ? `${error.name}: ${error.message}`.slice(0, 300)
    : String(error).slice(0, 300);
}
