import fc from 'fast-check';
import { UnreadCount } from './unread-count';

describe(UnreadCount.name, () => {
  it("should stand at the list's count until the first join, then count what follows it", () => {
    const unread = new UnreadCount();
    unread.listed(3, true);
    // the history the join sends first is the list's to count
    unread.message(9);
    expect([unread.count, unread.more]).toEqual([3, true]);
    unread.joinedAt(10);
    unread.message(10);
    unread.message(11);
    expect([unread.count, unread.more]).toEqual([4, true]);
    // a read below the join's seq cannot tell which of the list's it covers: they stay
    unread.read(9);
    expect(unread.count).toBe(4);
    unread.read(10);
    expect([unread.count, unread.more]).toEqual([1, false]);
    unread.clear();
    expect(unread.count).toBe(0);
  });

  it("should take a newer read mark from the list while joined, bounding the pre-join count by the list's", () => {
    const unread = new UnreadCount();
    unread.listed(5, true);
    unread.joinedAt(10);
    unread.message(11);
    const asOf = unread.newest;
    // came while the list was read: the server's count may not hold it
    unread.message(12);
    expect(unread.count).toBe(7);
    // the same mark as known, or an older one: nothing changes
    unread.relisted(0, 0, asOf);
    expect(unread.count).toBe(7);
    // read up to 8 elsewhere: the server counts 9, 10 and 11 (3), so two from before the join remain
    unread.relisted(3, 8, asOf);
    expect([unread.count, unread.more]).toEqual([4, true]);
    // read past the join elsewhere: only what came after it and after the mark
    unread.relisted(1, 11, unread.newest);
    expect([unread.count, unread.more]).toEqual([1, false]);
  });

  // Against a model: after the first join, the count is the number of distinct seqs received above
  // the join's seq and above every read mark given so far, not read since, plus the list's count
  // until a read reaches the join's seq or the room is seen; nothing counts twice, whatever the order
  // and repeats.
  it('should count each seq once, never one at or below a read mark (property)', () => {
    type Event =
      | { kind: 'message'; seq: number }
      | { kind: 'read'; seq: number }
      | { kind: 'listed'; count: number }
      | { kind: 'joined'; seq: number }
      | { kind: 'clear' };
    const event: fc.Arbitrary<Event> = fc.oneof(
      {
        weight: 6,
        arbitrary: fc.record({ kind: fc.constant('message' as const), seq: fc.integer({ min: 1, max: 30 }) }),
      },
      {
        weight: 2,
        arbitrary: fc.record({ kind: fc.constant('read' as const), seq: fc.integer({ min: 0, max: 30 }) }),
      },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('listed' as const), count: fc.nat(5) }) },
      {
        weight: 1,
        arbitrary: fc.record({ kind: fc.constant('joined' as const), seq: fc.integer({ min: 0, max: 30 }) }),
      },
      { weight: 1, arbitrary: fc.constant({ kind: 'clear' as const }) },
    );
    fc.assert(
      fc.property(fc.array(event, { maxLength: 60 }), (events) => {
        const unread = new UnreadCount();
        const model = { listed: 0, from: undefined as number | undefined, mark: 0, seqs: new Set<number>() };
        for (const next of events) {
          if (next.kind === 'message') {
            unread.message(next.seq);
            if (model.from !== undefined && next.seq > model.from && next.seq > model.mark)
              model.seqs.add(next.seq);
          }
          if (next.kind === 'read') {
            unread.read(next.seq);
            model.mark = Math.max(model.mark, next.seq);
            for (const seq of model.seqs) if (seq <= model.mark) model.seqs.delete(seq);
            if (model.from !== undefined && next.seq >= model.from) model.listed = 0;
          }
          if (next.kind === 'listed') {
            unread.listed(next.count, false);
            Object.assign(model, { listed: next.count, from: undefined });
            model.seqs.clear();
          }
          if (next.kind === 'joined') {
            unread.joinedAt(next.seq);
            model.from = next.seq;
          }
          if (next.kind === 'clear') {
            unread.clear();
            model.listed = 0;
            model.seqs.clear();
          }
          expect(unread.count).toBe(model.listed + model.seqs.size);
          expect(unread.readMark).toBe(model.mark);
        }
      }),
      { numRuns: 500 },
    );
  });
});
