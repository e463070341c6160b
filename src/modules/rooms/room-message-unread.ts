import type { Model } from 'mongoose';
import type { RoomMessage } from './schemas/room-message.schema';

// rooms per unread aggregate (FerretDB's build pushes a $or of at most 1000 terms down to SQL)
const UNREAD_TERMS = 500;

// a room's unread window: the member's read mark, and a seq known to have been stored (last_seq)
export interface UnreadWindow {
  roomId: string;
  after: number;
  stored?: number;
}

// The unread counts of chat_messages (RoomMessagesRepository.unreadOf), and the rooms' newest
// message times counted the same way (newestTimes), which only that class constructs.
export class RoomMessageUnread {
  constructor(private readonly messages: Model<RoomMessage>) {}

  // The time of each room's newest message, from `floor` (a seq handed out: the head or below it,
  // usually by at most a minute of messages, RoomsRepository.noteMessage) up, for a room list
  // (RoomsService withActivity). Two store commands for every room together, whatever lies past the floors: the
  // messages from each floor up counted per room (the unread windows' aggregate, from index entries
  // alone on either store), which gives the head (seqs have no gaps: floor + count - 1), then the
  // messages from each head up read (one each; more only where retention left a gap, which counting
  // took for a lower head). Reading every message from the floors up instead cost the bench's seeded
  // store 32 ms (p50) a list of 10 rooms each 100 messages past their floor, against 2.8 ms so.
  // Rooms without a message from their floor up are left out.
  async newestTimes(floors: ReadonlyArray<{ roomId: string; floor: number }>): Promise<Map<string, Date>> {
    // seqs start at 1
    const from = floors.map(({ roomId, floor }) => ({ roomId, floor: Math.max(floor, 1) }));
    const counts = await this.countByRoom(
      from.map(({ roomId, floor }) => ({ room_id: roomId, seq: { $gte: floor } })),
    );
    const heads = from
      .filter(({ roomId }) => counts.has(roomId))
      .map(({ roomId, floor }) => ({
        room_id: roomId,
        seq: { $gte: floor + (counts.get(roomId) as number) - 1 },
      }));
    const found = await Promise.all(
      chunked(heads).map((chunk) =>
        this.messages
          .find({ $or: chunk }, { _id: 0, room_id: 1, created_at: 1 })
          .lean<Array<{ room_id: string; created_at: Date }>>(),
      ),
    );
    const newest = new Map<string, Date>();
    for (const { room_id: roomId, created_at: at } of found.flat()) {
      const known = newest.get(roomId);
      if (!known || at > known) newest.set(roomId, at);
    }
    return newest;
  }

  // Unread counts: the text messages not sent by any of `exceptSenders` (the reader, and whom they
  // blocked) among the first `window` messages
  // after a read mark (joins and moderation notices are not something to read), and whether more
  // messages follow that window. Seqs have no gaps, so the window is the seq range (mark, mark + window].
  // Retention removes the oldest messages: an empty window with more after it starts again at the
  // first message kept.
  //
  // Every room's window is counted in ONE store command: an aggregate of `$match` (a `$or` of
  // `{room_id, seq range}`, one per room) and `$group` by room with `$sum: 1`, one small document per
  // room with unread messages. MongoDB reads each window's (room_id, seq) index range; FerretDB's build
  // answers it as one SQL query with GROUP BY (scripts/tools/ferretdb/pushdown-zrooms.patch;
  // conformance: test/integration/rooms-store-conformance.int-spec.ts). Whether messages follow a
  // window:
  // - `stored` (the room's `last_seq`: only ever a stored seq, lagging behind the newest, noted at
  //   most once a minute, and on FerretDB a concurrent $max may keep the lower value; a lower bound of
  //   the head) past the window, and the window holds a message: they do (retention removes the
  //   oldest first, so a kept message before `stored` means `stored` is kept). bench:rooms' readers,
  //   behind by more than the window: the whole list's counts in one command.
  // - `stored` at or before the window's end: every room's messages past its window are counted in
  //   one more such aggregate, sent beside the first. They are the messages after `stored`'s noting (a minute's at most,
  //   unless a $max was lost), and none for a reader who is caught up: cheap on either store.
  // - otherwise (no `stored`, or a window holding nothing to count with `stored` past it: own or
  //   system messages only, or emptied by retention) the room is looked at alone, as before: one look
  //   past the window, and when it is empty with more after it, the first message kept.
  async unreadOf(
    windows: readonly UnreadWindow[],
    exceptSenders: readonly string[],
    window: number,
  ): Promise<Map<string, { count: number; more: boolean }>> {
    const counted = countedOf(exceptSenders);
    // the rooms whose `stored` does not lie past their window: the messages past it counted beside
    const looked = windows.filter(({ after, stored }) => stored !== undefined && stored <= after + window);
    const [counts, past] = await Promise.all([
      this.countByRoom(
        windows.map(({ roomId, after }) => ({ room_id: roomId, seq: { $gt: after, $lte: after + window } })),
        counted,
      ),
      this.countByRoom(
        looked.map(({ roomId, after }) => ({ room_id: roomId, seq: { $gt: after + window } })),
      ),
    ]);
    const result = new Map<string, { count: number; more: boolean }>();
    const alone: UnreadWindow[] = [];
    for (const each of windows) {
      if (each.stored === undefined) alone.push(each);
      else if (each.stored > each.after + window) {
        const count = counts.get(each.roomId) ?? 0;
        if (count > 0) result.set(each.roomId, { count, more: true });
        else alone.push(each);
      }
    }
    for (const each of looked) {
      const count = counts.get(each.roomId) ?? 0;
      const more = past.has(each.roomId);
      if (count > 0 || !more) result.set(each.roomId, { count, more });
      else alone.push(each);
    }
    const single = await Promise.all(
      alone.map(
        async ({ roomId, after }) =>
          [
            roomId,
            await this.unreadAlone(roomId, after, counted, window, counts.get(roomId) ?? 0, past.has(roomId)),
          ] as const,
      ),
    );
    for (const [roomId, unread] of single) result.set(roomId, unread);
    return result;
  }

