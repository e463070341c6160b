import { applyChangeFrame } from './change-frames';
import { HISTORY_PAGE_MAX } from './resume-point';
import type { RoomStore } from './room-store';

// GET /rooms/:id/messages?changed_after= (docs/protocol.md, "Change log"), checked field by field
// (applyChangeFrame)
export interface ChangesPage {
  items: unknown[];
  changed_through?: unknown;
  more?: unknown;
  settling?: unknown;
  reset?: unknown;
}

// a changes read that says a change is still being written (settling) is made again after this
export const CHANGES_SETTLE_WAIT_MS = 1_000;
// changes reads per refresh at most (a log still settling after them is read on the next reconnect)
const CHANGES_READS_MAX = 100;

export interface ChangeReadOutcome {
  // the held pages are to be read instead (held-refresh.ts): no mark, a reset, a server without the log
  fallback: boolean;
  // a reset's head: the mark starts again there once the pages are read
  head?: number;
  // a page was applied
  merged: boolean;
  reads: number;
}

// After a reconnect (docs/protocol.md, "Change log"): the room's changes after its mark, page after
// page (GET /rooms/:id/messages?changed_after=<mark>&limit=100), each applied through
// applyChangeFrame (the changed messages the thread holds take the server's state; the mark moves
// through `changed_through`), read on while the server says more (after a moment when a change is
// still settling). `read` answers a page, 'refused' for a server without the log (400: the mark is
// dropped, the pages read from then on), or throws (the caller reads again later); `current` false
// stops (the room was left). The rooms client and the chaos test's devices both read this way.
export async function readChanges(
  store: RoomStore,
  roomId: string,
  read: (after: number, limit: number) => Promise<ChangesPage | 'refused'>,
  current: () => boolean,
  wait: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
): Promise<ChangeReadOutcome> {
  const thread = store.thread(roomId);
  let merged = false;
  let reads = 0;
  while (reads < CHANGES_READS_MAX && current()) {
    const after = thread.changes.point;
    if (after === undefined) return { fallback: true, merged, reads };
    const page = await read(after, HISTORY_PAGE_MAX);
    reads++;
    if (page === 'refused') {
      thread.changes.forget();
      return { fallback: true, merged, reads };
    }
    if (!current()) break;
    if (page.reset === true)
      return {
        fallback: true,
        merged,
        reads,
        ...(typeof page.changed_through === 'number' ? { head: page.changed_through } : {}),
      };
    applyChangeFrame(store, {
      type: 'changes',
      room_id: roomId,
      items: Array.isArray(page.items) ? page.items : [],
      changed_through: page.changed_through,
    });
    merged = true;
    if (page.more !== true) break;
    // a change still being written: its frame comes, or the next read has it
    if (page.settling === true) await wait(CHANGES_SETTLE_WAIT_MS);
    else if (thread.changes.point === after) break;
  }
  return { fallback: false, merged, reads };
}
