import fc from 'fast-check';
import { ChangeMark } from './change-mark';

// A room's change mark (docs/protocol.md, "Change log"): the changed_after a reconnecting device asks
// with, the highest change number N such that every change up to N was applied (a frame) or read
// (a changes read through it), above where the device's log started (its first join's
// metadata.changed). Never past a number the device missed.
describe('ChangeMark', () => {
  it('should have no mark before its first join gave one (the device reads its pages instead)', () => {
    const mark = new ChangeMark();
    expect(mark.point).toBeUndefined();
    mark.seen(3);
    mark.through(5);
    expect(mark.point).toBeUndefined();
  });

  it('should start where the first join says, move over numbers applied in a row, and wait at a missing one', () => {
    const mark = new ChangeMark();
    mark.startsAt(4);
    expect(mark.point).toBe(4);
    mark.seen(5);
    mark.seen(7);
    expect(mark.point).toBe(5);
    mark.seen(6);
    expect(mark.point).toBe(7);
    // a later first-join answer (another join on the same connection) does not move it
    mark.startsAt(100);
    expect(mark.point).toBe(7);
    // a read through 10: every change up to it is applied; 12 applied already, 11 not yet
    mark.seen(12);
    mark.through(10);
    expect(mark.point).toBe(10);
    mark.seen(11);
    expect(mark.point).toBe(12);
    // a read answering less than the point does not take it back
    mark.through(3);
    expect(mark.point).toBe(12);
  });

  it('should keep numbers applied before the first join answered (their frames came first)', () => {
    const mark = new ChangeMark();
    mark.seen(6);
    mark.seen(5);
    mark.startsAt(4);
    expect(mark.point).toBe(6);
  });

  it('should restart from a number after a full read (the log could not answer)', () => {
    const mark = new ChangeMark();
    mark.startsAt(50);
    mark.seen(52);
    mark.restart(9);
    expect(mark.point).toBe(9);
    mark.seen(10);
    expect(mark.point).toBe(10);
    mark.forget();
    expect(mark.point).toBeUndefined();
  });

  it('should ignore what is not a change number', () => {
    const mark = new ChangeMark();
    mark.startsAt(Number.NaN);
    expect(mark.point).toBeUndefined();
    mark.startsAt(-1);
    expect(mark.point).toBeUndefined();
    mark.startsAt(2);
    for (const value of [Number.NaN, Infinity, 2.5, -3, 1e20] as number[]) {
      mark.seen(value);
      mark.through(value);
    }
    expect(mark.point).toBe(2);
  });

  // the numbers base+1..base+count: each delivered (any order, some twice) or lost; reads through a
  // number up to which every change was delivered, or that a read would answer (all of them)
  it('should never pass a lost number, and stand at the last number below the first lost one (property)', () => {
    fc.assert(
      fc.property(
        fc.nat(30),
        fc.array(fc.record({ lost: fc.boolean(), twice: fc.boolean(), at: fc.nat(1000) }), { maxLength: 40 }),
        fc.option(fc.nat(40), { nil: undefined }),
        (base, numbers, readThrough) => {
          const mark = new ChangeMark();
          mark.startsAt(base);
          const events = numbers.flatMap((each, index) =>
            each.lost
              ? []
              : [
                  { n: base + index + 1, at: each.at },
                  ...(each.twice ? [{ n: base + index + 1, at: each.at + 7 }] : []),
                ],
          );
          events.sort((a, b) => a.at - b.at);
          for (const { n } of events) mark.seen(n);
          const firstLost = numbers.findIndex((each) => each.lost);
          const expected = firstLost === -1 ? base + numbers.length : base + firstLost;
          expect(mark.point).toBe(expected);
          // a read through R: the changes up to R are in hand, the frames seen above it still count
          if (readThrough !== undefined) {
            const through = base + readThrough;
            mark.through(through);
            let point = Math.max(expected, through);
            while (point < base + numbers.length && !numbers[point - base].lost) point++;
            expect(mark.point).toBe(point);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