  // one room's window after `seq`, counted as `count` already; `followed`: messages are known to follow
  // it (else one look past it tells); `counted`: which messages count (countedOf)
  private async unreadAlone(
    roomId: string,
    seq: number,
    counted: Record<string, unknown>,
    window: number,
    count: number,
    followed: boolean,
  ): Promise<{ count: number; more: boolean }> {
    const more = followed || (await this.follows(roomId, seq + window));
    if (count > 0 || !more) return { count, more };
    const first = await this.messages
      .findOne({ room_id: roomId, seq: { $gt: seq } }, { seq: 1 })
      .sort({ seq: 1 })
      .lean<{ seq: number }>();
    if (!first || first.seq === seq + 1) return { count, more };
    const after = first.seq - 1;
    const [kept, next] = await Promise.all([
      this.countByRoom([{ room_id: roomId, seq: { $gt: after, $lte: after + window } }], counted),
      this.follows(roomId, after + window),
    ]);
    return { count: kept.get(roomId) ?? 0, more: next };
  }

  // whether the room holds a message after `seq`
  private async follows(roomId: string, seq: number): Promise<boolean> {
    return (await this.messages.findOne({ room_id: roomId, seq: { $gt: seq } }, { _id: 1 }).lean()) !== null;
  }

  // The messages matching any of `terms` (and `also`), counted per room: one aggregate per
  // UNREAD_TERMS rooms (FerretDB's build counts a $or of at most 1000 terms in SQL), none for no terms.
  private async countByRoom(
    terms: Array<Record<string, unknown>>,
    also: Record<string, unknown> = {},
  ): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    const results = await Promise.all(
      chunked(terms).map((chunk) =>
        this.messages.collection
          .aggregate<{ _id: string; n: number }>([
            { $match: { $or: chunk, ...also } },
            { $group: { _id: '$room_id', n: { $sum: 1 } } },
          ])
          .toArray(),
      ),
    );
    for (const groups of results) for (const { _id, n } of groups) counts.set(_id, n);
    return counts;
  }
}

// The messages an unread count counts: text, not sent by any of `exceptSenders` (the reader first).
// The reader alone, the common case, is a `$ne`, which FerretDB's build counts in SQL from the index
// (pushdown-zrooms.patch); a reader with blocks is a `$nin`, which its handler tests per message
// instead, the same answer (conformance: test/integration/rooms-store-conformance.int-spec.ts).
export function countedOf(exceptSenders: readonly string[]): Record<string, unknown> {
  const senders = [...new Set(exceptSenders)];
  return {
    kind: 'text',
    sender_id: senders.length === 1 ? { $ne: senders[0] } : { $nin: senders },
  };
}

// `$or` terms UNREAD_TERMS at a time (FerretDB's build pushes a $or of at most 1000 terms down to SQL)
function chunked<T>(terms: readonly T[]): T[][] {
  const chunks: T[][] = [];
  for (let start = 0; start < terms.length; start += UNREAD_TERMS)
    chunks.push(terms.slice(start, start + UNREAD_TERMS));
  return chunks;
}
