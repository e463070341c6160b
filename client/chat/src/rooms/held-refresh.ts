import { HISTORY_PAGE_MAX } from './resume-point';

// One REST read of a room's history (GET /rooms/:id/messages): the newest `limit` messages, or the
// newest `limit` below `before`.
export interface PageRead {
  before?: number;
  limit: number;
}

// The page below a page whose lowest seq is `lowest` that refreshes what the thread holds down to
// `floor` (the oldest stored seq it held when the refresh began), or null when it holds nothing
// older. It reads no further down than `floor`: messages the thread never held are not asked for.
export function olderHeldRead(lowest: number, floor: number | undefined): PageRead | null {
  if (floor === undefined || !Number.isSafeInteger(lowest) || !(floor < lowest) || lowest <= 1) return null;
  return { before: lowest, limit: Math.min(HISTORY_PAGE_MAX, lowest - Math.max(floor, 1)) };
}

// After a reconnect, every stored message the thread holds is read again as the server holds it now
// (docs/protocol.md, "Resume point"): the room's newest page, then the pages below it while the
// thread holds older messages (an edit, a delete or a reaction made while the device was away may be
// on any of them). `read` reads a page (its items); `merge` merges it into the thread and returns the
// seqs it held; `current` false stops (the room was left, the store replaced). Pages are read one
// after another, newest first; a read that throws ends the walk with its error (the caller reads
// again later). Returns the number of pages merged.
export async function refreshHeld(
  floor: number | undefined,
  read: (request: PageRead) => Promise<readonly unknown[]>,
  merge: (items: readonly unknown[], request: PageRead) => number[],
  current: () => boolean,
): Promise<number> {
  let request: PageRead | null = { limit: HISTORY_PAGE_MAX };
  let pages = 0;
  while (request && current()) {
    const items = await read(request);
    if (!current()) break;
    const seqs = merge(items, request).filter((seq) => Number.isSafeInteger(seq));
    pages++;
    if (seqs.length === 0) break;
    request = olderHeldRead(Math.min(...seqs), floor);
  }
  return pages;
}

// The oldest stored seq among `seqs` (the messages a thread holds), or undefined.
export function oldestHeld(seqs: Iterable<number | undefined>): number | undefined {
  let oldest: number | undefined;
  for (const seq of seqs)
    if (seq !== undefined && Number.isSafeInteger(seq) && (oldest === undefined || seq < oldest))
      oldest = seq;
  return oldest;
}
