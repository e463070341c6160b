import { startApp, type RunningApp } from '../helpers/app';
import { adminToken, uniqueUser, userToken } from '../helpers/tokens';
import { TestClient } from '../helpers/ws-client';

// The handoff to a human has no gap: the admin's socket is bound to the session (and caught up from
// before its admin_join) before the user can see admin_join, so what the user sends the instant
// they see it reaches the admin live. Errors about another session name that session.
describe('takeover handoff (e2e)', () => {
  let server: RunningApp;

  beforeAll(async () => {
    server = await startApp({ RATE_LIMIT_MESSAGES_PER_SECOND: '50' });
  });
  afterAll(() => server.close());

  it('should deliver to the admin, live, a message the user sends the instant admin_join arrives', async () => {
    for (let round = 0; round < 5; round++) {
      const user = await TestClient.connect(`${server.wsUrl}?token=${userToken(uniqueUser())}`);
      const sessionId = (await user.nextOfType('connection_status')).session_id as string;
      const admin = await TestClient.connect(`${server.wsUrl}?token=${adminToken(uniqueUser('admin'))}`);
      await admin.nextOfType('connection_status');
      // a fast client: it answers admin_join from inside the frame handler
      const clientId = `right-after-${round}`;
      user.socket.on('message', (data) => {
        if (data.toString().includes('"type":"admin_join"'))
          user.send({ type: 'user_message', client_id: clientId, content: 'are you there?' });
      });
      admin.send({ type: 'admin_join', session_id: sessionId, client_id: 'join' });
      const seen = await admin.next(
        (frame) => frame.type === 'user_message' && frame.client_id === clientId,
        3000,
      );
      expect(seen).toMatchObject({ session_id: sessionId, sender: 'user', content: 'are you there?' });
      await Promise.all([user.close(), admin.close()]);
    }
  });

  it('should name the target session in an error about another session', async () => {
    const user = await TestClient.connect(`${server.wsUrl}?token=${userToken(uniqueUser())}`);
    const sessionId = (await user.nextOfType('connection_status')).session_id as string;
    const first = await TestClient.connect(
      `${server.wsUrl}?token=${adminToken(uniqueUser('admin'), 'First')}`,
    );
    const own = (await first.nextOfType('connection_status')).session_id;
    first.send({ type: 'admin_join', session_id: sessionId, client_id: 'join' });
    await first.next((frame) => frame.type === 'ack' && frame.client_id === 'join');
    const second = await TestClient.connect(
      `${server.wsUrl}?token=${adminToken(uniqueUser('admin'), 'Second')}`,
    );
    const secondOwn = (await second.nextOfType('connection_status')).session_id;
    second.send({ type: 'admin_join', session_id: sessionId, client_id: 'late' });
    const error = await second.nextOfType('error');
    expect(error).toMatchObject({
      client_id: 'late',
      session_id: sessionId,
      error: { code: 'SESSION_LOCKED' },
    });
    expect(error.session_id).not.toBe(secondOwn);
    expect(own).not.toBe(sessionId);
    await Promise.all([user.close(), first.close(), second.close()]);
  });
});
