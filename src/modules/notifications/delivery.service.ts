import {
  Inject,
  Injectable,
  Logger,
  type OnModuleDestroy,
  type OnModuleInit,
  Optional,
} from '@nestjs/common';
import { SETTINGS, type Settings } from '../../config/settings';
import { SMS_SENDER, type Sms } from '../../infra/sms/sms';
import { ADMIN_MAIL, type AdminMail } from './admin-mail';
import { smsOf, subjectOf, textOf } from './alert-format';
import { AlertMetrics } from './alert-metrics';
import { alertBootWarnings } from './alert-warnings';
import type { AlertChannel, NotificationRecord } from './alert.types';
import {
  attemptWindow,
  DEFAULT_TIMING,
  DELIVERY_TIMING,
  type DeliveryTiming,
  settleAttempt,
} from './delivery-schedule';
import { NotificationsRepository } from './notifications.repository';
import {
  failure,
  NOT_STARTED,
  type RecipientChannel,
  type RecordSent,
  sendToEach,
} from './recipient-delivery';

// a claim is only asked for during its own window; it is kept a while longer for stragglers
const CLAIM_TTL_MS = 3_600_000;

// Sends stored alerts through their channels and retries what failed, with backoff, until the alert
// has had ALERT_RETRY_ATTEMPTS attempts and is ALERT_RETRY_FOR old. One attempt at a time: each is
// claimed by a unique mark per attempt window (docs/protocol.md, "Alert limits and digests").
// Alerts that could not be stored (MongoDB away) wait here and are stored once it is back.
@Injectable()
export class DeliveryService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('alerts');
  private readonly unsaved: NotificationRecord[] = [];
  private readonly timing: DeliveryTiming;
  private timer?: NodeJS.Timeout;
  private ticking = false;

  constructor(
    private readonly repository: NotificationsRepository,
    @Inject(SETTINGS) private readonly settings: Settings,
    @Optional() @Inject(ADMIN_MAIL) private readonly mail?: AdminMail,
    @Optional() @Inject(SMS_SENDER) private readonly sms?: Sms,
    @Optional() private readonly metrics?: AlertMetrics,
    @Optional() @Inject(DELIVERY_TIMING) timing?: DeliveryTiming,
  ) {
    this.timing = timing ?? DEFAULT_TIMING;
  }

  onModuleInit(): void {
    for (const { event, message } of alertBootWarnings(this.settings)) this.logger.warn({ event }, message);
    const every = Math.max(100, Math.min(this.settings.notifications.retry.baseMs, 5000));
    this.timer = setInterval(() => void this.tick(), every);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  // When the first attempt's window ends: a new alert is due for retries from then on.
  firstAttemptEnds(now = Date.now()): Date {
    return new Date(now + this.timing.windowMs);
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

  // One attempt at every channel and recipient not yet sent; then the alert is sent, due again
  // later, or failed. A stored alert is claimed first and read again: `record` is brought up to date
  // in place, or left alone when another instance has the attempt or had it already.
  async attempt(record: NotificationRecord): Promise<void> {
    const stored = !this.unsaved.includes(record);
    let deadline = Number.POSITIVE_INFINITY;
    if (stored) {
      try {
        const claimed = await this.claim(record);
        if (claimed === undefined) return;
        deadline = claimed;
      } catch (error) {
        // still pending and stored: a later tick retries it
        this.logger.warn(
          { event: 'alert_claim_failed', alert_id: record.id, err: describe(error) },
          'alert claim failed',
        );
        return;
      }
    }
    const errors: string[] = [];
    const done: RecordSent = (sent) => (stored ? this.recordSent(record, sent) : Promise.resolve());
    for (const channel of record.channels) {
      if (record.sent.includes(channel)) continue;
      const each = this.toEach(channel, record);
      if (each) {
        await sendToEach(each, record, deadline, errors, done);
        continue;
      }
      if (Date.now() >= deadline) {
        errors.push(`${channel}: ${NOT_STARTED}`);
        continue;
      }
      try {
        await this.sendVia(channel, record);
      } catch (error) {
        errors.push(`${channel}: ${failure(error)}`);
        continue;
      }
      record.sent.push(channel);
      await done({ sent: [channel] });
    }
    this.settle(record, errors);
    if (!stored) return;
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
      for (const record of await this.repository.due(now)) await this.attempt(record);
    } catch (error) {
      this.logger.warn({ event: 'alert_retry_tick_failed', err: describe(error) }, 'alert retry tick failed');
    } finally {
      this.ticking = false;
    }
  }

  get waiting(): number {
    return this.unsaved.length;
  }

  // Each window of each attempt goes to one instance, by a unique mark; an instance that dies in
  // its window leaves the next to another. The claimant sends only within its window (the deadline
  // it gets back), so a window too near its end is left for the next, and it reads the alert again,
  // since its copy may be older than what another instance did since.
  private async claim(record: NotificationRecord): Promise<number | undefined> {
    const now = Date.now();
    const { window, deadline } = attemptWindow(record.next_attempt_at?.getTime() ?? now, now, this.timing);
    if (now >= deadline) return undefined;
    if (!(await this.repository.mark(`r:${record.id}:${record.attempts}:${window}`, CLAIM_TTL_MS)))
      return undefined;
    const fresh = await this.repository.get(record.id);
    if (!fresh || fresh.status !== 'pending' || fresh.attempts !== record.attempts) return undefined;
    Object.assign(record, fresh);
    return deadline;
  }

  // Email and SMS go to each admin on its own (sendToEach), with the message of this alert.
  private toEach(channel: AlertChannel, record: NotificationRecord): RecipientChannel | undefined {
    const { mail, sms } = this;
    if (channel === 'email' && mail) {
      const message = { subject: subjectOf(record), text: textOf(record) };
      return { channel, recipients: mail.recipients, send: (to) => mail.send(to, message) };
    }
    if (channel === 'sms' && sms) {
      const body = smsOf(record);
      return { channel, recipients: sms.recipients, send: (to) => sms.send(to, body) };
    }
    return undefined;
  }

  private async recordSent(record: NotificationRecord, sent: Parameters<RecordSent>[0]): Promise<void> {
    await this.repository.addSent(record.id, sent).catch((error: unknown) => {
      // the save at the end of the attempt adds it again
      this.logger.warn(
        { event: 'alert_save_failed', alert_id: record.id, err: describe(error) },
        'alert save failed',
      );
    });
  }

  // Sent, due again after a backoff, or failed (settleAttempt); what failed is logged, and an alert
  // given up on counted.
  private settle(record: NotificationRecord, errors: string[]): void {
    const outcome = settleAttempt(record, errors, this.settings.notifications.retry);
    if (outcome === 'sent') return;
    const fields = {
      event: outcome === 'failed' ? 'alert_failed' : 'alert_retry',
      alert_id: record.id,
      type: record.type,
      attempts: record.attempts,
      next_attempt_at: record.next_attempt_at?.toISOString(),
      err: record.last_error,
    };
    if (outcome === 'failed') {
      this.metrics?.failed(record.type);
      this.logger.error(fields, 'alert delivery failed for good');
    } else this.logger.warn(fields, 'alert delivery failed');
  }

  // The log, or a channel no longer configured (email and SMS otherwise go by toEach).
  private async sendVia(channel: AlertChannel, record: NotificationRecord): Promise<void> {
    switch (channel) {
      case 'email':
      case 'sms':
        throw new Error(`${channel} is not configured`);
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
