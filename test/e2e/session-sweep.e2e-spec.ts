import { authHeaders, getJson, startApp, type RunningApp, type SessionBody } from '../helpers/app';
import { testEnv } from '../helpers/env';
import { startAppProcess, type AppProcess, stopInstances } from '../helpers/process';
import { RedisServer } from '../helpers/redis-server';
import { adminToken, uniqueUser, userToken } from '../helpers/tokens';
import { sessionSocket, type Frame } from '../helpers/ws-client';
import { SessionsRepository } from '../../src/modules/sessions/sessions.repository';

// A session with a socket open on any instance is never ended by the idle sweep, whatever valid
// RECONNECT_TIMEOUT and SESSION_SWEEP_INTERVAL are given (docs/protocol.md, "Idle sessions"). Found
// by a black-box timers audit: with RECONNECT_TIMEOUT=2s and SESSION_SWEEP_INTERVAL=3s, the instance
// holding the socket touched its session once a sweep (every 3 s), and the other instance's sweep
// ended it while the user was connected; the user's next message was stored into the ended session.
describe('the idle sweep and a session in use on another instance (e2e)', () => {
  let redis: RedisServer;
  let holder: AppProcess;
  let sweeper: AppProcess;

  beforeAll(async () => {
    redis = await RedisServer.start();
    const env = testEnv({
      REDIS_URL: redis.url,
      RECONNECT_TIMEOUT: '2s',
      LLM_PROVIDERS: JSON.stringify([{ id: 'demo', type: 'demo', delay_ms: 2 }]),
    });
    // the socket's instance sweeps every 3 s (the audited pair); the other sweeps every second, so
    // that its sweep finds any moment the session looks idle (two 3 s timers meet at a fixed phase)
    [holder, sweeper] = await Promise.all([
      startAppProcess({ ...env, SESSION_SWEEP_INTERVAL: '3s' }),
      startAppProcess({ ...env, SESSION_SWEEP_INTERVAL: '1s' }),
    ]);
  }, 60_000);

  afterAll(async () => {
    await stopInstances([holder, sweeper], redis);
  }, 30_000);

  const final = (clientId: string) => (frame: Frame) =>
    frame.type === 'ai_response' && frame.metadata?.done === true && frame.client_id === clientId;

  it('should keep the session of a socket idle on one instance active through the other instance’s sweeps', async () => {
    const token = userToken(uniqueUser());
    const { client, sessionId } = await sessionSocket(holder.port, token);
    client.send({ type: 'user_message', content: 'hello', client_id: 'h1' });
    await client.next(final('h1'), 10_000);
    const seen = client.frames.length;

    // idle, the socket open: three times the reconnect timeout, eight of the other instance's sweeps
    await new Promise((resolve) => setTimeout(resolve, 8_000));
    const session = await getJson<SessionBody>(
      `http://127.0.0.1:${sweeper.port}/chat/sessions/${sessionId}`,
      token,
    );
    expect(session.is_active).toBe(true);
    // nothing happened to the socket meanwhile (no move, no error)
    expect(client.frames.slice(seen).map((frame) => frame.type)).toEqual([]);

    client.send({ type: 'user_message', content: 'still here', client_id: 'h2' });
    expect(await client.next(final('h2'), 10_000)).toMatchObject({ session_id: sessionId });
    client.send({ type: 'help_request', content: 'I need a person', client_id: 'help1' });
    const help = await client.next(
      (frame) => frame.type === 'system_message' && frame.client_id === 'help1',
      10_000,
    );
    expect(help.metadata?.help).toBe('notified');
    const takeover = await fetch(
      `http://127.0.0.1:${sweeper.port}/chat/admin/sessions/${sessionId}/takeover`,
      {
        method: 'POST',
        headers: authHeaders(adminToken(uniqueUser('admin'))),
      },
    );
    expect(takeover.ok).toBe(true);
    const after = await getJson<SessionBody>(
      `http://127.0.0.1:${holder.port}/chat/sessions/${sessionId}`,
      token,
    );
    expect(after.is_active).toBe(true);
    await client.close();
  }, 40_000);
});

// A session that ends anyway while a device of its user is bound to it (a tool writing to the store,
// a store restored from a backup, an instance stalled past the keep-alive): the devices go on as
// their own reconnect would take them, never left in an ended session (docs/protocol.md, "Idle
// sessions"). Before, nothing told the socket: its messages were stored into the ended session.
describe('a session ended under its socket (e2e)', () => {
  let server: RunningApp;
  let sessions: SessionsRepository;

  beforeAll(async () => {
    server = await startApp({ RECONNECT_TIMEOUT: '2s', SESSION_SWEEP_INTERVAL: '3s' });
    sessions = server.app.get(SessionsRepository);
  }, 30_000);
  afterAll(() => server.close());

  const final = (clientId: string) => (frame: Frame) =>
    frame.type === 'ai_response' && frame.metadata?.done === true && frame.client_id === clientId;
  const stored = (sessionId: string, token: string) =>
    getJson<SessionBody>(`${server.httpUrl}/chat/sessions/${sessionId}`, token);
  const until = async (check: () => Promise<boolean>, timeoutMs = 5_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error('condition not met in time');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };

  it('should bring the session back for the socket when its user has no other', async () => {
    const token = userToken(uniqueUser());
    const { client, sessionId } = await sessionSocket(Number(new URL(server.httpUrl).port), token);
    client.send({ type: 'user_message', content: 'hello', client_id: 'e1' });
    await client.next(final('e1'), 10_000);
    expect(await sessions.end(sessionId, new Date())).toBeDefined();

    await until(async () => (await stored(sessionId, token)).is_active);
    client.send({ type: 'help_request', content: 'a person, please', client_id: 'help1' });
    const help = await client.next(
      (frame) => frame.type === 'system_message' && frame.client_id === 'help1',
      10_000,
    );
    expect(help).toMatchObject({ session_id: sessionId, metadata: { help: 'notified' } });
    client.send({ type: 'user_message', content: 'still here', client_id: 'e2' });
    expect(await client.next(final('e2'), 10_000)).toMatchObject({ session_id: sessionId });
    expect(client.frames.filter((frame) => frame.type === 'connection_status')).toHaveLength(1);
    await client.close();
  }, 30_000);

  it('should move the socket to the session its user has active now', async () => {
    const token = userToken(uniqueUser());
    const port = Number(new URL(server.httpUrl).port);
    const phone = await sessionSocket(port, token);
    expect(await sessions.end(phone.sessionId, new Date())).toBeDefined();
    // another device opens a chat: the ended session is not its user's any more, a new one is
    const laptop = await sessionSocket(port, token);
    expect(laptop.sessionId).not.toBe(phone.sessionId);

    const moved = await phone.client.next(
      (frame) => frame.type === 'connection_status' && frame.session_id === laptop.sessionId,
      5_000,
    );
    expect(moved.metadata?.restored).toBe(true);
    expect((await stored(phone.sessionId, token)).is_active).toBe(false);
    phone.client.send({ type: 'user_message', content: 'on the phone', client_id: 'p1' });
    expect(await phone.client.next(final('p1'), 10_000)).toMatchObject({ session_id: laptop.sessionId });
    await Promise.all([phone.client.close(), laptop.client.close()]);
  }, 30_000);
});
