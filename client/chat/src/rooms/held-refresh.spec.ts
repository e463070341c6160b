import fc from 'fast-check';
import { oldestHeld, olderHeldRead, refreshHeld, type PageRead } from './held-refresh';
import { HISTORY_PAGE_MAX } from './resume-point';

// The pages a reconnect reads to refresh what a thread holds (docs/protocol.md, "Resume point"):
// every held message is on some page, no page reaches below the oldest held one, none is read twice.

// a room of seqs 1..count with some removed by retention (the lowest `removed`), read as the server
// answers GET /rooms/:id/messages: the newest `limit` below `before`
function room(count: number, removed: number) {
  const seqs = Array.from({ length: count }, (_, index) => index + 1).filter((seq) => seq > removed);
  const read = (request: PageRead) =>
    Promise.resolve(
      seqs
        .filter((seq) => request.before === undefined || seq < request.before)
        .slice(-request.limit)
        .map((seq) => ({ seq })),
    );
  return { seqs, read };
}

describe('refreshHeld (issue 14)', () => {
  it('should read every held message once, and nothing below the oldest held one', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 1000 }),
        fc.integer({ min: 0, max: 1000 }),
        fc.integer({ min: 1, max: 1000 }),
        async (count, removedAt, heldFrom) => {
          const { seqs, read } = room(count, Math.min(removedAt, count));
          // the thread holds every seq from heldFrom up (what a device holds after paging so far)
          const held = seqs.filter((seq) => seq >= heldFrom);
          const floor = oldestHeld(held);
          const requests: PageRead[] = [];
          const got: number[] = [];
          await refreshHeld(
            floor,
            (request) => {
              requests.push(request);
              return read(request);
            },
            (items) => {
              const pageSeqs = (items as Array<{ seq: number }>).map((item) => item.seq);
              got.push(...pageSeqs);
              return pageSeqs;
            },
            () => true,
          );
          expect(requests[0]).toEqual({ limit: HISTORY_PAGE_MAX });
          for (const request of requests) {
            expect(request.limit).toBeGreaterThan(0);
            expect(request.limit).toBeLessThanOrEqual(HISTORY_PAGE_MAX);
          }
          for (const seq of held) expect(got).toContain(seq);
          // nothing twice; below the floor only what the newest page itself held
          expect(new Set(got).size).toBe(got.length);
          const newest = seqs.slice(-HISTORY_PAGE_MAX);
          for (const seq of got) if (floor === undefined || seq < floor) expect(newest).toContain(seq);
          // as few pages as the held messages below the newest page need
          const below = held.filter((seq) => newest.length > 0 && seq < newest[0]).length;
          expect(requests.length).toBe(1 + Math.ceil(below / HISTORY_PAGE_MAX));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('should stop when the room is no longer current, and ask nothing below seq 1', async () => {
    const { read } = room(500, 0);
    let reads = 0;
    await refreshHeld(
      1,
      (request) => {
        reads++;
        return read(request);
      },
      (items) => (items as Array<{ seq: number }>).map((item) => item.seq),
      () => reads < 2,
    );
    expect(reads).toBe(2);
    expect(olderHeldRead(1, 1)).toBeNull();
    expect(olderHeldRead(5, 0)).toEqual({ before: 5, limit: 4 });
    expect(olderHeldRead(50, undefined)).toBeNull();
    expect(olderHeldRead(Number.NaN, 3)).toBeNull();
  });
});
