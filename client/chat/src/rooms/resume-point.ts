import { SeqPrefix } from '../../../shared/protocol';

// GET /rooms/:id/messages takes at most this many (docs/protocol.md, "REST")
export const HISTORY_PAGE_MAX = 100;

// One page of the REST history that fills a gap: `limit` messages before `before`; `through` is the
// top of the gap being filled (pages go down from it until they reach the resume point).
export interface HistoryRequest {
  before: number;
  limit: number;
  through: number;
}

// A room's resume point (docs/protocol.md, "Rooms", "Resume point"): the `last_seq` the client
// joins with after a reconnect. It is the highest seq N such that every seq up to N is had (or
// known absent) above where the thread's history starts, never merely the highest seen: a seq that
// arrives before a lower one (another path: the ack of the user's own message, a history page, a
// socket dying with the lower one on it) is kept above the gap, and the point jumps when the gap
// fills. A gap that stays open is filled from the REST history (nextRequest / applyPage); the
// caller sends the requests. The state machine is the server's own (SeqPrefix, src/protocol).
export class ResumePoint {
  private readonly prefix: SeqPrefix<number>;
  // a gap being filled page by page, down from `through`; the next page is the one below `before`
  private filling: { through: number; before: number } | null = null;

  constructor(start = 0) {
    this.prefix = new SeqPrefix(start);
  }

  get point(): number {
    return this.prefix.point;
  }

  // seqs are held above a gap
  get hasGap(): boolean {
    return this.prefix.heldCount > 0;
  }

  // A stored message the thread holds now (live, replayed, acked or from a page).
  seen(seq: number): void {
    this.prefix.add(seq, seq);
  }

  // The `join` frame: the socket stands at `seq`, everything before it was sent to it first (the
  // newest messages on a first join, whatever followed last_seq on a resume); older ones are paged.
  standsAt(seq: number): void {
    this.prefix.skipThrough(seq);
  }

  // The page that fills the lowest gap next, or null when there is none.
  nextRequest(): HistoryRequest | null {
    const gap = this.prefix.gaps()[0];
    if (!gap) {
      this.filling = null;
      return null;
    }
    const point = this.prefix.point;
    // a new gap, or the one being filled closed another way
    if (!this.filling || this.filling.through < gap.from || this.filling.before <= point + 1)
      this.filling = { through: gap.to, before: gap.to + 1 };
    const { through, before } = this.filling;
    return { before, limit: Math.min(HISTORY_PAGE_MAX, before - point - 1), through };
  }

  // The answer to `request`: the seqs of its messages. The server returns the newest `limit`
  // messages below `before`, so the page holds every stored seq from its lowest up to `before`: the
  // seqs there it lacks are not stored (removed by retention; a room's seqs are otherwise gapless and
  // never filled in later). Once the pages reach the point, the gap is closed up to `through`.
  applyPage(request: HistoryRequest, seqs: readonly number[]): void {
    const below = seqs.filter((seq) => Number.isSafeInteger(seq) && seq < request.before);
    for (const seq of below) this.seen(seq);
    const lowest = Math.min(...below);
    if (below.length < request.limit || lowest <= this.prefix.point + 1) {
      this.prefix.skipThrough(request.through);
      this.filling = null;
      return;
    }
    this.filling = { through: request.through, before: lowest };
  }

  // The room's newest page (GET /rooms/:id/messages?limit=, read after a reconnect to refresh what
  // the thread holds): its seqs. It holds every stored seq from its lowest up to its highest; when it
  // reaches down to the point (or holds fewer than `limit`: the room's start), every seq up to its
  // highest is had or not stored, and a gap there is closed without another read.
  applyNewest(limit: number, seqs: readonly number[]): void {
    const valid = seqs.filter((seq) => Number.isSafeInteger(seq) && seq > 0);
    if (valid.length === 0) return;
    for (const seq of valid) this.seen(seq);
    if (valid.length < limit || Math.min(...valid) <= this.prefix.point + 1)
      this.prefix.skipThrough(Math.max(...valid));
  }
}
