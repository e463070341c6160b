import { ApiError } from '../../../shared/api';
import type { RoomMessageFrame } from '../../../shared/protocol';
import { backoffDelay } from '../backoff';
import { readChanges } from './change-read';
import { oldestHeld, refreshHeld } from './held-refresh';
import { asMessageFrame } from './message-parse';
import { HISTORY_PAGE_MAX } from './resume-point';
import type { RoomMembership } from './room-membership';
import type { RoomStore } from './room-store';
import { roomsApi } from './rooms-api';

// "Load older messages" reads this many
const PAGE_SIZE = 50;
// a gap in a room's seqs still open this long while connected is read from the REST history
// (docs/protocol.md, "Resume point"); a read that fails is tried again later (backoff)
const GAP_FILL_MS = 2_000;

export interface RoomHistoryLink {
  readonly store: RoomStore;
  readonly membership: RoomMembership;
  token(): string | null;
  // a REST call the user made: a failure becomes the notice and null
  api<T>(call: (token: string) => Promise<T>): Promise<T | null>;
  connected(): boolean;
  // a stored message read from the history: merged like a live one
  stored(frame: RoomMessageFrame): void;
  changed(): void;
}

// A room's REST history read into its thread: older pages the user asks for, the gaps in its seqs,
// and after a reconnect what changed while away on the messages it holds.
export class RoomHistory {
  // per room: a gap being watched (timer), being read, and the reads that failed in a row
  private gapTimers = new Map<string, ReturnType<typeof setTimeout>>();
  private gapReads = new Set<string>();
  private gapFailures = new Map<string, number>();
  // rooms held from before the last reconnect whose newest page is read again once their join
  // answers (docs/protocol.md, "Resume point": a resume replays messages, not changes to them)
  private refreshDue = new Set<string>();
  private refreshFailures = new Map<string, number>();
  private refreshing = new Set<string>();
  // counts the socket's connections: a retry of a read meant for an earlier one is not made
  private connection = 0;

  constructor(private readonly link: RoomHistoryLink) {}

  reconnected(): void {
    this.connection++;
  }

  // Held from an earlier connection: what changed meanwhile is read once the join answers.
  due(roomId: string): void {
    this.refreshDue.add(roomId);
  }

  // The room's join answered on this connection (`first`: the first join of the thread).
  joined(roomId: string, first: boolean): void {
    // (a read still on its way from an earlier connection reads again when it ends)
    if (!first && !this.refreshing.has(roomId) && this.refreshDue.delete(roomId))
      void this.refreshNewest(roomId);
  }

  // The room was left here: nothing of it is read.
  forget(roomId: string): void {
    this.refreshDue.delete(roomId);
    this.unwatchGap(roomId);
  }

  // The page of the room's history before what the thread holds ("Load older messages").
  async loadOlder(roomId: string): Promise<void> {
    const { store } = this.link;
    const thread = store.thread(roomId);
    const before = thread.nextBefore ?? store.oldestSeq(roomId);
    if (before === null || before === undefined || before <= 1) {
      thread.nextBefore = null;
      return this.link.changed();
    }
    const page = await this.link.api((token) => roomsApi.history(token, roomId, before, PAGE_SIZE));
    if (!page) return;
    for (const item of page.items) {
      const frame = asMessageFrame(item);
      if (frame) store.applyMessage(frame);
    }
    thread.nextBefore = page.items.length < PAGE_SIZE ? null : page.next_before;
    this.link.changed();
  }

  // ---- gaps (docs/protocol.md, "Resume point") ----

  // A room whose seqs have a gap (a seq arrived before a lower one) is watched: the gap usually fills
  // by itself (the lower seq was on its way); one still open after GAP_FILL_MS while connected is read
  // from the REST history. While disconnected nothing is read: the resume join replays from the
  // resume point, below the gap, and its `join` frame watches again.
  watchGap(roomId: string, delay = GAP_FILL_MS): void {
    if (!this.link.membership.wanted.has(roomId)) return this.unwatchGap(roomId);
    const thread = this.link.store.thread(roomId);
    if (!thread.resume.hasGap) return this.unwatchGap(roomId);
    if (!thread.joined || this.gapTimers.has(roomId) || this.gapReads.has(roomId)) return;
    // the newest page being read may close it
    if (this.refreshing.has(roomId)) return;
    this.gapTimers.set(
      roomId,
      setTimeout(() => {
        this.gapTimers.delete(roomId);
        // the newest page being read may close it: watched again once it is in
        if (!this.refreshing.has(roomId)) void this.fillGap(roomId);
      }, delay),
    );
  }

  private unwatchGap(roomId: string): void {
    clearTimeout(this.gapTimers.get(roomId));
    this.gapTimers.delete(roomId);
    this.gapFailures.delete(roomId);
  }

