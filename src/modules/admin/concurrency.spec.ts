import fc from 'fast-check';
import { concurrency, type Interval } from './concurrency';

// Brute force over every elementary segment between distinct event times: the reference answer.
function reference(intervals: Interval[], from: number, to: number): { avg: number; max: number } {
  const points = [...new Set([from, to, ...intervals.flatMap((i) => [i.start, i.end])])]
    .filter((t) => t >= from && t <= to)
    .sort((a, b) => a - b);
  let area = 0;
  let max = 0;
  for (let k = 0; k + 1 < points.length; k++) {
    const mid = (points[k] + points[k + 1]) / 2;
    const open = intervals.filter((i) => i.start <= mid && mid < i.end).length;
    area += open * (points[k + 1] - points[k]);
    max = Math.max(max, open);
  }
  return { avg: to > from ? area / (to - from) : 0, max };
}

const interval = fc
  .tuple(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 300 }))
  .map(([start, length]) => ({ start, end: start + length }));

describe('concurrency', () => {
  it('should equal the brute-force count on every segment when given any intervals and period', () => {
    fc.assert(
      fc.property(
        fc.array(interval, { maxLength: 40 }),
        fc.integer({ min: 0, max: 1000 }),
        fc.integer({ min: 1, max: 1000 }),
        (intervals, from, length) => {
          const result = concurrency(intervals, from, from + length);
          const expected = reference(intervals, from, from + length);
          expect(result.max).toBe(expected.max);
          expect(result.avg).toBeCloseTo(expected.avg, 9);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('should never report an average above the maximum or below zero', () => {
    fc.assert(
      fc.property(fc.array(interval, { maxLength: 60 }), (intervals) => {
        const { avg, max } = concurrency(intervals, 0, 1300);
        expect(avg).toBeGreaterThanOrEqual(0);
        expect(avg).toBeLessThanOrEqual(max + 1e-9);
      }),
    );
  });

  it('should not count two sessions as concurrent when one ends exactly when the other starts', () => {
    expect(
      concurrency(
        [
          { start: 0, end: 10 },
          { start: 10, end: 20 },
        ],
        0,
        20,
      ),
    ).toEqual({ avg: 1, max: 1 });
  });

  it('should clip sessions to the period and weigh them by time', () => {
    const result = concurrency(
      [
        { start: -100, end: 50 },
        { start: 25, end: 75 },
        { start: 90, end: 500 },
      ],
      0,
      100,
    );
    expect(result.max).toBe(2);
    expect(result.avg).toBeCloseTo((50 + 50 + 10) / 100, 12);
  });

  it('should return zeros when the period is empty or no session overlaps it', () => {
    expect(concurrency([{ start: 0, end: 10 }], 5, 5)).toEqual({ avg: 0, max: 0 });
    expect(concurrency([{ start: 0, end: 10 }], 20, 30)).toEqual({ avg: 0, max: 0 });
    expect(concurrency([], 0, 10)).toEqual({ avg: 0, max: 0 });
  });

  it('should handle 200k sessions quickly', () => {
    const many: Interval[] = [];
    for (let k = 0; k < 200_000; k++)
      many.push({ start: (k * 7919) % 1_000_000, end: ((k * 7919) % 1_000_000) + 5000 });
    const started = performance.now();
    const result = concurrency(many, 0, 1_000_000);
    // loose bound: the test machine is shared; the bench prints the real time
    expect(performance.now() - started).toBeLessThan(3000);
    expect(result.max).toBeGreaterThan(0);
  });
});
