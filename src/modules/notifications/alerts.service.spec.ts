import { loadNotificationSettings } from '../../config/notifications.settings';
import type { Settings } from '../../config/settings';
import type { Sms } from '../../infra/sms/sms';
import type { AdminMail } from './admin-mail';
import { AlertLimiter } from './alert-limiter';
import { MemorySlots } from './alert-slots';
import type { NotificationRecord } from './alert.types';
import { AlertsService } from './alerts.service';
import type { AlertMetrics } from './alert-metrics';
import type { DeliveryTiming } from './delivery-schedule';
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
    const stored = this.records.get(record.id);
    const kept = stored ? { sent: stored.sent, sent_to: stored.sent_to ?? [] } : { sent: [], sent_to: [] };
    this.records.set(record.id, {
      ...structuredClone(record),
      sent: [...new Set([...kept.sent, ...record.sent])],
      sent_to: [...new Set([...kept.sent_to, ...(record.sent_to ?? [])])],
    });
    return Promise.resolve();
  }
  addSent(id: string, sent: { sent?: NotificationRecord['sent']; sent_to?: string[] }) {
    this.check();
    const stored = this.records.get(id);
    if (stored) {
      stored.sent = [...new Set([...stored.sent, ...(sent.sent ?? [])])];
      stored.sent_to = [...new Set([...(stored.sent_to ?? []), ...(sent.sent_to ?? [])])];
    }
    return Promise.resolve();
  }
  get(id: string) {
    this.check();
    const stored = this.records.get(id);
    return Promise.resolve(stored ? structuredClone(stored) : null);
  }
  mark(key: string) {
    this.check();
    if (this.marks.has(key)) return Promise.resolve(false);
    this.marks.add(key);
    return Promise.resolve(true);
  }
  readonly slots = new MemorySlots();
  slotClaims(group: string) {
    this.check();
    return this.slots.slotClaims(group);
  }
  claimSlot(claim: Parameters<MemorySlots['claimSlot']>[0]) {
    this.check();
    return this.slots.claimSlot(claim);
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
  options: {
    env?: Record<string, string>;
    mail?: Partial<AdminMail>;
    sms?: Partial<Sms>;
    timing?: DeliveryTiming;
  } = {},
) {
  const repository = new MemoryRepository();
  const settings = settingsWith(options.env);
  const repo = repository as unknown as NotificationsRepository;
  const metrics = { failed: jest.fn() };
  const delivery = new DeliveryService(
    repo,
    settings,
    options.mail as AdminMail,
    options.sms as Sms,
    metrics as unknown as AlertMetrics,
    options.timing,
  );
  const alerts = new AlertsService(new AlertLimiter(repo, settings), delivery, repo, settings);
  return { repository, delivery, alerts, metrics };
}

