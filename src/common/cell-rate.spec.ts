import fc from 'fast-check';
import { CellRate } from './cell-rate';

describe('CellRate', () => {
  it('should admit a burst at once, then one event per interval, per key', () => {
    const rate = new CellRate(10, 3);
    expect([rate.take('a', 0), rate.take('a', 0), rate.take('a', 0)]).toEqual([0, 0, 0]);
    expect(rate.take('a', 0)).toBe(100);
    expect(rate.take('b', 0)).toBe(0);
    expect(rate.take('a', 50)).toBe(50);
    expect(rate.take('a', 100)).toBe(0);
    expect(rate.take('a', 100)).toBe(100);
  });

  it('should forget a key once its budget is whole again', () => {
    const rate = new CellRate(10, 2);
    rate.take('a', 0);
    rate.take('b', 0);
    rate.take('b', 0);
    expect(rate.size).toBe(2);
    rate.take('c', 1_500);
    expect(rate.size).toBe(1);
  });

  // a model: a token bucket of `burst` tokens refilled continuously at `perSecond`, one token per
  // admitted event; the cell rate admits exactly when the bucket holds a whole token, and a refused
  // event's wait is when it would
  it('should admit exactly what a token bucket admits, and give the wait until it would', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 10 }),
        fc.array(fc.record({ gap: fc.integer({ min: 0, max: 400 }), key: fc.constantFrom('a', 'b') }), {
          maxLength: 200,
        }),
        (perSecond, burst, events) => {
          const rate = new CellRate(perSecond, burst);
          const buckets = new Map<string, { tokens: number; at: number }>();
          let now = 0;
          for (const { gap, key } of events) {
            now += gap;
            const bucket = buckets.get(key) ?? { tokens: burst, at: now };
            const tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) * perSecond) / 1000);
            const wait = rate.take(key, now);
            // float slack: the two keep time differently (a due time against a token count)
            if (tokens >= 1 + 1e-9) expect(wait).toBe(0);
            if (tokens <= 1 - 1e-9) expect(wait).toBeCloseTo(((1 - tokens) * 1000) / perSecond, 6);
            buckets.set(key, { tokens: wait === 0 ? tokens - 1 : tokens, at: now });
          }
        },
      ),
    );
  });
});
