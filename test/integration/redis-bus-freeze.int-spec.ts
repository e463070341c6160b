import { RedisBus } from '../../src/infra/bus/redis.bus';
import { RedisServer } from '../helpers/redis-server';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// A publish Redis did not answer while frozen (SIGSTOP) fails for the publisher, which drops the
// connection after 2 s (docs/protocol.md, "Redis that stops answering"). The command is in the old
// socket's buffer and still runs when Redis wakes; ioredis also sent it again on the new connection
// (autoResendUnfulfilledCommands), so it ran twice: the Redis audit of session 34 saw a reply's
// pieces twice, at the same offsets, on the other instance's device (4 in 3 freezes).
describe('RedisBus across a Redis freeze (a Redis of its own)', () => {
  jest.setTimeout(30_000);
  let redis: RedisServer;
  const buses: RedisBus[] = [];

  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(async () => {
    redis?.signal('SIGCONT');
    for (const bus of buses) await bus.close();
    await redis?.kill();
  });

  it('should deliver a publish that timed out during a freeze at most once', async () => {
    const [from, to] = [new RedisBus(redis.url), new RedisBus(redis.url)];
    buses.push(from, to);
    const got: unknown[] = [];
    to.subscribe('freeze', (payload) => got.push(payload));
    const deadline = Date.now() + 10_000;
    while (!(await from.publishConfirmed('freeze', 'ping'))) {
      if (Date.now() > deadline) throw new Error('bus not ready');
      await sleep(50);
    }
    while (got.length === 0) {
      if (Date.now() > deadline) throw new Error('subscription not ready');
      await sleep(20);
    }
    redis.signal('SIGSTOP');
    // unanswered: fails after the command timeout, and the connection is dropped
    expect(await from.publishConfirmed('freeze', 'during')).toBe(false);
    await sleep(1_500);
    redis.signal('SIGCONT');
    // both connections come back (at most a second apart), and whatever ran, ran
    await sleep(4_000);
    expect(got.filter((payload) => payload === 'during').length).toBeLessThanOrEqual(1);
  });
});
