import fc from 'fast-check';
import { SeqPrefix } from './seq-prefix';

// every seq of 1..count at least once, in any order, with repeats (as two paths and a resync deliver)
const arrivals = (max: number) =>
  fc
    .integer({ min: 1, max })
    .chain((count) =>
      fc.tuple(
        fc.constant(count),
        fc.shuffledSubarray(
          [
            ...Array.from({ length: count }, (_, index) => index + 1),
            ...Array.from({ length: count }, (_, index) => index + 1),
          ],
          { minLength: count },
        ),
        fc.array(fc.integer({ min: 1, max: count }), { maxLength: count }),
      ),
    )
    .map(([count, shuffled, extra]) => {
      const all = Array.from({ length: count }, (_, index) => index + 1);
      // shuffledSubarray may leave some out: they come last, after the repeats
      return { count, order: [...shuffled, ...extra, ...all.filter((seq) => !shuffled.includes(seq))] };
    });

describe(SeqPrefix.name, () => {
  it('should advance over a contiguous prefix only, and release each value once, in seq order', () => {
    fc.assert(
      fc.property(arrivals(40), ({ count, order }) => {
        const prefix = new SeqPrefix<number>(0);
        const released: number[] = [];
        const seen = new Set<number>();
        for (const seq of order) {
          released.push(...prefix.add(seq, seq));
          seen.add(seq);
          let missing = 1;
          while (seen.has(missing)) missing++;
          // never past the smallest seq not seen yet, and exactly up to it
          expect(prefix.point).toBe(missing - 1);
          expect(prefix.has(seq)).toBe(true);
        }
        expect(prefix.point).toBe(count);
        expect(prefix.heldCount).toBe(0);
        expect(released).toEqual(Array.from({ length: count }, (_, index) => index + 1));
      }),
    );
  });

  it('should take the very next seq with nothing held directly, with the same result as add', () => {
    fc.assert(
      fc.property(arrivals(40), ({ order }) => {
        const fast = new SeqPrefix<number>(0);
        const reference = new SeqPrefix<number>(0);
        for (const seq of order) {
          const next = seq === fast.point + 1 && fast.heldCount === 0;
          const taken = fast.takeNext(seq);
          expect(taken).toBe(next);
          expect(taken ? [seq] : fast.add(seq, seq)).toEqual(reference.add(seq, seq));
          expect([fast.point, fast.heldCount]).toEqual([reference.point, reference.heldCount]);
        }
      }),
    );
  });

  it('should after a restart behave as a new prefix at that point, whatever it held', () => {
    fc.assert(
      fc.property(arrivals(30), arrivals(30), fc.nat(30), (before, after, point) => {
        const restarted = new SeqPrefix<number>(0);
        for (const seq of before.order) restarted.add(seq, seq);
        restarted.restart(point);
        const fresh = new SeqPrefix<number>(point);
        expect([restarted.point, restarted.heldCount]).toEqual([point, 0]);
        for (const seq of after.order) {
          expect(restarted.takeNext(seq) ? [seq] : restarted.add(seq, seq)).toEqual(
            fresh.takeNext(seq) ? [seq] : fresh.add(seq, seq),
          );
          expect([restarted.point, restarted.heldCount, restarted.gaps()]).toEqual([
            fresh.point,
            fresh.heldCount,
            fresh.gaps(),
          ]);
        }
      }),
    );
  });

  it('should hold seqs above a gap and jump over them when it fills', () => {
    const prefix = new SeqPrefix<string>(5);
    expect(prefix.add(7, 'seven')).toEqual([]);
    expect(prefix.add(9, 'nine')).toEqual([]);
    expect(prefix.point).toBe(5);
    expect(prefix.gaps()).toEqual([
      { from: 6, to: 6 },
      { from: 8, to: 8 },
    ]);
    expect(prefix.add(6, 'six')).toEqual(['six', 'seven']);
    expect(prefix.point).toBe(7);
    expect(prefix.add(8, 'eight')).toEqual(['eight', 'nine']);
    expect(prefix.point).toBe(9);
    expect(prefix.gaps()).toEqual([]);
  });

  it('should ignore a seq it has, at or below the point or held, and anything not a safe integer', () => {
    const prefix = new SeqPrefix<string>(3);
    expect(prefix.add(2, 'old')).toEqual([]);
    expect(prefix.add(3, 'old')).toEqual([]);
    expect(prefix.add(5, 'first')).toEqual([]);
    expect(prefix.add(5, 'again')).toEqual([]);
    for (const bad of [4.5, Number.NaN, Infinity, Number.MAX_SAFE_INTEGER + 2])
      expect(prefix.add(bad, 'bad')).toEqual([]);
    expect(prefix.heldCount).toBe(1);
    expect(prefix.add(4, 'four')).toEqual(['four', 'first']);
  });

  it('should skip through a seq: held values up to it go out in order, then the prefix goes on', () => {
    const prefix = new SeqPrefix<string>(0);
    prefix.add(3, 'three');
    prefix.add(6, 'six');
    prefix.add(7, 'seven');
    prefix.add(10, 'ten');
    // 1..5 are known absent (or had another way): 3 goes out, then 6 and 7 join the prefix
    expect(prefix.skipThrough(5)).toEqual(['three', 'six', 'seven']);
    expect(prefix.point).toBe(7);
    expect(prefix.gaps()).toEqual([{ from: 8, to: 9 }]);
    // a point behind is no step back
    expect(prefix.skipThrough(2)).toEqual([]);
    expect(prefix.point).toBe(7);
    expect(prefix.skipThrough(prefix.highest)).toEqual(['ten']);
    expect(prefix.point).toBe(10);
    expect(prefix.highest).toBe(10);
  });

  it('should list the gaps up to the highest seq held, lowest first, whatever the arrivals', () => {
    fc.assert(
      fc.property(fc.nat(20), fc.array(fc.integer({ min: 1, max: 60 }), { maxLength: 30 }), (start, seqs) => {
        const prefix = new SeqPrefix<null>(start);
        for (const seq of seqs) prefix.add(seq, null);
        const had = new Set(seqs.filter((seq) => seq > start));
        const missing: number[] = [];
        for (let seq = start + 1; seq < prefix.highest; seq++) if (!had.has(seq)) missing.push(seq);
        const listed = prefix.gaps().flatMap(({ from, to }) => {
          expect(from).toBeLessThanOrEqual(to);
          return Array.from({ length: to - from + 1 }, (_, index) => from + index);
        });
        expect(listed).toEqual(missing);
        expect(prefix.gaps().length > 0).toBe(prefix.heldCount > 0);
      }),
    );
  });
});
