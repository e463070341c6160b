import { getJson, type SessionBody } from '../helpers/app';
import { testEnv } from '../helpers/env';
import { startAppProcess, type AppProcess } from '../helpers/process';
import { RedisServer } from '../helpers/redis-server';
import { expectEveryEventOnce } from '../helpers/session-frames';
import { uniqueUser, userToken } from '../helpers/tokens';
import { TestClient, type Frame } from '../helpers/ws-client';

// A Redis that keeps its sockets open and answers nothing (SIGSTOP here; a paused host or a network
// cut without a reset in production) is a Redis that is away (docs/protocol.md, "Redis that stops
// answering"): messages are acked and answered through the fallbacks while it is frozen, new sockets
// connect, readiness says so, and once it answers again the instances share everything again with
// nothing lost or doubled. Before, every message and every connect waited for Redis to answer.
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
    redis?.signal('SIGCONT');
    for (const server of [first, second]) {
      server?.child.kill('SIGTERM');
      await server?.exited;
    }
    await redis?.kill();
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

  it('should ack and answer through the fallbacks while Redis is frozen, and lose nothing once it is back', async () => {
    const owner = userToken(uniqueUser());
    const phone = await on(first, owner);
    const laptop = await on(second, owner);
    expect(laptop.sessionId).toBe(phone.sessionId);
    const other = userToken(uniqueUser());
    const elsewhere = await on(second, other);

    redis.signal('SIGSTOP');
    const thawAt = Date.now() + FROZEN_MS;
    phone.client.send({ type: 'user_message', content: 'while frozen, phone', client_id: 'frozen-1' });
    elsewhere.client.send({ type: 'user_message', content: 'while frozen, other', client_id: 'frozen-2' });
    const left = () => thawAt - Date.now();
    const during = await Promise.all([
      phone.client.next((frame) => frame.type === 'ack' && frame.client_id === 'frozen-1', left()),
      elsewhere.client.next((frame) => frame.type === 'ack' && frame.client_id === 'frozen-2', left()),
      phone.client.next(final('frozen-1'), left()),
      elsewhere.client.next(final('frozen-2'), left()),
      on(first, userToken(uniqueUser()), left()),
      until(async () => (await ready(first)) === 503, thawAt),
    ]);
    expect(during[0].seq).toBe(1);
    expect(Date.now()).toBeLessThan(thawAt);

    redis.signal('SIGCONT');
    await until(
      async () => (await ready(first)) === 200 && (await ready(second)) === 200,
      Date.now() + 15_000,
    );
    // the instances share again: the phone's next message reaches the laptop on the other instance,
    // and the laptop has caught up on what the bus could not carry while Redis was frozen
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
});
