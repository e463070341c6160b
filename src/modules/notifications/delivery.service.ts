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

// a claim is only asked for during its own window; it is kept a while longer for stragglers
const CLAIM_TTL_MS = 3_600_000;
const NOT_STARTED = 'not started, the attempt window was ending';

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
    @Optional() private readonly mail?: MailSender,
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
    const done = (sent: { sent?: AlertChannel[]; sent_to?: string[] }) =>
      stored ? this.recordSent(record, sent) : Promise.resolve();
    for (const channel of record.channels) {
      if (record.sent.includes(channel)) continue;
      if (channel === 'sms' && this.sms) {
        await this.sendSms(this.sms, record, deadline, errors, done);
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

  // One SMS per admin phone not yet reached, each recorded as soon as it went out: a phone that
  // fails leaves the others alone, and the retry sends to it only.
  private async sendSms(
    sms: Sms,
    record: NotificationRecord,
    deadline: number,
    errors: string[],
    done: (sent: { sent?: AlertChannel[]; sent_to?: string[] }) => Promise<void>,
  ): Promise<void> {
    const recipients = sms.recipients;
    const body = smsOf(record);
    record.sent_to ??= [];
    for (const [index, to] of recipients.entries()) {
      const key = `sms:${to}`;
      if (record.sent_to.includes(key)) continue;
      if (Date.now() >= deadline) {
        errors.push(`sms: ${NOT_STARTED}`);
        return;
      }
      try {
        await sms.send(to, body);
      } catch (error) {
        // the phone by its place in ADMIN_PHONES: logs and the store carry no phone number
        errors.push(`sms ${index + 1} of ${recipients.length}: ${failure(error)}`);
        continue;
      }
      record.sent_to.push(key);
      await done({ sent_to: [key] });
    }
    if (recipients.every((to) => record.sent_to?.includes(`sms:${to}`))) {
      record.sent.push('sms');
      await done({ sent: ['sms'] });
    }
  }

  private async recordSent(
    record: NotificationRecord,
    sent: { sent?: AlertChannel[]; sent_to?: string[] },
  ): Promise<void> {
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

  private async sendVia(channel: AlertChannel, record: NotificationRecord): Promise<void> {
    switch (channel) {
      case 'email':
        if (!this.mail) throw new Error('email is not configured');
        return this.mail.send({ subject: subjectOf(record), text: textOf(record) });
      case 'sms':
        throw new Error('sms is not configured');
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

// A channel's failure. The senders fail with codes only (MailSender, SmsSender), never the vendor's
// text, which may name an admin's address or phone: their message is safe to log and store.
function failure(error: unknown): string {
  return error instanceof Error ? error.message.slice(0, 300) : String(error).slice(0, 300);
}