  // Reads the missing seqs page by page (GET /rooms/:id/messages?before=&limit=) and merges them like
  // live messages (each once, by message_id); seqs the store no longer holds are passed over.
  private async fillGap(roomId: string): Promise<void> {
    const { store, membership } = this.link;
    const thread = store.thread(roomId);
    const reading = () =>
      membership.wanted.has(roomId) &&
      thread.joined &&
      store.thread(roomId) === thread &&
      this.link.connected();
    if (!reading()) return;
    this.gapReads.add(roomId);
    let failed = false;
    try {
      for (
        let request = thread.resume.nextRequest();
        request && reading();
        request = thread.resume.nextRequest()
      ) {
        const token = this.link.token();
        if (!token) break;
        const page = await roomsApi.history(token, roomId, request.before, request.limit);
        if (!reading()) break;
        thread.resume.applyPage(request, this.mergePage(roomId, page.items));
        this.link.changed();
      }
    } catch {
      // the server or the network is away: read again later (the notice is for what the user did)
      failed = true;
    } finally {
      this.gapReads.delete(roomId);
    }
    if (!failed) return this.watchGap(roomId);
    const failures = this.gapFailures.get(roomId) ?? 0;
    this.gapFailures.set(roomId, failures + 1);
    this.watchGap(roomId, backoffDelay(failures));
  }

  // A page read from the REST history, merged as stored messages of the room: the seqs it held.
  private mergePage(roomId: string, items: readonly unknown[]): number[] {
    const seqs: number[] = [];
    for (const item of items) {
      const frame = asMessageFrame(item);
      if (!frame || frame.room_id !== roomId) continue;
      this.link.stored(frame);
      seqs.push(frame.seq);
    }
    return seqs;
  }

  // ---- changes made while away (docs/protocol.md, "Change log", "Resume point") ----

  // After a reconnect, once the room's join answered: what changed while away (edited text, the
  // deleted mark, reactions) on the messages the thread holds. With a change mark (the server keeps
  // a change log): the messages changed after it, as they are now (GET
  // /rooms/:id/messages?changed_after=<mark>), read on while the server says more: the same reads
  // however many messages the thread holds. Without one, or when the server says its log cannot
  // answer (reset) or refuses the parameter, the fallback: the room's newest page as the server holds
  // it now (GET /rooms/:id/messages?limit=100) replaces what the thread holds of those messages,
  // adds any it lacks, and closes a gap the page covers (the gap read waits meanwhile, so the same
  // page is not read twice); then the pages below it (?before=&limit=) down to the oldest message the
  // thread held (held-refresh.ts); after a reset the mark starts again at the head it named. This
  // user's ops not acked yet stay shown over it (they are kept apart from the stored message until
  // their ack), and what changed while the reads were on their way is applied again over them. One
  // refresh per room and reconnect; a failed one is tried again later.
  private async refreshNewest(roomId: string): Promise<void> {
    const { store, membership } = this.link;
    const thread = store.thread(roomId);
    const current = () => membership.wanted.has(roomId) && store.thread(roomId) === thread;
    const holds = [...thread.byKey.values()].some((message) => message.messageId !== undefined);
    const token = this.link.token();
    if (!holds || !token || !current() || this.refreshing.has(roomId)) return;
    const connection = this.connection;
    this.refreshing.add(roomId);
    store.startRead(roomId);
    let merged = false;
    // the oldest message held before the read: pages below the newest one go down to it
    const floor = oldestHeld([...thread.byKey.values()].map((message) => message.seq));
    try {
      const log = await readChanges(
        store,
        roomId,
        async (after, limit) => {
          try {
            return await roomsApi.changedAfter(token, roomId, after, limit);
          } catch (error) {
            // a server without the log refuses the parameter
            if (error instanceof ApiError && error.status === 400) return 'refused';
            throw error;
          }
        },
        current,
      );
      if (log.merged) this.link.changed();
      merged = log.merged;
      if (log.fallback && current()) {
        await refreshHeld(
          floor,
          async (request) =>
            (request.before === undefined
              ? await roomsApi.newest(token, roomId, request.limit)
              : await roomsApi.history(token, roomId, request.before, request.limit)
            ).items,
          (items, request) => {
            const seqs = this.mergePage(roomId, items);
            if (request.before === undefined) thread.resume.applyNewest(HISTORY_PAGE_MAX, seqs);
            merged = true;
            this.link.changed();
            return seqs;
          },
          current,
        );
        if (log.head !== undefined && current()) thread.changes.restart(log.head);
      }
      if (current()) this.refreshFailures.delete(roomId);
    } catch {
      // read again later while connected (a reconnect meanwhile reads anyway)
      const failures = this.refreshFailures.get(roomId) ?? 0;
      this.refreshFailures.set(roomId, failures + 1);
      setTimeout(() => {
        if (this.connection === connection && membership.live.has(roomId)) void this.refreshNewest(roomId);
      }, backoffDelay(failures));
    } finally {
      store.endRead(roomId, merged);
      this.refreshing.delete(roomId);
    }
    // a reconnect whose join answered while this read was on its way: read for it too
    if (membership.live.has(roomId) && this.refreshDue.delete(roomId)) void this.refreshNewest(roomId);
    this.link.changed();
    this.watchGap(roomId);
  }
}