// Runs the retry loop (as the timer would) until the alert is no longer pending.
async function settle(
  { delivery, repository }: ReturnType<typeof build>,
  id: string,
  rounds = 10,
  pauseMs = 60,
): Promise<NotificationRecord | undefined> {
  for (let round = 0; round < rounds && repository.records.get(id)?.status === 'pending'; round++) {
    await sleep(pauseMs);
    await delivery.tick();
  }
  return repository.records.get(id);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const OPS = 'ops@example.com';

describe(AlertsService.name, () => {
  it('should send to the log channel when neither email nor SMS is configured', async () => {
    const { alerts, repository } = build();
    const record = await alerts.raise({ type: 'crash', details: 'instance x stopped' });
    expect(record).toMatchObject({ channels: ['log'], status: 'sent', sent: ['log'], attempts: 1 });
    expect(repository.records.get(record?.id as string)?.status).toBe('sent');
  });

  it('should send to the channels of the rule that are configured', async () => {
    const mail = { recipients: [OPS], send: jest.fn().mockResolvedValue(undefined) };
    const { alerts } = build({ mail, env: { ALERT_RULES: 'llm_failure:email,sms' } });
    const record = await alerts.raise({
      type: 'llm_failure',
      userId: 'u1',
      sessionId: 's1',
      details: 'timeout',
    });
    expect(record?.channels).toEqual(['email']);
    expect(mail.send).toHaveBeenCalledWith(OPS, {
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

  // ALERT_RETRY_FOR 0: no time window, the attempts alone decide
  it('should retry a failing channel with backoff, keep what was sent, and give up after the attempts', async () => {
    const mail = { recipients: [OPS], send: jest.fn().mockRejectedValue(new Error('451 busy')) };
    const sms = { recipients: ['+15550002222'], send: jest.fn().mockResolvedValue(undefined) };
    const { alerts, delivery, repository } = build({ mail, sms, env: { ALERT_RETRY_FOR: '0ms' } });
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

  // Six attempts from a 5 s base were over in minutes: an SMTP or Twilio outage of a few minutes
  // dropped the alert for good.
  it('should go on retrying past ALERT_RETRY_ATTEMPTS until ALERT_RETRY_FOR is over, then give up and count it', async () => {
    const mail = { recipients: [OPS], send: jest.fn().mockRejectedValue(new Error('451 busy')) };
    const built = build({
      mail,
      env: { ALERT_RETRY_ATTEMPTS: '2', ALERT_RETRY_MAX: '20ms', ALERT_RETRY_FOR: '800ms' },
    });
    const record = (await built.alerts.raise({ type: 'llm_failure', sessionId: 's' })) as NotificationRecord;
    expect(record.channels).toEqual(['email']);
    await sleep(200);
    await built.delivery.tick();
    expect(built.repository.records.get(record.id)?.status).toBe('pending');
    expect(built.metrics.failed).not.toHaveBeenCalled();
    const settled = await settle(built, record.id, 60, 30);
    expect(settled?.status).toBe('failed');
    expect(Date.now() - record.at.getTime()).toBeGreaterThanOrEqual(800);
    expect(settled?.attempts).toBeGreaterThan(2);
    expect(built.metrics.failed).toHaveBeenCalledTimes(1);
    expect(built.metrics.failed).toHaveBeenCalledWith('llm_failure');
  });

  it('should deliver once the channel is back within ALERT_RETRY_FOR, however many attempts it took', async () => {
    let failures = 6;
    const mail = {
      recipients: [OPS],
      send: jest.fn(() => (failures-- > 0 ? Promise.reject(new Error('451 busy')) : Promise.resolve())),
    };
    const built = build({ mail, env: { ALERT_RETRY_ATTEMPTS: '2', ALERT_RETRY_MAX: '20ms' } });
    const record = (await built.alerts.raise({ type: 'llm_failure', sessionId: 's' })) as NotificationRecord;
    const settled = await settle(built, record.id, 40, 30);
    expect(settled).toMatchObject({ status: 'sent', attempts: 7, last_error: null });
    expect(built.metrics.failed).not.toHaveBeenCalled();
  });

  // The loop over the admin phones stopped at the first that failed and the whole channel was
  // retried: the phones before it got the same SMS on every retry. Email was one message to every
  // admin address: one the relay refused was never retried, or a retry sent everyone a copy more.
  it.each([
    {
      channel: 'email' as const,
      admins: ['a@example.com', 'b@example.com', 'c@example.com'],
      error: 'smtp EENVELOPE 550',
    },
    {
      channel: 'sms' as const,
      admins: ['+15550002222', '+15550003333', '+15550004444'],
      error: 'twilio 503 20503',
    },
  ])(
    'should send each admin their $channel once when another admin fails first',
    async ({ channel, admins, error }) => {
      let failures = 2;
      const sender = {
        recipients: admins,
        send: jest.fn((to: string) =>
          to === admins[1] && failures-- > 0 ? Promise.reject(new Error(error)) : Promise.resolve(),
        ),
      };
      const built = build({
        [channel === 'email' ? 'mail' : 'sms']: sender,
        env: { ALERT_RULES: `crash:${channel}` },
      });
      const record = (await built.alerts.raise({ type: 'crash', details: 'x' })) as NotificationRecord;
      expect(record).toMatchObject({
        status: 'pending',
        sent: [],
        last_error: `${channel} 2 of 3: ${error}`,
      });
      expect(record.sent_to?.sort()).toEqual([`${channel}:${admins[0]}`, `${channel}:${admins[2]}`]);
      const settled = await settle(built, record.id);
      expect(settled).toMatchObject({ status: 'sent', sent: [channel], attempts: 3 });
      expect(settled?.sent_to?.sort()).toEqual(admins.map((to) => `${channel}:${to}`).sort());
      const calls = sender.send.mock.calls.map(([to]) => to);
      expect(calls.filter((to) => to === admins[0])).toHaveLength(1);
      expect(calls.filter((to) => to === admins[2])).toHaveLength(1);
      expect(calls.filter((to) => to === admins[1])).toHaveLength(3);
    },
  );

  // A send that started near the end of its attempt's window could still run when the next window
  // opened and another instance took the alert: each would send what the other had not recorded.
  it('should start no send once its attempt window is about to end, and leave it to the next attempt', async () => {
    const mail = { recipients: [OPS], send: jest.fn(() => sleep(500).then(() => undefined)) };
    const sms = { recipients: ['+15550002222'], send: jest.fn().mockResolvedValue(undefined) };
    const built = build({ mail, sms, timing: { windowMs: 1000, sendLimitMs: 600 } });
    const record = (await built.alerts.raise({ type: 'crash', details: 'x' })) as NotificationRecord;
    expect(record).toMatchObject({ status: 'pending', sent: ['email'], attempts: 1 });
    expect(record.last_error).toBe('sms: not started, the attempt window was ending');
    expect(sms.send).not.toHaveBeenCalled();
    const settled = await settle(built, record.id);
    expect(settled).toMatchObject({ status: 'sent', sent: ['email', 'sms'], attempts: 2 });
    expect(mail.send).toHaveBeenCalledTimes(1);
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
