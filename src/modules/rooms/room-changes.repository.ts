import { Injectable, OnModuleInit } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { RoomChange } from './schemas/room-change.schema';
import { compositeKey } from '../../common/composite-key';
import { isDuplicateKey } from '../../common/store-errors';

// each failed attempt means another writer took that number first (as for a message's seq)
const INSERT_ATTEMPTS = 64;
const HEADS_KEPT = 10_000;
// a remembered head is used this long: retention deletes old entries below a room's head, and a head
// remembered from before could otherwise name a number retention freed (far older than this)
const HEAD_KEPT_MS = 60_000;
const RECENT_KEPT_MS = 10 * HEAD_KEPT_MS;
// the newest entries a first join's start looks at
const START_LOOKED_AT = 100;

export interface ChangeEntry {
  n: number;
  message_id: string;
  reaction_id?: string;
  at: Date;
  void: boolean;
}

// chat_room_changes: the rooms' change logs (docs/protocol.md, "Change log"). Every read takes the
// room id, which the caller has checked membership of.
@Injectable()
export class RoomChangesRepository implements OnModuleInit {
  // the last number this instance took per room
  private readonly heads = new Map<string, { n: number; at: number }>();
  // inserts refused because another writer had taken the number
  conflicts = 0;

  constructor(@InjectModel(RoomChange.name) private readonly changes: Model<RoomChange>) {}

  async onModuleInit(): Promise<void> {
    await this.changes.createIndexes();
  }

  // Takes the room's next change number: inserted at the head + 1 and retried on the unique `_id`
  // (another writer took it), as a message's seq (RoomMessagesRepository.append). A number is only
  // ever inserted above one that exists (the head read, or one this instance inserted), and entries
  // are never deleted below a room's head (retention keeps it), so the numbers a reader sees are a
  // contiguous run and a later one is always above them (store conformance suite).
  async take(roomId: string, messageId: string, messageAt: Date, reactionId?: string): Promise<number> {
    const known = this.heads.get(roomId);
    let head = known && Date.now() - known.at < HEAD_KEPT_MS ? known.n : undefined;
    for (let attempt = 0; attempt < INSERT_ATTEMPTS; attempt++) {
      head ??= await this.head(roomId);
      const n = head + 1;
      const document: RoomChange = {
        _id: changeId(roomId, n),
        room_id: roomId,
        n,
        message_id: messageId,
        message_at: messageAt,
        at: new Date(),
      };
      if (reactionId !== undefined) document.reaction_id = reactionId;
      try {
        await this.changes.collection.insertOne(document as unknown as Record<string, unknown>);
        this.remember(roomId, n);
        return n;
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
      }
      this.conflicts++;
      head = undefined;
    }
    throw new Error('no free change number after many attempts');
  }

  // The change did not happen (superseded, a copy of one applied, gone meanwhile): readers pass over
  // it at once. Only the writer that took the number writes its entry.
  async abandon(roomId: string, n: number): Promise<void> {
    await this.changes.updateOne({ _id: changeId(roomId, n) }, { $set: { void: true } });
  }

  // the room's highest change number (0: none yet)
  async head(roomId: string): Promise<number> {
    const head = await this.changes
      .findOne({ room_id: roomId }, { n: 1 })
      .sort({ n: -1 })
      .lean<{ n: number }>();
    return head?.n ?? 0;
  }

  // Where a first join starts a device's log (docs/protocol.md, "Change log"): the room's head, or
  // just below the lowest entry taken since `since` that is not void, of the newest `limit` (a change
  // still being written may reach the device only by its frame; below it, the device's first read
  // names it again). One read, as the head's.
  async start(roomId: string, since: Date, limit = START_LOOKED_AT): Promise<number> {
    const newest = await this.changes
      .find({ room_id: roomId }, { n: 1, at: 1, void: 1 })
      .sort({ n: -1 })
      .limit(limit)
      .lean<Array<Pick<RoomChange, 'n' | 'at' | 'void'>>>();
    let start = newest[0]?.n ?? 0;
    for (const entry of newest)
      if (entry.void !== true && entry.at >= since) start = Math.min(start, entry.n - 1);
    // every one looked at is that recent: an older one may be too
    const last = newest.at(-1);
    if (newest.length === limit && last && last.at >= since) start = Math.min(start, last.n - 1);
    return start;
  }

  // up to `limit` entries after `n`, in number order
  async after(roomId: string, n: number, limit: number): Promise<ChangeEntry[]> {
    const found = await this.changes
      .find({ room_id: roomId, n: { $gt: n } })
      .sort({ n: 1 })
      .limit(limit)
      .lean<RoomChange[]>();
    return found.map((entry) => ({
      n: entry.n,
      message_id: entry.message_id,
      ...(entry.reaction_id !== undefined ? { reaction_id: entry.reaction_id } : {}),
      at: entry.at,
      void: entry.void === true,
    }));
  }

  // Retention: the entries of the room's messages older than `cutoff` (removed with them), all but
  // the room's head, which keeps the numbering going, and any taken in the last RECENT_KEPT_MS: a
  // number freed here was taken before any head an instance remembers (HEAD_KEPT_MS), so it is never
  // taken again.
  async expire(roomId: string, cutoff: Date, now = Date.now()): Promise<void> {
    const head = await this.head(roomId);
    await this.changes.deleteMany({
      room_id: roomId,
      message_at: { $lt: cutoff },
      n: { $lt: head },
      at: { $lt: new Date(now - RECENT_KEPT_MS) },
    });
  }

  private remember(roomId: string, n: number): void {
    this.heads.delete(roomId);
    this.heads.set(roomId, { n, at: Date.now() });
    if (this.heads.size > HEADS_KEPT) this.heads.delete(this.heads.keys().next().value as string);
  }
}

// an entry's `_id`, `room|n` (compositeKey; the plain join, as a room id holds neither `|` nor `\`)
function changeId(roomId: string, n: number): string {
  return compositeKey([roomId, String(n)]);
}
