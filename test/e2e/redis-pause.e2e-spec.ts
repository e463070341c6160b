import { decode } from 'jsonwebtoken';
import { getJson, type SessionBody } from '../helpers/app';
import { testEnv } from '../helpers/env';
import { startAppProcess, type AppProcess, stopInstances } from '../helpers/process';
import { RedisServer } from '../helpers/redis-server';
import { expectEveryEventOnce } from '../helpers/session-frames';
import { uniqueUser, userToken } from '../helpers/tokens';
import { TestClient, type Frame } from '../helpers/ws-client';

// A Redis that keeps its sockets open and answers nothing (SIGSTOP here; a paused host or a network
// cut without a reset in production) holds nobody for ever (docs/protocol.md, "Redis that stops
// answering"): every message sent while it is frozen is answered before it is back (an error to
// retry: the session lock waits for Redis rather than take the store's lock beside instances that
// still lock in Redis), a new socket is told to come back (1013) or connects, readiness says so, and
// once Redis answers the resent messages are acked and the instances share everything again, with
// nothing lost or doubled. Before, every message and every connect waited until Redis answered.
describe('Redis that stops answering (e2e)', () => {
  // how long Redis stays frozen; everything asked meanwhile must be answered before it is back
  const FROZEN_MS = 20_000;
  let redis: RedisServer;
  let first: AppProcess;
  let second: AppProcess;

  beforeAll(async () => {
    redis = await RedisServer.start();
    const env = testEnv({
      REDIS_URL: redis.url,
      LLM_PROVIDERS: JSON.stringify([{ id: 'demo', type: 'demo', delay_ms: 2 }]),
    });
    [first, second] = await Promise.all([startAppProcess(env), startAppProcess(env)]);
  }, 60_000);

  afterAll(async () => {
    await stopInstances([first, second], redis);
  }, 30_000);

  const on = async (server: AppProcess, token: string, timeoutMs = 5_000) => {
    const client = await TestClient.connect(`ws://127.0.0.1:${server.port}/chat/ws?token=${token}`);
    const status = await client.nextOfType('connection_status', timeoutMs);
    return { client, sessionId: status.session_id as string };
  };
  const ready = (server: AppProcess) =>
    fetch(`http://127.0.0.1:${server.port}/chat/readyz`).then((response) => response.status);
  const until = async (check: () => Promise<boolean>, deadline: number) => {
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error('condition not met in time');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const final = (clientId: string) => (frame: Frame) =>
    frame.type === 'ai_response' && frame.metadata?.done === true && frame.client_id === clientId;

  it('should answer every message while Redis is frozen, and lose nothing once it is back', async () => {
    const owner = userToken(uniqueUser());
    const phone = await on(first, owner);
    const laptop = await on(second, owner);
    expect(laptop.sessionId).toBe(phone.sessionId);
    const other = userToken(uniqueUser());
    const elsewhere = await on(second, other);

    redis.signal('SIGSTOP');
    const thawAt = Date.now() + FROZEN_MS;
    const left = () => thawAt - Date.now();
    phone.client.send({ type: 'user_message', content: 'while frozen, phone', client_id: 'frozen-1' });
    elsewhere.client.send({ type: 'user_message', content: 'while frozen, other', client_id: 'frozen-2' });
    const answered = (clientId: string) => (frame: Frame) =>
      frame.client_id === clientId && (frame.type === 'ack' || frame.type === 'error');
    // a new user: connected, or told to come back later; never left waiting
    const newcomer = async () => {
      const client = await TestClient.connect(
        `ws://127.0.0.1:${first.port}/chat/ws?token=${userToken(uniqueUser())}`,
      );
      const frame = await client.next((candidate) => candidate.type !== 'ack', left());
      if (frame.type === 'connection_status') return 'connected';
      expect(frame.error?.recoverable).toBe(false);
      expect(await client.closed).toBe(1013);
      return 'try again';
    };
    const [phoneAnswer, otherAnswer, joined] = await Promise.all([
      phone.client.next(answered('frozen-1'), left()),
      elsewhere.client.next(answered('frozen-2'), left()),
      newcomer(),
      until(async () => (await ready(first)) === 503, thawAt),
    ]);
    expect(Date.now()).toBeLessThan(thawAt);
    for (const answer of [phoneAnswer, otherAnswer])
      if (answer.type === 'error') expect(answer.error?.recoverable).toBe(true);
    expect(['connected', 'try again']).toContain(joined);

    redis.signal('SIGCONT');
    await until(
      async () => (await ready(first)) === 200 && (await ready(second)) === 200,
      Date.now() + 15_000,
    );
    // the clients resend what was not acked (and the acked, which changes nothing)
    phone.client.send({ type: 'user_message', content: 'while frozen, phone', client_id: 'frozen-1' });
    elsewhere.client.send({ type: 'user_message', content: 'while frozen, other', client_id: 'frozen-2' });
    await elsewhere.client.next(final('frozen-2'), 15_000);
    await phone.client.next(final('frozen-1'), 15_000);
    // the instances share again: the phone's next message reaches the laptop on the other instance,
    // and the laptop has every event once and in order
    phone.client.send({ type: 'user_message', content: 'after', client_id: 'after-1' });
    await phone.client.next(final('after-1'), 10_000);
    await laptop.client.next(final('after-1'), 10_000);
    expectEveryEventOnce(laptop.client, 1, 4);

    const stored = await getJson<SessionBody>(
      `http://127.0.0.1:${second.port}/chat/sessions/${phone.sessionId}`,
      owner,
    );
    const userMessages = stored.messages.filter((message) => message.sender === 'user');
    expect(userMessages.map((message) => message.client_id)).toEqual(['frozen-1', 'after-1']);
    expect(stored.messages.map((message) => message.seq)).toEqual([1, 2, 3, 4]);
  }, 90_000);

  // Found by a black-box timers audit: a refresh sent 993 ms before the token's expiry waited for its
  // rate check in the frozen Redis (2 s), the expiry timer fired meanwhile, and the socket got
  // "Token expired." and 4401. A refresh received before the expiry decides the socket's fate
  // (docs/protocol.md, "Frames").
  it('should take an auth_refresh sent a second before expiry while Redis is frozen', async () => {
    const userId = uniqueUser();
    const token = userToken(userId, { expiresInSeconds: 4 });
    const expiresAt = (decode(token) as { exp: number }).exp;
    const { client } = await on(first, token);
    while (Date.now() < expiresAt * 1000 - 1000) await new Promise((resolve) => setTimeout(resolve, 20));
    redis.signal('SIGSTOP');
    try {
      client.send({ type: 'auth_refresh', content: userToken(userId), client_id: 'refresh' });
      const answer = await client.next(
        (frame) => frame.client_id === 'refresh' || frame.type === 'error',
        FROZEN_MS,
      );
      expect(answer.error).toBeUndefined();
      expect(answer).toMatchObject({ type: 'ack', client_id: 'refresh' });
      // well past the old token's expiry, and the socket is open
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(client.closeCode).toBeUndefined();
    } finally {
      redis.signal('SIGCONT');
    }
    client.send({ type: 'user_message', content: 'after the refresh', client_id: 'r1' });
    await client.next(final('r1'), 15_000);
    expect(client.closeCode).toBeUndefined();
    await client.close();
  }, 60_000);
});
