import { NotificationsRepository } from '../../src/modules/notifications/notifications.repository';
import { RecordService } from '../../src/modules/replies/record.service';
import { SessionsService } from '../../src/modules/sessions/sessions.service';
import { authHeaders, getJson, startApp, type RunningApp, type SessionBody } from '../helpers/app';
import { adminToken, uniqueUser, userToken } from '../helpers/tokens';
import { TestClient } from '../helpers/ws-client';
import { SmtpSink } from '../fakes/smtp-sink';

const DIGEST_MS = 1_500;

type HelpState = SessionBody & { help_requested: boolean; help_pending: boolean };

// A help request's life beyond the happy path (docs/protocol.md, "Help requests"): a resend after the
// instance that stored it died, a request while a takeover is lapsing, a session that ends while
// help waits, and a user who asks again and again. Admins are alerted by real SMTP (smtp-server).
describe('help request lifecycle (e2e)', () => {
  jest.setTimeout(60_000);
  let server: RunningApp;
  let smtp: SmtpSink;

  beforeAll(async () => {
    smtp = await SmtpSink.start();
    server = await startApp({
      SMTP_URL: smtp.url,
      MAIL_FROM: 'chatbox@alerts.example',
      ADMIN_EMAILS: 'ops@example.com',
      PUBLIC_BASE_URL: 'https://chat.example.com',
      ALERT_RETRY_BASE: '200ms',
      ALERT_DIGEST_INTERVAL: `${DIGEST_MS}ms`,
      TAKEOVER_GRACE: '1s',
      RATE_LIMIT_MESSAGES_PER_SECOND: '1000',
    });
  });
  afterAll(async () => {
    await server.close();
    await smtp.close();
  });

  const notifications = () => server.app.get(NotificationsRepository);
  // every mail that names the session: its own alert, or a digest listing it
  const mailsAbout = (sessionId: string) => smtp.mails.filter((mail) => mail.text.includes(sessionId));
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  async function connectUser() {
    const userId = uniqueUser();
    const token = userToken(userId);
    const client = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    const sessionId = (await client.nextOfType('connection_status')).session_id as string;
    return { userId, token, client, sessionId };
  }

  const detail = (sessionId: string, token: string) =>
    getJson<HelpState>(`${server.httpUrl}/chat/sessions/${sessionId}`, token);

  async function adminRow(sessionId: string) {
    const page = await getJson<{
      items: Array<{ id: string; help_requested: boolean; help_pending: boolean }>;
    }>(
      `${server.httpUrl}/chat/admin/sessions?help_requested=true&limit=100`,
      adminToken(uniqueUser('admin')),
    );
    return page.items.find((item) => item.id === sessionId);
  }

  // The audit's item 1: the instance stored the request and died before it marked the session or
  // raised the alert; the client, never acked, resends the same client_id to another instance.
  it('should alert once when a stored help request is resent after its instance died', async () => {
    const { userId, token, client, sessionId } = await connectUser();
    // the dead instance's only write: the help request itself
    await server.app.get(RecordService).record({
      sessionId,
      owner: userId,
      message: {
        type: 'help_request',
        sender: 'user',
        client_id: 'lost',
        content: 'Nobody came',
        metadata: { help_requested: true },
      },
      effects: { countsAsMessage: false },
    });
    client.send({ type: 'help_request', client_id: 'lost', content: 'Nobody came' });
    const ack = await client.next((frame) => frame.type === 'ack' && frame.client_id === 'lost');
    expect(ack).toMatchObject({ seq: 1, metadata: { help_requested: true } });
    const answer = await client.nextOfType('system_message');
    expect(answer).toMatchObject({ seq: 2, client_id: 'lost', metadata: { help: 'notified' } });
    const mail = await smtp.next((candidate) => candidate.text.includes(`Session: ${sessionId}`));
    expect(mail.text).toContain('Reason: Nobody came');
    expect((await detail(sessionId, token)).help_pending).toBe(true);

    // and again: every step is taken once, whoever takes it and however often it is resent
    client.send({ type: 'help_request', client_id: 'lost', content: 'Nobody came' });
    expect(await client.next((frame) => frame.type === 'ack' && frame.client_id === 'lost')).toMatchObject({
      seq: 1,
    });
    await pause(DIGEST_MS * 2);
    expect(mailsAbout(sessionId)).toHaveLength(1);
    expect(await notifications().find({ sessionId })).toHaveLength(1);
    const stored = await detail(sessionId, token);
    expect(stored.messages.map((message) => [message.seq, message.type, message.client_id])).toEqual([
      [1, 'help_request', 'lost'],
      [2, 'system_message', 'lost'],
    ]);
    await client.close();
  });

  // The audit's item 2: the admin closed the tab; for TAKEOVER_GRACE the session still names them,
  // and a help request then was answered "already in this chat". Once the lease lapses nobody is
  // there: the request waits, and admins are told.
  it('should alert the admins when the takeover a help request was answered by lapses', async () => {
    const { token, client, sessionId } = await connectUser();
    const admin = await TestClient.connect(
      `${server.wsUrl}?token=${adminToken(uniqueUser('admin'), 'Gone')}`,
    );
    await admin.nextOfType('connection_status');
    admin.send({ type: 'admin_join', session_id: sessionId, client_id: 'join' });
    await admin.next((frame) => frame.type === 'ack' && frame.client_id === 'join');
    await client.nextOfType('admin_join');
    admin.socket.terminate();

    client.send({ type: 'help_request', client_id: 'anyone', content: 'Are you there?' });
    await client.next((frame) => frame.type === 'ack' && frame.client_id === 'anyone');
    expect(await client.nextOfType('system_message')).toMatchObject({ metadata: { help: 'assisted' } });
    expect(mailsAbout(sessionId)).toEqual([]);

    await client.nextOfType('admin_leave', 10_000);
    const mail = await smtp.next((candidate) => candidate.text.includes(`Session: ${sessionId}`));
    expect(mail.subject).toBe(`[chatbox] Help requested (session ${sessionId})`);
    expect(mail.text).toContain('Reason: Are you there?');
    expect((await detail(sessionId, token)).help_pending).toBe(true);
    expect((await adminRow(sessionId))?.help_pending).toBe(true);
    await pause(DIGEST_MS * 2);
    expect(mailsAbout(sessionId)).toHaveLength(1);
    await client.close();
  });

  // The audit's item 3: the user asked for help, then started a new chat (or deleted the chat).
  it.each(['new_session', 'delete'] as const)(
    'should not leave help pending on a session that ended by %s',
    async (ending) => {
      const { token, client, sessionId } = await connectUser();
      client.send({ type: 'help_request', client_id: 'help' });
      await client.next((frame) => frame.type === 'ack' && frame.client_id === 'help');
      expect((await adminRow(sessionId))?.help_pending).toBe(true);
      if (ending === 'new_session') {
        client.send({ type: 'new_session', client_id: 'new' });
        await client.next((frame) => frame.type === 'ack' && frame.client_id === 'new');
      } else {
        const response = await fetch(`${server.httpUrl}/chat/sessions/${sessionId}`, {
          method: 'DELETE',
          headers: authHeaders(token),
        });
        expect(response.ok).toBe(true);
      }
      expect(await adminRow(sessionId)).toMatchObject({ help_requested: true, help_pending: false });
      if (ending === 'new_session') expect((await detail(sessionId, token)).help_pending).toBe(false);
      await client.close();
    },
  );

  // The audit's item 4: each repeat was stored with its answer and raised an alert of its own (held
  // for a digest of the oldest 1000 first), so one user asking again and again held back everyone's.
  it('should store and alert a help request once while it waits, however often it is sent', async () => {
    const { token, client, sessionId } = await connectUser();
    for (let index = 0; index < 20; index++)
      client.send({ type: 'help_request', client_id: `h${index}`, content: `please ${index}` });
    const acks = [];
    for (let index = 0; index < 20; index++)
      acks.push(await client.next((frame) => frame.type === 'ack' && frame.client_id === `h${index}`));
    expect(acks[0]).toMatchObject({ seq: 1, metadata: { help_requested: true } });
    // the repeats are answered, and told that help was requested already; nothing of theirs is stored
    // (no id; their seq is where the socket stands, as on every session frame: CONTRACT §2)
    for (const ack of acks.slice(1)) {
      expect(ack.metadata).toEqual({ help_requested: true, already_requested: true });
      expect(ack.id).toBeUndefined();
      expect(ack.seq).toBeLessThanOrEqual(2);
    }
    await smtp.next((candidate) => candidate.text.includes(`Session: ${sessionId}`));
    await pause(DIGEST_MS * 2);
    expect(mailsAbout(sessionId)).toHaveLength(1);
    expect(await notifications().find({ sessionId })).toHaveLength(1);
    const stored = await detail(sessionId, token);
    expect(stored.messages.map((message) => [message.type, message.client_id])).toEqual([
      ['help_request', 'h0'],
      ['system_message', 'h0'],
    ]);
    expect(stored.help_pending).toBe(true);
    await client.close();
  });

  // CI read the session right after the ack and found it not yet waiting: the ack went out when the
  // request was stored, before the session was marked. It is sent once the mark is written.
  it('should ack a help request only once the session shows it waiting', async () => {
    const { token, client, sessionId } = await connectUser();
    const sessions = server.app.get(SessionsService);
    const mark = sessions.markHelpRequested.bind(sessions);
    const slow = jest.spyOn(sessions, 'markHelpRequested').mockImplementation(async (...args) => {
      await pause(300);
      return mark(...args);
    });
    try {
      client.send({ type: 'help_request', client_id: 'help', content: 'a person please' });
      await client.next((frame) => frame.type === 'ack' && frame.client_id === 'help');
      expect(await detail(sessionId, token)).toMatchObject({ help_requested: true, help_pending: true });
    } finally {
      slow.mockRestore();
    }
    await client.close();
  });
});
