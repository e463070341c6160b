import fc from 'fast-check';
import { HISTORY_PAGE_MAX, ResumePoint, type HistoryRequest } from './resume-point';

// GET /rooms/:id/messages?before=&limit= over a store holding `stored`: the newest `limit` seqs
// below `before`, oldest first (docs/protocol.md, "REST")
function historyPage(stored: readonly number[], request: HistoryRequest): number[] {
  expect(Number.isSafeInteger(request.before) && request.before >= 1).toBe(true);
  expect(request.limit).toBeGreaterThanOrEqual(1);
  expect(request.limit).toBeLessThanOrEqual(HISTORY_PAGE_MAX);
  return stored
    .filter((seq) => seq < request.before)
    .sort((a, b) => a - b)
    .slice(-request.limit);
}

// Fills every gap as the client does: pages until nothing is asked.
function fill(resume: ResumePoint, stored: readonly number[], maxRequests = 1_000) {
  const fetched: number[] = [];
  let requests = 0;
  for (let request = resume.nextRequest(); request; request = resume.nextRequest()) {
    if (++requests > maxRequests) throw new Error('the fill does not end');
    const page = historyPage(stored, request);
    fetched.push(...page);
    resume.applyPage(request, page);
  }
  return { fetched, requests };
}

// the seqs start+1..start+count, delivered in any order, some more than once
const deliveries = fc
  .record({ start: fc.nat(50), count: fc.integer({ min: 1, max: 40 }) })
  .chain(({ start, count }) => {
    const seqs = Array.from({ length: count }, (_, index) => start + index + 1);
    return fc.record({
      start: fc.constant(start),
      seqs: fc.constant(seqs),
      order: fc
        .tuple(fc.shuffledSubarray(seqs, { minLength: count }), fc.array(fc.constantFrom(...seqs)))
        .chain(([all, again]) =>
          fc.shuffledSubarray([...all, ...again], { minLength: all.length + again.length }),
        ),
    });
  });

