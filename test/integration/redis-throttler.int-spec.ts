import Redis from 'ioredis';
import { RedisThrottlerStorage } from '../../src/infra/bus/redis-throttler.storage';
import { RedisServer } from '../helpers/redis-server';

// Rate-limit counters in Redis (docs/protocol.md, "Rate limits"). A client over its limit sent every
// further frame of the window to Redis to be refused again: a flooding socket cost one Redis round
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
    const stats = await probe.info('commandstats');
    return Number(/cmdstat_eval:calls=(\d+)/.exec(stats)?.[1] ?? 0);
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

  it('should refuse the rest of a window past the limit without asking Redis again', async () => {
    const key = `flood-${Date.now()}`;
    const before = await evals();
    const records = [];
    for (let index = 0; index < 200; index++) records.push(await storage.increment(key, 1_000, 10, 0, 'ws'));
    // the first 10 pass, the rest are refused, as Redis refuses them
    expect(records.slice(0, 10).every((record) => record.totalHits <= 10)).toBe(true);
    expect(records.slice(10).every((record) => record.totalHits > 10 && record.isBlocked)).toBe(true);
    expect(records.slice(10).every((record) => record.timeToExpire >= 1)).toBe(true);
    // (a window may end during the loop on a slow machine: a second one costs 11 more at most)
    expect((await evals()) - before).toBeLessThanOrEqual(22);
  });

  it('should ask Redis again once the window it was refused in has ended, and pass', async () => {
    const key = `window-${Date.now()}`;
    for (let index = 0; index < 11; index++) await storage.increment(key, 300, 10, 0, 'ws');
    expect((await storage.increment(key, 300, 10, 0, 'ws')).totalHits).toBeGreaterThan(10);
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect((await storage.increment(key, 300, 10, 0, 'ws')).totalHits).toBeLessThanOrEqual(10);
  });

  it("should refuse on another instance's counts too (the limit is shared)", async () => {
    const other = await connected();
    try {
      const key = `shared-${Date.now()}`;
      for (let index = 0; index < 10; index++) await other.increment(key, 1_000, 10, 0, 'ws');
      expect((await storage.increment(key, 1_000, 10, 0, 'ws')).totalHits).toBeGreaterThan(10);
      expect((await other.increment(key, 1_000, 10, 0, 'ws')).totalHits).toBeGreaterThan(10);
    } finally {
      other.onApplicationShutdown();
    }
  });
});
