import { getJson, startApp, type RunningApp, type SessionBody } from '../helpers/app';
import { adminToken, uniqueUser, userToken } from '../helpers/tokens';
import { TestClient } from '../helpers/ws-client';

// Issue 15, item 6: read receipts for admin messages ("Seen"), stored on the message, sent to admins.
describe('read receipts (e2e)', () => {
  let server: RunningApp;

  beforeAll(async () => {
    server = await startApp();
  });
  afterAll(() => server.close());

  it('should tell the assisting admin when the user has seen its message, once, and store it', async () => {
    const token = userToken(uniqueUser());
    const user = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    const sessionId = String((await user.nextOfType('connection_status')).session_id);
    user.send({ type: 'user_message', client_id: 'u1', content: 'hello' });
    const userAck = await user.nextOfType('ack');
    await user.reply();

    const admin = await TestClient.connect(
      `${server.wsUrl}?token=${adminToken(uniqueUser('admin'), 'Sam Seen')}`,
    );
    await admin.nextOfType('connection_status');
    admin.send({ type: 'admin_join', session_id: sessionId, client_id: 'join' });
    await admin.next((frame) => frame.type === 'ack' && frame.client_id === 'join');
    admin.send({ type: 'user_message', client_id: 'a1', content: 'Hi, I am here.' });
    const fromAdmin = await user.next((frame) => frame.sender === 'admin' && frame.type === 'user_message');

    user.send({ type: 'read', client_id: 'r1', id: String(fromAdmin.id) });
    const read = await admin.nextOfType('read');
    expect(read).toMatchObject({
      id: fromAdmin.id,
      session_id: sessionId,
      metadata: { seen_at: expect.any(String) },
    });
    await user.next((frame) => frame.type === 'ack' && frame.client_id === 'r1');

    // a second receipt keeps the first time; a message that is not an admin's is refused
    user.send({ type: 'read', client_id: 'r2', id: String(fromAdmin.id) });
    expect((await admin.nextOfType('read')).metadata?.seen_at).toBe(read.metadata?.seen_at);
    user.send({ type: 'read', client_id: 'r3', id: String(userAck.id) });
    expect((await user.nextOfType('error')).error?.code).toBe('NOT_FOUND');
    user.send({ type: 'read', client_id: 'r4' });
    expect((await user.nextOfType('error')).error?.code).toBe('INVALID_MESSAGE');

    const detail = await getJson<SessionBody>(`${server.httpUrl}/chat/sessions/${sessionId}`, token);
    expect(detail.messages.find((message) => message.id === fromAdmin.id)?.metadata?.seen_at).toBe(
      read.metadata?.seen_at,
    );
    // the user's own sockets get no receipts
    expect(user.frames.some((frame) => frame.type === 'read')).toBe(false);
    await admin.close();
    await user.close();
  });
});
