import { getJson, startApp, type RunningApp, type SessionBody } from '../helpers/app';
import { adminToken, uniqueUser, userToken } from '../helpers/tokens';
import { TestClient } from '../helpers/ws-client';
import { TakeoverRepository } from '../../src/modules/takeover/takeover.repository';

const GRACE_MS = 1_500;

// A takeover's start and end are several writes (the claim, its end, the log's admin_join and
// admin_leave, the session's mirror of who assists); an instance can die between any two. Found by
// the chaos test's takeovers (test/chaos/takeover-chaos.ts): logs with an admin_join while another
// admin held the session, and an admin_leave while nobody did. Here the dead instance's half is
// written straight to the claims, and the log must still show one admin at a time
// (docs/protocol.md, "Takeover handoff").
describe('takeover after an instance died halfway (e2e)', () => {
  jest.setTimeout(60_000);
  let server: RunningApp;
  let claims: TakeoverRepository;

  beforeAll(async () => {
    server = await startApp({ TAKEOVER_GRACE: `${GRACE_MS}ms` });
    claims = server.app.get(TakeoverRepository);
  });
  afterAll(() => server.close());

  const connect = async (token: string) => {
    const client = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    const status = await client.nextOfType('connection_status');
    return { client, sessionId: status.session_id as string };
  };
  const join = async (client: TestClient, sessionId: string, clientId: string) => {
    client.send({ type: 'admin_join', session_id: sessionId, client_id: clientId });
    return client.next(
      (frame) => frame.client_id === clientId && (frame.type === 'ack' || frame.type === 'error'),
      10_000,
    );
  };
  // the log's takeover events, as [type, admin]
  const events = async (sessionId: string) => {
    const session = await getJson<SessionBody>(
      `${server.httpUrl}/chat/sessions/${sessionId}`,
      adminToken(uniqueUser('reader')),
    );
    return session.messages
      .filter((message) => message.type === 'admin_join' || message.type === 'admin_leave')
      .map((message) => [message.type, String(message.metadata?.admin_name)]);
  };

  it("should log a takeover's end that its instance stored but died before logging, before the next admin's join", async () => {
    const user = await connect(userToken(uniqueUser()));
    const ada = await connect(adminToken(uniqueUser('admin'), 'Ada'));
    expect((await join(ada.client, user.sessionId, 'join')).type).toBe('ack');
    // Ada's instance stores the end of her takeover, then dies: no admin_leave, no close
    const held = (await claims.latest(user.sessionId))!;
    expect(await claims.insertEnd(held, new Date(), 'released')).toBe(true);
    ada.client.socket.terminate();

    const bob = await connect(adminToken(uniqueUser('admin'), 'Bob'));
    expect((await join(bob.client, user.sessionId, 'join')).type).toBe('ack');
    expect(await events(user.sessionId)).toEqual([
      ['admin_join', 'Ada'],
      ['admin_leave', 'Ada'],
      ['admin_join', 'Bob'],
    ]);
    // Bob speaks there, and the user sees him
    bob.client.send({
      type: 'user_message',
      session_id: user.sessionId,
      client_id: 'b1',
      content: 'Bob here',
    });
    expect(await bob.client.next((frame) => frame.client_id === 'b1' && frame.type === 'ack')).toMatchObject({
      session_id: user.sessionId,
    });
    await Promise.all([user.client.close(), bob.client.close()]);
  });

  it('should log nothing of a takeover whose instance died before its admin_join, neither when it lapses nor after', async () => {
    const user = await connect(userToken(uniqueUser()));
    // a claim stored by an instance that died before it logged the join
    const now = new Date();
    expect(
      await claims.insertClaim(
        user.sessionId,
        1,
        { id: 'ghost', name: 'Ghost' },
        now,
        new Date(now.getTime() + GRACE_MS),
      ),
    ).toBe(true);
    // it lapses (no socket renews it); then another admin takes the session
    const bob = await connect(adminToken(uniqueUser('admin'), 'Bob'));
    const deadline = Date.now() + 10_000;
    let answer = await join(bob.client, user.sessionId, 'join-0');
    for (let round = 1; answer.type !== 'ack' && Date.now() < deadline; round++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      answer = await join(bob.client, user.sessionId, `join-${round}`);
    }
    expect(answer.type).toBe('ack');
    expect(await events(user.sessionId)).toEqual([['admin_join', 'Bob']]);
    // while Bob assists, the user's message goes to him, not to the model
    user.client.send({ type: 'user_message', client_id: 'u1', content: 'hello?' });
    await bob.client.next((frame) => frame.type === 'user_message' && frame.client_id === 'u1');
    await Promise.all([user.client.close(), bob.client.close()]);
  });
});
