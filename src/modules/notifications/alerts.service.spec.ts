import { loadNotificationSettings } from '../../config/notifications.settings';
import type { Settings } from '../../config/settings';
import type { MailSender } from '../../infra/mail/mail.sender';
import type { Sms } from '../../infra/sms/sms';
import { AlertLimiter } from './alert-limiter';
import type { NotificationRecord } from './alert.types';
import { AlertsService } from './alerts.service';
import { DeliveryService } from './delivery.service';
import type { NotificationsRepository } from './notifications.repository';

// An in-memory stand-in for the repository, with a switch that makes every call fail (MongoDB away).
class MemoryRepository {
  readonly records = new Map<string, NotificationRecord>();
  readonly marks = new Set<string>();
  down = false;

  private check(): void {
    if (this.down) throw new Error('MongoNetworkError: connection refused');
  }
  insert(record: NotificationRecord) {
    this.check();
    this.records.set(record.id, structuredClone(record));
    return Promise.resolve();
  }
  saveDelivery(record: NotificationRecord) {
    this.check();
    this.records.set(record.id, structuredClone(record));
    return Promise.resolve();
  }
  mark(key: string) {
    this.check();
    if (this.marks.has(key)) return Promise.resolve(false);
    this.marks.add(key);
    return Promise.resolve(true);
  }
  due(now: Date) {
    this.check();
    return Promise.resolve(
      [...this.records.values()].filter(
        (record) =>
          record.status === 'pending' && record.next_attempt_at !== null && record.next_attempt_at <= now,
      ),
    );
  }
  takeSuppressed(digestId: string) {
    const taken = [...this.records.values()].filter(
      (record) => record.status === 'suppressed' && !record.digest_id,
    );
    for (const record of taken) Object.assign(record, { status: 'digested', digest_id: digestId });
    return Promise.resolve(taken);
  }
  purgeMarks() {
    return Promise.resolve();
  }
}

function settingsWith(env: Record<string, string> = {}): Settings {
  return {
    publicBaseUrl: 'https://chat.example.com',
    notifications: loadNotificationSettings({ ALERT_RETRY_BASE: '10ms', ALERT_RETRY_ATTEMPTS: '3', ...env }),
  } as Settings;
}

function build(
  options: { env?: Record<string, string>; mail?: Partial<MailSender>; sms?: Partial<Sms> } = {},
) {
  const repository = new MemoryRepository();
  const settings = settingsWith(options.env);
  const repo = repository as unknown as NotificationsRepository;
  const delivery = new DeliveryService(repo, settings, options.mail as MailSender, options.sms as Sms);
  const alerts = new AlertsService(new AlertLimiter(repo, settings), delivery, repo, settings);
  return { repository, delivery, alerts };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe(AlertsService.name, () => {
  it('should send to the log channel when neither email nor SMS is configured', async () => {
    const { alerts, repository } = build();
    const record = await alerts.raise({ type: 'crash', details: 'instance x stopped' });
    expect(record).toMatchObject({ channels: ['log'], status: 'sent', sent: ['log'], attempts: 1 });
    expect(repository.records.get(record?.id as string)?.status).toBe('sent');
  });

  it('should send to the channels of the rule that are configured', async () => {
    const mail = { send: jest.fn().mockResolvedValue(undefined) };
    const { alerts } = build({ mail, env: { ALERT_RULES: 'llm_failure:email,sms' } });
    const record = await alerts.raise({
      type: 'llm_failure',
      userId: 'u1',
      sessionId: 's1',
      details: 'timeout',
    });
    expect(record?.channels).toEqual(['email']);
    expect(mail.send).toHaveBeenCalledWith({
      subject: '[chatbox] LLM failure (session s1)',
      text: expect.stringContaining('Link: https://chat.example.com/admin/?session=s1'),
    });
  });

  it('should hold back alerts past the per-type limit and the per-session window, then digest them once', async () => {
    const { alerts } = build({ env: { ALERT_LIMIT_PER_TYPE: '2' } });
    const outcomes = [];
    for (let k = 0; k < 4; k++)
      outcomes.push((await alerts.raise({ type: 'llm_failure', sessionId: `s${k}` }))?.status);
    outcomes.push((await alerts.raise({ type: 'help_request', sessionId: 'same' }))?.status);
    outcomes.push((await alerts.raise({ type: 'help_request', sessionId: 'same' }))?.status);
    expect(outcomes).toEqual(['sent', 'sent', 'suppressed', 'suppressed', 'sent', 'suppressed']);
    const digest = await alerts.digest();
    expect(digest).toMatchObject({
      kind: 'digest',
      summary: { llm_failure: 2, help_request: 1 },
      status: 'sent',
    });
    expect(await alerts.digest(new Date(Date.now() + 600_000 * 2))).toBeUndefined();
  });

  it('should retry a failing channel with backoff, keep what was sent, and give up after the attempts', async () => {
    const mail = { send: jest.fn().mockRejectedValue(new Error('451 busy')) };
    const sms = { send: jest.fn().mockResolvedValue(undefined) };
    const { alerts, delivery, repository } = build({ mail, sms });
    const record = (await alerts.raise({
      type: 'help_request',
      sessionId: 's',
      userId: 'u',
    })) as NotificationRecord;
    expect(record).toMatchObject({ status: 'pending', sent: ['sms'], attempts: 1 });
    expect(record.last_error).toContain('451 busy');
    for (let round = 0; round < 10 && repository.records.get(record.id)?.status === 'pending'; round++) {
      await sleep(60);
      await delivery.tick();
    }
    expect(repository.records.get(record.id)).toMatchObject({ status: 'failed', attempts: 3, sent: ['sms'] });
    expect(mail.send).toHaveBeenCalledTimes(3);
    expect(sms.send).toHaveBeenCalledTimes(1);
  });

  it('should keep an alert in memory while MongoDB is away, still send it, and store it once it is back', async () => {
    const { alerts, delivery, repository } = build();
    repository.down = true;
    const record = await alerts.raise({ type: 'database_failure', details: 'no answer' });
    expect(record).toMatchObject({ status: 'sent', sent: ['log'] });
    expect(delivery.waiting).toBe(1);
    await delivery.tick();
    expect(delivery.waiting).toBe(1);
    repository.down = false;
    await delivery.tick();
    expect(delivery.waiting).toBe(0);
    expect(repository.records.get(record?.id as string)?.status).toBe('sent');
  });

  it('should never throw from raise, even when everything fails', async () => {
    const { alerts } = build();
    const broken = alerts as unknown as { delivery: { store: () => Promise<void> } };
    broken.delivery.store = () => Promise.reject(new Error('boom'));
    await expect(alerts.raise({ type: 'crash' })).resolves.toBeUndefined();
  });
});
