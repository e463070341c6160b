import Redis from 'ioredis';
import { RedisThrottlerStorage } from '../../src/infra/bus/redis-throttler.storage';
import { RedisServer } from '../helpers/redis-server';

// Rate budgets in Redis, a cell rate per key (docs/protocol.md, "Rate limits"). A client over its
// limit sent every further frame to Redis to be refused again: a flooding socket cost one Redis round
// trip per frame (7,000 a second on this machine), and on a loaded machine the flood test's 60,000
// frames, each waiting for its round trip in order, outlasted the test (three CI runs).
describe('RedisThrottlerStorage (Redis)', () => {
  let redis: RedisServer;
  let storage: RedisThrottlerStorage;
  let probe: Redis;

  beforeAll(async () => {
    redis = await RedisServer.start();
    probe = new Redis(redis.url);
  });
  afterAll(async () => {
    probe?.disconnect();
    await redis?.kill();
  });
  const evals = async (): Promise<number> => {
    // the script runs as EVALSHA, and as EVAL the first time Redis does not know it
    const stats = await probe.info('commandstats');
    const calls = (command: string) =>
      Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
    return calls('eval') + calls('evalsha');
  };
  // a storage whose client is connected: before, its counts are this instance's (the fallback)
  const connected = async (): Promise<RedisThrottlerStorage> => {
    const made = new RedisThrottlerStorage(redis.url);
    for (;;) {
      const before = await evals();
      await made.increment('warm-up', 1_000, 1_000_000, 0, 'warm');
      if ((await evals()) > before) return made;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  beforeEach(async () => {
    storage = await connected();
  });
  afterEach(() => storage.onApplicationShutdown());

  it('should refuse past the burst without asking Redis again until the wait is over', async () => {
    const key = `flood-${Date.now()}`;
    const before = await evals();
    const records = [];
    // 10 a minute: one more every 6 s, none during the loop
    for (let index = 0; index < 200; index++) records.push(await storage.increment(key, 60_000, 10, 0, 'ws'));
    // the first 10 pass, the rest are refused, as Redis refuses them, with the wait left
    expect(records.slice(0, 10).map((record) => record.totalHits)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(records.slice(10).every((record) => record.totalHits > 10 && record.isBlocked)).toBe(true);
    expect(records[10].retryAfterMs).toBeGreaterThan(5_000);
    expect(records[10].retryAfterMs).toBeLessThanOrEqual(6_000);
    expect(records.at(-1)!.retryAfterMs).toBeLessThanOrEqual(records[10].retryAfterMs);
    expect((await evals()) - before).toBe(11);
  });

  it('should ask Redis again once the wait it was refused for is over, and pass', async () => {
    const key = `window-${Date.now()}`;
    for (let index = 0; index < 10; index++) await storage.increment(key, 3_000, 10, 0, 'ws');
    const refused = await storage.increment(key, 3_000, 10, 0, 'ws');
    expect(refused.totalHits).toBeGreaterThan(10);
    await new Promise((resolve) => setTimeout(resolve, refused.retryAfterMs + 5));
    expect((await storage.increment(key, 3_000, 10, 0, 'ws')).totalHits).toBeLessThanOrEqual(10);
  });

  // Redis away: each instance keeps a budget of the same kind in memory, and shares it again once
  // Redis is back (the key Redis kept is where the budget stands then)
  it('should keep the budget in memory while Redis is away, and go back to Redis after', async () => {
    await redis.kill();
    try {
      const key = `away-${Date.now()}`;
      const records = [];
      for (let index = 0; index < 12; index++)
        records.push(await storage.increment(key, 60_000, 10, 0, 'ws'));
      expect(records.map((record) => record.isBlocked)).toEqual([...Array(10).fill(false), true, true]);
      expect(records[10].retryAfterMs).toBeGreaterThan(5_000);
    } finally {
      await redis.restart();
    }
    const before = await evals();
    const key = `back-${Date.now()}`;
    for (let attempt = 0; (await evals()) === before && attempt < 100; attempt++) {
      await storage.increment(key, 60_000, 10, 0, 'ws');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(await evals()).toBeGreaterThan(before);
  });

  it("should refuse on another instance's counts too (the limit is shared)", async () => {
    const other = await connected();
    try {
      const key = `shared-${Date.now()}`;
      for (let index = 0; index < 10; index++) await other.increment(key, 60_000, 10, 0, 'ws');
      expect((await storage.increment(key, 60_000, 10, 0, 'ws')).totalHits).toBeGreaterThan(10);
      expect((await other.increment(key, 60_000, 10, 0, 'ws')).totalHits).toBeGreaterThan(10);
    } finally {
      other.onApplicationShutdown();
    }
  });
});
