import type { NotificationRecord } from './alert.types';
import { NOT_STARTED, type RecipientChannel, type RecordSent, sendToEach } from './recipient-delivery';

function alert(overrides: Partial<NotificationRecord> = {}): NotificationRecord {
  return {
    id: 'a1',
    kind: 'alert',
    type: 'help_request',
    user_id: 'u',
    session_id: 's',
    affected_users: 1,
    details: null,
    reason: null,
    link: null,
    at: new Date(),
    channels: ['email', 'sms'],
    sent: [],
    status: 'pending',
    attempts: 0,
    next_attempt_at: null,
    last_error: null,
    digest_id: null,
    summary: null,
    ...overrides,
  };
}

function channel(
  recipients: string[],
  failing: string[] = [],
  name: RecipientChannel['channel'] = 'email',
): RecipientChannel & { sent: string[] } {
  const sent: string[] = [];
  return {
    channel: name,
    recipients,
    sent,
    send: (to) => {
      if (failing.includes(to)) return Promise.reject(new Error('smtp EENVELOPE 550'));
      sent.push(to);
      return Promise.resolve();
    },
  };
}

// sendToEach: one path for every channel that sends to each admin on its own (email and SMS).
describe(sendToEach.name, () => {
  const never = Number.POSITIVE_INFINITY;
  let recorded: Array<Parameters<RecordSent>[0]>;
  const done: RecordSent = (sent) => {
    recorded.push(sent);
    return Promise.resolve();
  };
  beforeEach(() => {
    recorded = [];
  });

  it('should send each admin once, record each as it went out, then the channel', async () => {
    const record = alert();
    const mail = channel(['a@example.com', 'b@example.com']);
    const errors: string[] = [];
    await sendToEach(mail, record, never, errors, done);
    expect(mail.sent).toEqual(['a@example.com', 'b@example.com']);
    expect(errors).toEqual([]);
    expect(record).toMatchObject({
      sent: ['email'],
      sent_to: ['email:a@example.com', 'email:b@example.com'],
    });
    expect(recorded).toEqual([
      { sent_to: ['email:a@example.com'] },
      { sent_to: ['email:b@example.com'] },
      { sent: ['email'] },
    ]);
  });

  it('should name a failing admin by place, go on with the others, and retry only the one that failed', async () => {
    const record = alert();
    const errors: string[] = [];
    await sendToEach(
      channel(['a@example.com', 'b@example.com', 'c@example.com'], ['b@example.com']),
      record,
      never,
      errors,
      done,
    );
    expect(errors).toEqual(['email 2 of 3: smtp EENVELOPE 550']);
    expect(record.sent).toEqual([]);
    expect(record.sent_to).toEqual(['email:a@example.com', 'email:c@example.com']);
    const retry = channel(['a@example.com', 'b@example.com', 'c@example.com']);
    await sendToEach(retry, record, never, [], done);
    expect(retry.sent).toEqual(['b@example.com']);
    expect(record.sent).toEqual(['email']);
  });

  it('should keep channels apart: a phone reached is no address reached', async () => {
    const record = alert({ sent_to: ['sms:+15550002222'] });
    const mail = channel(['a@example.com']);
    const sms = channel(['+15550002222', '+15550003333'], [], 'sms');
    await sendToEach(mail, record, never, [], done);
    await sendToEach(sms, record, never, [], done);
    expect(mail.sent).toEqual(['a@example.com']);
    expect(sms.sent).toEqual(['+15550003333']);
    expect(record.sent).toEqual(['email', 'sms']);
  });

  // alerts stored before `sent_to` have none; an address listed twice in ADMIN_EMAILS gets one
  it('should start a missing list, and send an admin listed twice once', async () => {
    const record = alert();
    delete record.sent_to;
    const mail = channel(['a@example.com', 'a@example.com']);
    await sendToEach(mail, record, never, [], done);
    expect(mail.sent).toEqual(['a@example.com']);
    expect(record).toMatchObject({ sent: ['email'], sent_to: ['email:a@example.com'] });
  });

  it('should start no send after the deadline and leave the channel to the next attempt', async () => {
    const record = alert();
    const mail = channel(['a@example.com']);
    const errors: string[] = [];
    await sendToEach(mail, record, Date.now() - 1, errors, done);
    expect(mail.sent).toEqual([]);
    expect(errors).toEqual([`email: ${NOT_STARTED}`]);
    expect(record.sent).toEqual([]);
    expect(recorded).toEqual([]);
  });
});
