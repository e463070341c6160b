import type { Principal } from '../../common/auth/principal';
import type { RoomChangesPage, RoomMessageFrame } from '../../protocol/rooms';
import type { ReactionsRepository } from './reactions.repository';
import type { RoomChangesRepository } from './room-changes.repository';
import { messageFrame } from './room-frames';
import type { RoomMessagesRepository } from './room-messages.repository';
import type { RoomMessageRecord } from './room.types';

export const HISTORY_ON_JOIN = 100;
// messages to a page of a join's replay after last_seq (room-replays.ts)
export const REPLAY_PAGE = 100;
export const HISTORY_PAGE_MAX = 100;
// change-log entries per read (GET /rooms/:id/messages?changed_after=)
export const CHANGES_PAGE_MAX = 100;
// a change-log entry whose change its document does not carry yet is taken as settled (its writer
// died between taking the number and writing the change) once it is this old (docs/protocol.md,
// "Change log")
export const CHANGE_SETTLE_MS = 30_000;

// The reads of a room's messages for its members (RoomMessagesService.history, changedAfter,
// changeStart, replay): pages of history and of the change log, with their reactions.
export class RoomMessageReads {
  constructor(
    private readonly messages: RoomMessagesRepository,
    private readonly reactions: ReactionsRepository,
    private readonly changes: RoomChangesRepository,
    // the membership check (RoomMessagesService.memberOf)
    private readonly memberOf: (roomId: string, userId: string) => Promise<unknown>,
  ) {}

  // The newest `limit` messages before `before` (all when undefined), oldest first (PERSIST-002).
  // Members only, and admins: a reported message is read where it was written (moderation).
  async history(principal: Principal, roomId: string, before: number | undefined, limit: number) {
    // the page is read beside the membership check, and returned only once the check passed
    const [, page] = await Promise.all([
      principal.isAdmin ? undefined : this.memberOf(roomId, principal.userId),
      this.messages.before(roomId, before, Math.min(limit, HISTORY_PAGE_MAX)),
    ]);
    return this.withReactions(page);
  }

  // The messages changed after change number `after` (an edit, a delete, a reaction added or taken
  // back; docs/protocol.md, "Change log"), each once, as they are now (oldest first), read behind the
  // membership check as history is: a reconnecting device asks for these instead of reading again
  // every page it holds. One page of up to `limit` log entries: `changed_through` is where the next
  // read starts, `more` that one is due (`settling`: after a moment, an entry's change still being
  // written); `reset`: the number is not one this log can answer from (the device reads its pages
  // again). The store commands: the membership (two, beside the log read), the log, the messages and
  // their reactions: the same however many messages the device holds.
  async changedAfter(
    principal: Principal,
    roomId: string,
    after: number,
    limit = CHANGES_PAGE_MAX,
    now = Date.now(),
  ): Promise<RoomChangesPage> {
    const [, entries] = await Promise.all([
      principal.isAdmin ? undefined : this.memberOf(roomId, principal.userId),
      this.changes.after(roomId, after, Math.min(limit, CHANGES_PAGE_MAX)),
    ]);
    if (entries.length === 0) {
      const head = await this.changes.head(roomId);
      return after > head
        ? { items: [], changed_through: head, more: false, reset: true }
        : { items: [], changed_through: after, more: false };
    }
    const ids = [...new Set(entries.map((entry) => entry.message_id))];
    const [messages, reactions] = await Promise.all([
      this.messages.some(roomId, ids),
      this.reactions.stateOf(ids),
    ]);
    const byId = new Map(messages.map((message) => [message.id, message]));
    const changed = new Set<string>();
    let through = after;
    let settling = false;
    for (const entry of entries) {
      const message = byId.get(entry.message_id);
      const carried =
        entry.reaction_id !== undefined ? reactions.changes.get(entry.reaction_id) : message?.change;
      const done = carried !== undefined && carried >= entry.n;
      // gone (retention), abandoned, written, or its writer long gone
      if (!(message === undefined || entry.void || done || now - entry.at.getTime() > CHANGE_SETTLE_MS)) {
        // still being written: its frame follows, or the next read has it
        settling = true;
        continue;
      }
      if (!settling) through = entry.n;
      if (message !== undefined && (!entry.void || carried === entry.n)) changed.add(message.id);
    }
    const items = [...changed]
      .map((id) => byId.get(id) as RoomMessageRecord)
      .sort((a, b) => a.seq - b.seq)
      .map((message) => {
        // the numbers what it holds carries: a device applies a change of them only over an older one
        const frame = messageFrame(message, reactions.byMessage.get(message.id));
        if (message.change !== undefined) frame.metadata.change = message.change;
        const numbers = reactions.changesByMessage.get(message.id);
        if (numbers && !message.deleted_at) frame.metadata.reaction_changes = numbers;
        return frame;
      });
    const full = entries.length === Math.min(limit, CHANGES_PAGE_MAX);
    return {
      items,
      changed_through: through,
      more: settling || full,
      ...(settling ? { settling: true } : {}),
    };
  }

  // Where a first join starts the device's change log (docs/protocol.md, "Change log"): the room's
  // head, or below a change of the last CHANGE_SETTLE_MS, which may still be being written (its
  // frame, which may be lost, would then be its only way to the device): the device's first read
  // names those again. Read before the join's history.
  changeStart(roomId: string, now = Date.now()): Promise<number> {
    return this.changes.start(roomId, new Date(now - CHANGE_SETTLE_MS));
  }

  // A page of what a socket missed after `lastSeq` (a resume: up to `limit` messages, the next page
  // read after the last of them), or the newest messages on a first join. Read a page at a time as
  // the socket takes them (room-replays.ts): the whole of a room after last_seq read at once held
  // every message of it, decrypted and framed (docs/protocol.md, "Join replays").
  async replay(
    roomId: string,
    lastSeq: number | undefined,
    limit = REPLAY_PAGE,
  ): Promise<RoomMessageFrame[]> {
    const messages =
      lastSeq === undefined
        ? await this.messages.before(roomId, undefined, HISTORY_ON_JOIN)
        : await this.messages.after(roomId, lastSeq, Math.min(limit, REPLAY_PAGE));
    return this.withReactions(messages);
  }

  private async withReactions(messages: RoomMessageRecord[]): Promise<RoomMessageFrame[]> {
    const reactions = await this.reactions.forMessages(messages.map((message) => message.id));
    return messages.map((message) => messageFrame(message, reactions.get(message.id)));
  }
}