describe(ResumePoint.name, () => {
  it('should never pass the smallest missing seq, and reach the last once every seq arrived', () => {
    fc.assert(
      fc.property(deliveries, ({ start, seqs, order }) => {
        const resume = new ResumePoint(start);
        const seen = new Set<number>();
        for (const seq of order) {
          resume.seen(seq);
          seen.add(seq);
          const missing = seqs.find((candidate) => !seen.has(candidate));
          if (missing !== undefined) expect(resume.point).toBe(missing - 1);
          expect(resume.hasGap).toBe(missing !== undefined && [...seen].some((had) => had > missing));
        }
        expect(resume.point).toBe(seqs[seqs.length - 1]);
        expect(resume.hasGap).toBe(false);
        expect(resume.nextRequest()).toBeNull();
      }),
    );
  });

  it('should keep the point below a gap (seq 7 before 6) and jump when the gap fills', () => {
    const resume = new ResumePoint(5);
    resume.seen(7);
    resume.seen(8);
    expect(resume.point).toBe(5);
    expect(resume.hasGap).toBe(true);
    resume.seen(6);
    expect(resume.point).toBe(8);
    expect(resume.hasGap).toBe(false);
  });

  it("should stand where the join says: the history before it is the socket's (or older, paged)", () => {
    // a first join: the newest messages 401..500 arrive, then `join` with seq 500
    const resume = new ResumePoint();
    for (let seq = 401; seq <= 500; seq++) resume.seen(seq);
    expect(resume.point).toBe(0);
    resume.standsAt(500);
    expect(resume.point).toBe(500);
    expect(resume.hasGap).toBe(false);
    // an older page (below the history start) changes nothing; a join that stands behind is no step back
    resume.seen(350);
    resume.standsAt(420);
    expect(resume.point).toBe(500);
  });

  it('should ask for the lowest gap first: the seqs below the first one held past it', () => {
    const resume = new ResumePoint(5);
    resume.seen(9);
    resume.seen(12);
    expect(resume.nextRequest()).toEqual({ before: 9, limit: 3, through: 8 });
    resume.applyPage({ before: 9, limit: 3, through: 8 }, [6, 7, 8]);
    expect(resume.point).toBe(9);
    expect(resume.nextRequest()).toEqual({ before: 12, limit: 2, through: 11 });
    resume.applyPage({ before: 12, limit: 2, through: 11 }, [10, 11]);
    expect(resume.point).toBe(12);
    expect(resume.nextRequest()).toBeNull();
  });

  it('should page down a gap wider than a page, then move the point over all of it', () => {
    const resume = new ResumePoint(0);
    resume.seen(251);
    const first = resume.nextRequest();
    expect(first).toEqual({ before: 251, limit: 100, through: 250 });
    resume.applyPage(first as HistoryRequest, range(151, 250));
    expect(resume.point).toBe(0);
    expect(resume.nextRequest()).toEqual({ before: 151, limit: 100, through: 250 });
    resume.applyPage({ before: 151, limit: 100, through: 250 }, range(51, 150));
    expect(resume.nextRequest()).toEqual({ before: 51, limit: 50, through: 250 });
    resume.applyPage({ before: 51, limit: 50, through: 250 }, range(1, 50));
    expect(resume.point).toBe(251);
    expect(resume.nextRequest()).toBeNull();
  });

  it('should move past seqs the store does not hold (the page shows them absent), never ask again', () => {
    const resume = new ResumePoint(10);
    resume.seen(20);
    // 11..19 asked; the store holds 15..19 only (the rest removed): fewer than asked, so none below
    resume.applyPage({ before: 20, limit: 9, through: 19 }, [15, 16, 17, 18, 19]);
    expect(resume.point).toBe(20);
    // a full page whose lowest seq is at the point covers the range: 22 and 24 are absent
    resume.seen(30);
    expect(resume.nextRequest()).toEqual({ before: 30, limit: 9, through: 29 });
    resume.applyPage({ before: 30, limit: 9, through: 29 }, [19, 20, 21, 23, 25, 26, 27, 28, 29]);
    expect(resume.point).toBe(30);
  });

  it('should ignore what a page has at or past `before`, so a wrong page cannot loop the fill', () => {
    const resume = new ResumePoint(0);
    resume.seen(5);
    const request = resume.nextRequest() as HistoryRequest;
    resume.applyPage(request, [5, 6, 7, 8]);
    // nothing below 5 came: the store has none
    expect(resume.point).toBe(5);
    expect(resume.nextRequest()).toBeNull();
  });

  it('should fill any gaps from the store and end with no gap, each request within the API bounds', () => {
    fc.assert(
      fc.property(
        fc.nat(30),
        fc.integer({ min: 1, max: 400 }),
        fc.array(fc.nat(), { maxLength: 60 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (start, count, picks, removed) => {
          // the store: start+1..start+count, perhaps without a few (removed by retention)
          const all = range(start + 1, start + count);
          const last = all[all.length - 1];
          const absent = new Set(removed.map((pick) => all[pick % all.length]).filter((seq) => seq !== last));
          const stored = all.filter((seq) => !absent.has(seq));
          // what the socket delivered: a few stored seqs in any order, always the newest
          const resume = new ResumePoint(start);
          const delivered = [...picks.map((pick) => stored[pick % stored.length]), last];
          for (const seq of delivered) resume.seen(seq);
          // at most one page per 100 missing seqs of each gap
          const pages = gapsOf(start, delivered).reduce((sum, size) => sum + Math.ceil(size / 100), 0);
          const { fetched, requests } = fill(resume, stored);
          expect(requests).toBeLessThanOrEqual(pages);
          expect(resume.point).toBe(last);
          expect(resume.hasGap).toBe(false);
          // every stored message came, by the socket or a page
          const had = new Set([...delivered, ...fetched]);
          expect(stored.filter((seq) => !had.has(seq))).toEqual([]);
        },
      ),
    );
  });

  it('should close a gap the newest page covers (read after a reconnect), and never pass a stored seq not had', () => {
    fc.assert(
      fc.property(
        fc.nat(30),
        fc.integer({ min: 1, max: 250 }),
        fc.array(fc.nat(), { maxLength: 60 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        fc.integer({ min: 1, max: HISTORY_PAGE_MAX }),
        (start, count, picks, removed, limit) => {
          const all = range(start + 1, start + count);
          const absent = new Set(removed.map((pick) => all[pick % all.length]));
          const stored = all.filter((seq) => !absent.has(seq));
          const resume = new ResumePoint(start);
          const delivered = picks.map((pick) => all[pick % all.length]).filter((seq) => !absent.has(seq));
          for (const seq of delivered) resume.seen(seq);
          const before = resume.point;
          const page = stored.slice(-limit);
          resume.applyNewest(limit, page);
          const had = new Set([...delivered, ...page]);
          // every stored seq up to the point is had
          expect(stored.filter((seq) => seq <= resume.point && seq > start && !had.has(seq))).toEqual([]);
          expect(resume.point).toBeGreaterThanOrEqual(before);
          // a page reaching down to the point (or the room's start) leaves no gap below its top
          if (page.length > 0 && (page.length < limit || page[0] <= before + 1))
            expect(resume.point).toBeGreaterThanOrEqual(page[page.length - 1]);
        },
      ),
    );
  });
});

// the sizes of the gaps between start and the seqs had
function gapsOf(start: number, seqs: number[]): number[] {
  const sizes: number[] = [];
  let after = start;
  for (const seq of [...new Set(seqs)].sort((a, b) => a - b)) {
    if (seq > after + 1) sizes.push(seq - after - 1);
    after = Math.max(after, seq);
  }
  return sizes;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, index) => from + index);
}
