import { NotificationsRepository } from '../../src/modules/notifications/notifications.repository';
import { getJson, startApp, type RunningApp, type SessionBody } from '../helpers/app';
import { adminToken, uniqueUser, userToken } from '../helpers/tokens';
import { TestClient } from '../helpers/ws-client';
import { type ReceivedMail, SmtpSink } from '../fakes/smtp-sink';
import { TwilioFake } from '../fakes/twilio-fake';

const ACCOUNT_SID = `AC${'0123456789abcdef'.repeat(2)}`;
const AUTH_TOKEN = 'twilio-auth-token-for-tests';

// help_request end to end: stored and answered, then admins alerted by real SMTP (smtp-server) and
// by the twilio SDK against a local server speaking Twilio's Messages API.
describe('help requests and admin alerts (e2e)', () => {
  let server: RunningApp;
  let smtp: SmtpSink;
  let twilio: TwilioFake;

  beforeAll(async () => {
    [smtp, twilio] = await Promise.all([SmtpSink.start(), TwilioFake.start()]);
    server = await startApp({
      SMTP_URL: smtp.url,
      MAIL_FROM: 'chatbox@alerts.example',
      ADMIN_EMAILS: 'ops@example.com, lead@example.com',
      TWILIO_ACCOUNT_SID: ACCOUNT_SID,
      TWILIO_AUTH_TOKEN: AUTH_TOKEN,
      TWILIO_FROM: '+15550001111',
      ADMIN_PHONES: '+15550002222,+15550003333',
      TWILIO_API_URL: twilio.url,
      PUBLIC_BASE_URL: 'https://chat.example.com',
      ALERT_RETRY_BASE: '200ms',
      ALERT_DIGEST_INTERVAL: '1500ms',
    });
  });
  afterAll(async () => {
    await server.close();
    await Promise.all([smtp.close(), twilio.close()]);
  });

  const notifications = () => server.app.get(NotificationsRepository);
  // email goes to each admin address on its own: the first of the matching mails, once both are in
  const toBothAdmins = async (match: (mail: ReceivedMail) => boolean, timeoutMs?: number) => {
    const [first] = await Promise.all(
      ['ops@example.com', 'lead@example.com'].map((admin) =>
        smtp.next((mail) => match(mail) && mail.to.includes(admin), timeoutMs),
      ),
    );
    return first;
  };

  it('should store the request, answer the user, mark the session and alert admins by email and SMS', async () => {
    const userId = uniqueUser();
    const token = userToken(userId);
    const client = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    const sessionId = (await client.nextOfType('connection_status')).session_id as string;
    const other = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    await other.nextOfType('connection_status');

    client.send({ type: 'help_request', client_id: 'h1', content: 'My invoice is wrong' });
    const ack = await client.nextOfType('ack');
    expect(ack).toMatchObject({ client_id: 'h1', seq: 1, metadata: { help_requested: true } });
    const answer = await client.nextOfType('system_message');
    expect(answer).toMatchObject({ sender: 'system', seq: 2, metadata: { help: 'notified' } });
    expect(answer.content).toMatch(/notified/);
    const echoed = await other.nextOfType('help_request');
    expect(echoed).toMatchObject({ content: 'My invoice is wrong', seq: 1, sender: 'user' });

    // one message per admin address, each with its own envelope
    const mail = await toBothAdmins((candidate) => candidate.text.includes(sessionId));
    const mails = smtp.mails.filter((candidate) => candidate.text.includes(sessionId));
    expect(mails.map((candidate) => candidate.to).sort()).toEqual([
      ['lead@example.com'],
      ['ops@example.com'],
    ]);
    expect(mail.from).toBe('chatbox@alerts.example');
    expect(mail.subject).toBe(`[chatbox] Help requested (session ${sessionId})`);
    const link = `https://chat.example.com/admin/?session=${sessionId}`;
    for (const line of [
      'Event: help_request',
      `User: ${userId}`,
      `Session: ${sessionId}`,
      `Link: ${link}`,
      'Affected users: 1',
      'Reason: My invoice is wrong',
    ])
      expect(mail.text).toContain(line);
    expect(mail.text).toMatch(/^Time: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/m);

    const sms = await twilio.waitFor(2);
    expect(sms.map((message) => message.form.To).sort()).toEqual(['+15550002222', '+15550003333']);
    for (const message of sms) {
      expect(message).toMatchObject({ accountSid: ACCOUNT_SID, username: ACCOUNT_SID, password: AUTH_TOKEN });
      expect(message.form.From).toBe('+15550001111');
      expect(message.form.Body).toContain('Help requested');
      expect(message.form.Body).toContain(userId);
      expect(message.form.Body).toContain(link);
    }

    const detail = await getJson<SessionBody & { help_requested: boolean }>(
      `${server.httpUrl}/chat/sessions/${sessionId}`,
      token,
    );
    expect(detail.help_requested).toBe(true);
    expect(detail.messages.map((message) => [message.type, message.sender, message.content])).toEqual([
      ['help_request', 'user', 'My invoice is wrong'],
      ['system_message', 'system', answer.content],
    ]);
    // the record is marked sent after the last channel answered, which may be just after the fakes
    // received their message (the same wait as the retry case below)
    const deadline = Date.now() + 5000;
    let [stored] = await notifications().find({ sessionId });
    while (stored?.status !== 'sent' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      [stored] = await notifications().find({ sessionId });
    }
    expect(stored).toMatchObject({
      type: 'help_request',
      status: 'sent',
      user_id: userId,
      reason: 'My invoice is wrong',
      link,
      attempts: 1,
    });
    expect(stored.sent.sort()).toEqual(['email', 'sms']);
    await Promise.all([client.close(), other.close()]);
  });

  // help_requested and assisting_admin_name stay once set (the session's history); the dashboard
  // tells what is waiting and who assists now by help_pending and takeover_in_progress.
  it('should say whether a help request still waits and whether an admin assists now', async () => {
    const token = userToken(uniqueUser());
    const client = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    const sessionId = (await client.nextOfType('connection_status')).session_id as string;
    const admin = adminToken(uniqueUser('admin'));
    type State = { help_requested: boolean; help_pending: boolean; takeover_in_progress: boolean };
    const state = async () => {
      const detail = await getJson<State>(`${server.httpUrl}/chat/sessions/${sessionId}`, token);
      const page = await getJson<{ items: Array<State & { id: string }> }>(
        `${server.httpUrl}/chat/admin/sessions?help_requested=true&limit=100`,
        admin,
      );
      const row = page.items.find((item) => item.id === sessionId);
      const pick = (value?: State) =>
        value && [value.help_requested, value.help_pending, value.takeover_in_progress];
      return { detail: pick(detail), row: pick(row) };
    };
    client.send({ type: 'help_request', client_id: 'help' });
    await client.next((frame) => frame.type === 'ack' && frame.client_id === 'help');
    expect(await state()).toEqual({ detail: [true, true, false], row: [true, true, false] });
    const adminSocket = await TestClient.connect(`${server.wsUrl}?token=${admin}`);
    await adminSocket.nextOfType('connection_status');
    adminSocket.send({ type: 'admin_join', session_id: sessionId, client_id: 'join' });
    await client.nextOfType('admin_join');
    expect(await state()).toEqual({ detail: [true, false, true], row: [true, false, true] });
    adminSocket.send({ type: 'admin_leave', session_id: sessionId, client_id: 'leave' });
    await client.nextOfType('admin_leave');
    expect(await state()).toEqual({ detail: [true, false, false], row: [true, false, false] });
    await Promise.all([client.close(), adminSocket.close()]);
  });

  // A repeat while the first still waits alerts nobody (docs/protocol.md, "Help requests";
  // test/e2e/help-lifecycle.e2e-spec.ts); one after an admin answered the first waits anew, and its
  // alert is held back by the session's limit.
  it('should hold a repeated request of the same session back and send it in the next digest', async () => {
    const client = await TestClient.connect(`${server.wsUrl}?token=${userToken(uniqueUser())}`);
    const sessionId = (await client.nextOfType('connection_status')).session_id as string;
    client.send({ type: 'help_request', client_id: 'first' });
    await toBothAdmins((mail) => mail.text.includes(`Session: ${sessionId}`));
    const admin = await TestClient.connect(`${server.wsUrl}?token=${adminToken(uniqueUser('admin'))}`);
    await admin.nextOfType('connection_status');
    admin.send({ type: 'admin_join', session_id: sessionId, client_id: 'join' });
    await client.nextOfType('admin_join');
    admin.send({ type: 'admin_leave', session_id: sessionId, client_id: 'leave' });
    await client.nextOfType('admin_leave');
    await admin.close();
    const mailsBefore = smtp.mails.length;
    client.send({ type: 'help_request', client_id: 'second', content: 'still waiting' });
    await client.next((frame) => frame.type === 'ack' && frame.client_id === 'second');
    const digest = await toBothAdmins(
      (mail) => mail.subject.startsWith('[chatbox] Alert digest') && mail.text.includes(sessionId),
    );
    expect(digest.text).toContain('help_request: 1');
    expect(digest.subject).toBe('[chatbox] Alert digest: 1 alert held back');
    // nothing but the digest went out for the repeat
    expect(smtp.mails.slice(mailsBefore).filter((mail) => mail.subject.includes(sessionId))).toEqual([]);
    const stored = await notifications().find({ sessionId });
    expect(stored.map((record) => record.status).sort()).toEqual(['digested', 'sent']);
    await client.close();
  });

  it('should keep the alert stored and retry with backoff while SMTP and Twilio fail', async () => {
    // two attempts' messages to the two admin addresses
    smtp.failNext(4);
    twilio.failNext(1);
    const rejectedBefore = { smtp: smtp.rejected, twilio: twilio.rejected };
    const client = await TestClient.connect(`${server.wsUrl}?token=${userToken(uniqueUser())}`);
    const sessionId = (await client.nextOfType('connection_status')).session_id as string;
    client.send({ type: 'help_request', client_id: 'h' });
    const mail = await toBothAdmins((candidate) => candidate.text.includes(`Session: ${sessionId}`), 15_000);
    expect(mail.subject).toContain('Help requested');
    expect(smtp.rejected - rejectedBefore.smtp).toBe(4);
    expect(twilio.rejected - rejectedBefore.twilio).toBe(1);
    const deadline = Date.now() + 5000;
    let stored = (await notifications().find({ sessionId }))[0];
    while (stored.status !== 'sent' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      stored = (await notifications().find({ sessionId }))[0];
    }
    expect(stored).toMatchObject({ status: 'sent', attempts: 3, last_error: null });
    // SMS went out on the second attempt and was not sent again on the third
    expect(twilio.messages.filter((message) => message.form.Body.includes(sessionId))).toHaveLength(2);
    await client.close();
  });
});
