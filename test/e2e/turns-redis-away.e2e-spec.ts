import { getJson, type SessionBody } from '../helpers/app';
import { uniqueUser, userToken } from '../helpers/tokens';
import { connectTo, startTwoInstances, type TwoInstances } from '../helpers/two-instances';
import type { Frame, TestClient } from '../helpers/ws-client';

// Each acked turn answered once while Redis, where the reply lease lives, is gone for longer than a
// reply waits for it (10 s: docs/protocol.md, "Every acked turn ends", one at a time). A stopped
// Redis closes every connection, so writes go through the store's lock and are acked; a reply then
// runs for its own turn only, and a turn before it open (streaming on the other instance) waits for
// Redis. Before, the second device's turn answered the first device's turn again, 3 of 3 runs.
describe('turns of one session on two instances while Redis is away (e2e)', () => {
  jest.setTimeout(120_000);
  let instances: TwoInstances;

  beforeAll(async () => {
    // a long question: ~120 pieces of 60 ms, a reply of ~7 s
    instances = await startTwoInstances(
      {},
      { LLM_PROVIDERS: JSON.stringify([{ id: 'demo', name: 'Demo', type: 'demo', delay_ms: 60 }]) },
    );
  }, 60_000);
  afterAll(() => instances?.close());
  const ready = async () => {
    for (const app of [instances.first, instances.second])
      while ((await fetch(`${app.httpUrl}/chat/readyz`)).status !== 200)
        await new Promise((resolve) => setTimeout(resolve, 100));
  };
  // both instances back on Redis (the previous test stopped it) before the devices connect
  beforeEach(ready, 30_000);
  afterEach(async () => {
    await instances.redis.kill();
    await instances.redis.restart();
  });

  const long = 'a '.repeat(100);
  const piece = (clientId: string) => (frame: Frame) =>
    frame.type === 'ai_response' && frame.metadata?.done === false && frame.client_id === clientId;
  const done = (clientId: string) => (frame: Frame) =>
    frame.type === 'ai_response' && frame.metadata?.done === true && frame.client_id === clientId;
  const acked = (clientId: string) => (frame: Frame) => frame.type === 'ack' && frame.client_id === clientId;
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  // the stored replies of each user turn (by `metadata.reply_to`), once nothing was stored for 5 s
  // (the turn watch checks every 2 s, a second reply would start within it)
  const repliesPerTurn = async (token: string, sessionId: string): Promise<Record<string, number>> => {
    let last = -1;
    let since = Date.now();
    let session!: SessionBody;
    while (Date.now() - since < 5_000) {
      session = await getJson<SessionBody>(`${instances.first.httpUrl}/chat/sessions/${sessionId}`, token);
      const seq = session.messages.at(-1)?.seq ?? 0;
      if (seq !== last) [last, since] = [seq, Date.now()];
      await pause(200);
    }
    const turnOf = new Map(
      session.messages
        .filter((message) => message.type === 'user_message')
        .map((message) => [message.id, String(message.client_id)]),
    );
    const counts = Object.fromEntries([...turnOf.values()].map((clientId) => [clientId, 0]));
    for (const message of session.messages.filter((message) => message.type === 'ai_response')) {
      const turn = turnOf.get(String(message.metadata?.reply_to));
      if (turn !== undefined) counts[turn]++;
    }
    return counts;
  };

  // a connect right after the test before restarted Redis waits for the store and for Redis clients
  // still reconnecting: on a loaded CI run one took more than 5 s
  const CONNECT_MS = 20_000;
  const twoDevices = async (token: string) => {
    const phone = await connectTo(instances.first, token, {}, CONNECT_MS);
    const laptop = await connectTo(
      instances.second,
      token,
      { session_id: phone.sessionId, last_seq: '0' },
      CONNECT_MS,
    );
    expect(laptop.sessionId).toBe(phone.sessionId);
    return { phone, laptop, sessionId: phone.sessionId };
  };
  const closeAll = (...clients: TestClient[]) => Promise.all(clients.map((client) => client.close()));

  // The second device resumes on the other instance while the first's turn is open: that instance
  // watches the turn, and must leave it to the first, which answers it after 10 s without Redis.
  it('should answer a turn once when a device resumes on the other instance while Redis is away', async () => {
    const token = userToken(uniqueUser());
    const phone = await connectTo(instances.first, token, {}, CONNECT_MS);
    await instances.redis.kill();
    phone.client.send({ type: 'user_message', client_id: 'w1', content: long });
    await phone.client.next(acked('w1'), 15_000);
    const laptop = await connectTo(
      instances.second,
      token,
      { session_id: phone.sessionId, last_seq: '0' },
      CONNECT_MS,
    );
    await phone.client.next(piece('w1'), 30_000);
    await phone.client.next(done('w1'), 30_000);
    await instances.redis.restart();
    expect(await repliesPerTurn(token, phone.sessionId)).toEqual({ w1: 1 });
    await closeAll(phone.client, laptop.client);
  });

  // While the first instance streams the first device's turn (run after 10 s without Redis), the
  // second device sends a turn on the other instance: that request answers its own turn, not the
  // one streaming on the first.
  it('should answer each turn once when the other device writes while a reply streams and Redis is away', async () => {
    const token = userToken(uniqueUser());
    const { phone, laptop, sessionId } = await twoDevices(token);
    await instances.redis.kill();
    phone.client.send({ type: 'user_message', client_id: 'w1', content: long });
    await phone.client.next(acked('w1'), 15_000);
    await phone.client.next(piece('w1'), 30_000);
    laptop.client.send({ type: 'user_message', client_id: 'w2', content: 'and another' });
    await laptop.client.next(acked('w2'), 15_000);
    await phone.client.next(done('w1'), 30_000);
    // the second turn's reply may wait for Redis
    await instances.redis.restart();
    await laptop.client.next(done('w2'), 60_000);
    expect(await repliesPerTurn(token, sessionId)).toEqual({ w1: 1, w2: 1 });
    await closeAll(phone.client, laptop.client);
  });

  // A regenerate is stored only with its reply, so neither instance sees the other's copy in the log
  // while it runs. The phone's regenerate, cut, is sent again from the laptop on the other instance
  // while Redis is away: both copies are acked, and each ran after 10 s without Redis. Before, the
  // stored alternatives with its client_id were 2 in 3 of 3 runs.
  it('should answer a regenerate once when its resend reaches the other instance while Redis is away', async () => {
    const token = userToken(uniqueUser());
    const { phone, laptop, sessionId } = await twoDevices(token);
    phone.client.send({ type: 'user_message', client_id: 'w1', content: 'hello' });
    await phone.client.next(done('w1'), 30_000);
    await instances.redis.kill();
    phone.client.send({ type: 'regenerate', client_id: 'r1' });
    await phone.client.next(acked('r1'), 15_000);
    laptop.client.send({ type: 'regenerate', client_id: 'r1' });
    await laptop.client.next(acked('r1'), 15_000);
    // both copies waited out the 10 s a reply waits for Redis, then some
    await pause(14_000);
    await instances.redis.restart();
    const alternatives = async () => {
      const session = await getJson<SessionBody>(
        `${instances.first.httpUrl}/chat/sessions/${sessionId}`,
        token,
      );
      return session.messages.filter(
        (message) => message.type === 'ai_response' && message.client_id === 'r1',
      ).length;
    };
    // stored once, and nothing more for 5 s (a second copy would be streaming by then)
    let count = 0;
    let since = Date.now();
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && (count === 0 || Date.now() - since < 5_000)) {
      const now = await alternatives();
      if (now !== count) [count, since] = [now, Date.now()];
      await pause(200);
    }
    expect(count).toBe(1);
    await closeAll(phone.client, laptop.client);
  });

  // Past the 10 s a reply waits for Redis, a regenerate (which never runs without Redis) was acked
  // and then waited for Redis without bound: an instance that died meanwhile left it acked and never
  // answered, and its client does not send it again. It is refused LLM_UNAVAILABLE (recoverable)
  // instead, and the same regenerate sent once Redis is back is acked and answered once.
  it('should refuse a regenerate while Redis has been away past the wait, and take it once Redis is back', async () => {
    const token = userToken(uniqueUser());
    const phone = await connectTo(instances.first, token, {}, CONNECT_MS);
    phone.client.send({ type: 'user_message', client_id: 'w1', content: 'hello' });
    await phone.client.next(done('w1'), 30_000);
    await instances.redis.kill();
    await pause(11_000);
    phone.client.send({ type: 'regenerate', client_id: 'r1' });
    const answer = await phone.client.next(
      (frame) => acked('r1')(frame) || (frame.type === 'error' && frame.client_id === 'r1'),
      15_000,
    );
    expect(answer).toMatchObject({ type: 'error', error: { code: 'LLM_UNAVAILABLE', recoverable: true } });
    await instances.redis.restart();
    await ready();
    phone.client.send({ type: 'regenerate', client_id: 'r1' });
    await phone.client.next(acked('r1'), 15_000);
    await phone.client.next(done('r1'), 30_000);
    const session = await getJson<SessionBody>(
      `${instances.first.httpUrl}/chat/sessions/${phone.sessionId}`,
      token,
    );
    expect(
      session.messages.filter((message) => message.type === 'ai_response' && message.client_id === 'r1'),
    ).toHaveLength(1);
    await closeAll(phone.client);
  });
});
