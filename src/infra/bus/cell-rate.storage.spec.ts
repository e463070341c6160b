import fc from 'fast-check';
import { ErrorCode } from '../../common/errors/error-code';
import { CellRateStorage, retryAfterMsOf, spendBudget } from './cell-rate.storage';

describe(CellRateStorage.name, () => {
  it('should admit `limit` at once, then one every ttl / limit ms, and say when exactly', () => {
    const storage = new CellRateStorage();
    const hits = Array.from({ length: 10 }, () => storage.spend('u', 1_000, 10, 0));
    expect(hits.map((record) => record.isBlocked)).toEqual(Array(10).fill(false));
    expect(hits.map((record) => record.totalHits)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const refused = storage.spend('u', 1_000, 10, 0);
    expect(refused).toMatchObject({
      isBlocked: true,
      totalHits: 11,
      retryAfterMs: 100,
      timeToBlockExpire: 1,
    });
    // a refusal spends nothing: 30 ms on, 70 ms are left
    expect(storage.spend('u', 1_000, 10, 30).retryAfterMs).toBe(70);
    expect(storage.spend('u', 1_000, 10, 100)).toMatchObject({ isBlocked: false, totalHits: 10 });
    expect(storage.spend('other', 1_000, 10, 100).totalHits).toBe(1);
  });

  // the fixed window refused a client pacing under the limit whenever its frames bunched: a client
  // whose events keep at least ttl / limit apart on average, each bunched by up to the burst's
  // length, is never refused
  it('should never refuse events that keep to the rate, however they bunch within the burst', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 20 }),
        fc.array(fc.integer({ min: 0, max: 1_000 }), { minLength: 1, maxLength: 100 }),
        (limit, delays) => {
          const storage = new CellRateStorage();
          const interval = 1_000 / limit;
          // event i is sent at i × interval and reaches the budget up to (limit - 1) intervals late,
          // in order
          let last = 0;
          delays.forEach((delay, index) => {
            const at = Math.max(last, index * interval + (delay / 1_000) * (limit - 1) * interval);
            last = at;
            expect(storage.spend('u', 1_000, limit, at).isBlocked).toBe(false);
          });
        },
      ),
    );
  });

  // in any span of t ms, at most limit + t / interval events pass (the fixed window let twice the
  // limit through within a few ms across a window's end)
  it('should admit at most limit + t × limit / ttl events in any span of t ms', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 200 }),
        (limit, gaps) => {
          const storage = new CellRateStorage();
          const admitted: number[] = [];
          let now = 0;
          for (const gap of gaps) {
            now += gap;
            if (!storage.spend('u', 1_000, limit, now).isBlocked) admitted.push(now);
          }
          for (let first = 0; first < admitted.length; first++)
            for (let last = first; last < admitted.length; last++) {
              const span = admitted[last] - admitted[first];
              expect(last - first + 1).toBeLessThanOrEqual(limit + (span * limit) / 1_000 + 1e-9);
            }
        },
      ),
    );
  });

  it('should forget a key once its budget is whole again', () => {
    const storage = new CellRateStorage();
    storage.spend('a', 1_000, 10, 0);
    storage.spend('b', 1_000, 10, 0);
    expect(storage.size).toBe(2);
    storage.spend('c', 1_000, 10, 1_500);
    expect(storage.size).toBe(1);
  });

  it('should refuse a budget spent past its limit RATE_LIMITED with the wait, never under its least', async () => {
    const storage = new CellRateStorage();
    const budget = {
      bucket: 'ws',
      userId: 'u',
      limit: 2,
      windowMs: 1_000,
      minRetryMs: 100,
      message: 'Slow down.',
    };
    await spendBudget(storage, budget);
    await spendBudget(storage, budget);
    await expect(spendBudget(storage, budget)).rejects.toMatchObject({
      code: ErrorCode.RATE_LIMITED,
      message: 'Slow down.',
      details: { retryAfterMs: expect.any(Number) },
    });
    const waits = await spendBudget(storage, { ...budget, minRetryMs: 5_000 }).catch(
      (error: { details: { retryAfterMs: number } }) => error.details.retryAfterMs,
    );
    expect(waits).toBe(5_000);
    // another user's budget and another bucket's are their own
    await expect(spendBudget(storage, { ...budget, userId: 'v' })).resolves.toBeUndefined();
    await expect(spendBudget(storage, { ...budget, bucket: 'ws-typing' })).resolves.toBeUndefined();
  });

  it("should read another storage's wait from its seconds", () => {
    expect(retryAfterMsOf({ totalHits: 11, timeToExpire: 2, isBlocked: true, timeToBlockExpire: 2 })).toBe(
      2_000,
    );
  });
});
