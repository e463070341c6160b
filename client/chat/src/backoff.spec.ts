import fc from 'fast-check';
import { BACKOFF_MAX_MS, BACKOFF_STEPS_MS, backoffDelay } from './backoff';

describe('backoffDelay', () => {
  it('should follow 1, 2, 4, 8, 16, 30 s when there is no jitter', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 50].map((attempt) => backoffDelay(attempt, () => 0.5))).toEqual([
      1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000,
    ]);
  });

  it('should stay within ±20 % of its step and never pass 30 s, whatever the attempt and randomness', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.integer(), fc.double()),
        fc.double({ min: -1, max: 2, noNaN: true }),
        (attempt, random) => {
          const delay = backoffDelay(attempt, () => random);
          const step = Math.min(
            Math.max(0, Math.floor(Number.isFinite(attempt) ? attempt : 99)),
            BACKOFF_STEPS_MS.length - 1,
          );
          const base = BACKOFF_STEPS_MS[step];
          expect(delay).toBeGreaterThanOrEqual(Math.round(base * 0.8));
          expect(delay).toBeLessThanOrEqual(Math.min(BACKOFF_MAX_MS, Math.round(base * 1.2)));
        },
      ),
    );
  });
});
