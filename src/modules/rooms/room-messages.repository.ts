import { createHash } from 'node:crypto';
import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Collection } from 'mongodb';
import type { Model } from 'mongoose';
import { SETTINGS, type Settings } from '../../config/settings';
import { ContentCipher } from '../../common/crypto/content-cipher';
import { RoomMessage } from './schemas/room-message.schema';
import { CLIENT_IDS_KEPT } from './room-rules';
import type { NewRoomMessage, RoomMessageRecord } from './room.types';
import { isDuplicateKey } from '../../common/store-errors';
import { newId } from '../../common/ids';

export const ROOM_CIPHER = Symbol('ROOM_CIPHER');
// each failed attempt means another writer took that seq first; 64 in a row would take 64 writers
// landing in the same instant on one room
const INSERT_ATTEMPTS = 64;
const HEADS_KEPT = 10_000;
const TTL_BACKSTOP_MS = 86_400_000;
// rooms per unread aggregate (FerretDB's build pushes a $or of at most 1000 terms down to SQL)
const UNREAD_TERMS = 500;

// a room's unread window: the member's read mark, and a seq known to have been stored (last_seq)
export interface UnreadWindow {
  roomId: string;
  after: number;
  stored?: number;
}

export type EditOutcome = 'edited' | 'superseded' | 'gone';
// 'repeat': deleted already by this user with this client_id (a copy of the delete sent again)
export type DeleteOutcome = 'deleted' | 'repeat' | 'gone';

export interface Appended {
  message: RoomMessageRecord;
  // true: the client_id was seen before and this is the stored copy
  duplicate: boolean;
}

// chat_messages. Content is encrypted on the way in and decrypted on the way out; every read takes
// the room id, which the caller has checked membership of.
@Injectable()
export class RoomMessagesRepository implements OnModuleInit {
  private readonly logger = new Logger('rooms');
  // the last seq this instance stored per room; a stale one (another instance wrote since) costs one
  // failed insert and a read of the head
  private readonly heads = new Map<string, number>();
  // inserts refused because another writer had taken the seq (bench:rooms prints it)
  conflicts = 0;

  constructor(
    @InjectModel(RoomMessage.name) private readonly messages: Model<RoomMessage>,
    @Inject(ROOM_CIPHER) private readonly cipher: ContentCipher,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.messages.createIndexes();
    await this.ensureRetentionIndex();
  }

  // Stores the message at the room's next seq: insert at head + 1, and on a duplicate key either give
  // back the stored copy (same client_id: its `_id` is derived from it) or read the head again
  // (another writer took that seq). Gap-free and unique on any store whose unique indexes hold
  // (store conformance suite), with no counter document (FerretDB 1.24 loses concurrent $inc). The
  // head is remembered per room, so the usual append is one insert: reading it costs a scan of the
  // collection on FerretDB, which pushes down only `_id` filters.
  async append(input: NewRoomMessage, floor = 0, now = new Date()): Promise<Appended> {
    const dedupKey =
      input.client_id !== undefined ? `${input.room_id}|${input.sender_id}|${input.client_id}` : undefined;
    const id = input.id ?? (dedupKey !== undefined ? messageIdOf(dedupKey) : newId());
    let head = this.heads.get(input.room_id);
    for (let attempt = 0; attempt < INSERT_ATTEMPTS; attempt++) {
      head ??= await this.headSeq(input.room_id);
      const seq = Math.max(head, floor) + 1;
      const document: RoomMessage = {
        _id: id,
        room_id: input.room_id,
        seq,
        sender_id: input.sender_id,
        kind: input.kind,
        dedup_key: dedupKey ?? `${input.room_id}|#${id}`,
        created_at: now,
        edited_at: null,
        deleted_at: null,
        deleted_by: null,
      };
      if (input.client_id !== undefined) document.client_id = input.client_id;
      if (input.content !== undefined) document.content = this.cipher.encrypt(input.content);
      if (input.file_id !== undefined) document.file_id = input.file_id;
      if (input.reply_to !== undefined) document.reply_to = input.reply_to;
      const metadata = input.metadata !== undefined ? minimized(input.metadata) : undefined;
      if (metadata !== undefined) document.metadata = metadata as Record<string, unknown>;
      try {
        // The hottest write of rooms goes to the driver directly, the schema's fields named one by one
        // above: mongoose's document, casting and save hooks cost more Node CPU than the insert
        // (bench/README.md, "Rooms"). The store holds what create() stored (room-messages.int-spec).
        await (this.messages.collection as unknown as Collection<RoomMessage>).insertOne(document);
        this.remember(input.room_id, seq);
        return { message: this.storedRecord(document, input.content), duplicate: false };
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
      }
      this.conflicts++;
      if (dedupKey !== undefined || input.id !== undefined) {
        const stored = await this.messages.findOne({ _id: id }).lean<RoomMessage>();
        if (stored) return { message: this.toRecord(stored), duplicate: true };
      }
      head = undefined;
    }
    throw new Error('no free seq after many attempts');
  }

  async headSeq(roomId: string): Promise<number> {
    const head = await this.messages
      .findOne({ room_id: roomId }, { seq: 1 })
      .sort({ seq: -1 })
      .lean<{ seq: number }>();
    return head?.seq ?? 0;
  }

  // the messages of `ids` in the room (any order), with the change number each carries
  async some(roomId: string, ids: string[]): Promise<RoomMessageRecord[]> {
    if (ids.length === 0) return [];
    const found = await this.messages.find({ _id: { $in: ids }, room_id: roomId }).lean<RoomMessage[]>();
    return found.map((message) => this.toRecord(message));
  }

  async find(roomId: string, messageId: string): Promise<RoomMessageRecord | null> {
    const found = await this.messages.findOne({ _id: messageId, room_id: roomId }).lean<RoomMessage>();
    return found ? this.toRecord(found) : null;
  }

  // Up to `limit` messages after `seq`, oldest first (a resume).
  async after(roomId: string, seq: number, limit: number): Promise<RoomMessageRecord[]> {
    const found = await this.messages
      .find({ room_id: roomId, seq: { $gt: seq } })
      .sort({ seq: 1 })
      .limit(limit)
      .lean<RoomMessage[]>();
    return found.map((message) => this.toRecord(message));
  }

  // The `limit` messages before `seq` (all the newest when undefined), returned oldest first.
  async before(roomId: string, seq: number | undefined, limit: number): Promise<RoomMessageRecord[]> {
    const filter = seq === undefined ? { room_id: roomId } : { room_id: roomId, seq: { $lt: seq } };
    const found = await this.messages.find(filter).sort({ seq: -1 }).limit(limit).lean<RoomMessage[]>();
    return found.reverse().map((message) => this.toRecord(message));
  }

  // Unread counts: the text messages not sent by `exceptSender` among the first `window` messages
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
    exceptSender: string,
    window: number,
  ): Promise<Map<string, { count: number; more: boolean }>> {
    // the rooms whose `stored` does not lie past their window: the messages past it counted beside
    const looked = windows.filter(({ after, stored }) => stored !== undefined && stored <= after + window);
    const [counts, past] = await Promise.all([
      this.countByRoom(
        windows.map(({ roomId, after }) => ({ room_id: roomId, seq: { $gt: after, $lte: after + window } })),
        { kind: 'text', sender_id: { $ne: exceptSender } },
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
            await this.unreadAlone(
              roomId,
              after,
              exceptSender,
              window,
              counts.get(roomId) ?? 0,
              past.has(roomId),
            ),
          ] as const,
      ),
    );
    for (const [roomId, unread] of single) result.set(roomId, unread);
    return result;
  }

  // one room's window after `seq`, counted as `count` already; `followed`: messages are known to follow
  // it (else one look past it tells)
  private async unreadAlone(
    roomId: string,
    seq: number,
    exceptSender: string,
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
    const [counted, next] = await Promise.all([
      this.countByRoom([{ room_id: roomId, seq: { $gt: after, $lte: after + window } }], {
        kind: 'text',
        sender_id: { $ne: exceptSender },
      }),
      this.follows(roomId, after + window),
    ]);
    return { count: counted.get(roomId) ?? 0, more: next };
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
    const chunks: Array<Array<Record<string, unknown>>> = [];
    for (let start = 0; start < terms.length; start += UNREAD_TERMS)
      chunks.push(terms.slice(start, start + UNREAD_TERMS));
    const results = await Promise.all(
      chunks.map((chunk) =>
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

  // Keeps the text before the edit. Of two edits of one message the later to reach the server (`at`)
  // stands, and a copy of an edit applied already (its `clientId` again: a resend after a cut socket,
  // which its first instance handled late) changes nothing: 'superseded'. 'gone': deleted or never
  // there. The caller holds the message's lock: FerretDB 1.24's compare-and-set is not atomic.
  // `take` (the room's change log, docs/protocol.md "Change log"): called once the edit is to be
  // written, its number stored on the message in the same write as the edit.
  async edit(
    roomId: string,
    messageId: string,
    content: string,
    at: Date,
    clientId?: string,
    take?: () => Promise<number>,
  ): Promise<EditOutcome> {
    const current = await this.messages
      .findOne({ _id: messageId, room_id: roomId, deleted_at: null })
      .lean<RoomMessage>();
    if (!current) return 'gone';
    if (clientId !== undefined && current.edit_client_ids?.includes(clientId)) return 'superseded';
    if (current.edited_at && current.edited_at > at) return 'superseded';
    const history = current.content !== undefined ? [{ content: current.content, at }] : [];
    const set: Record<string, unknown> = { content: this.cipher.encrypt(content), edited_at: at };
    if (clientId !== undefined)
      set.edit_client_ids = [...(current.edit_client_ids ?? []), clientId].slice(-CLIENT_IDS_KEPT);
    // an edit that arrived later has landed meanwhile (ties: the later write, as one socket's frames
    // are handled in order)
    const newer: Record<string, unknown>[] = [{ $or: [{ edited_at: null }, { edited_at: { $lte: at } }] }];
    if (take) {
      set.change = await take();
      // and only over a lower change number (as a reaction's: ReactionsRepository.set)
      newer.push({ $or: [{ change: null }, { change: { $lt: set.change } }] });
    }
    const result = await this.messages.updateOne(
      { _id: messageId, room_id: roomId, deleted_at: null, $and: newer },
      { $set: set, $push: { edits: { $each: history } } },
    );
    if (result.matchedCount === 1) return 'edited';
    return (await this.find(roomId, messageId))?.deleted_at === null ? 'superseded' : 'gone';
  }

  // Soft delete: the message keeps its place (seq, sender, time) and loses its text, history and
  // file (`file_id` and `metadata.file`: the caller discards the file). A copy of the delete that
  // removed it (the same user and client_id: a resend after a cut socket) is 'repeat'; any other
  // delete of a deleted message, 'gone'. The caller holds the message's lock. The message is read
  // first (its metadata, written only at insert), so `take` (as for edit) takes no number for a
  // delete that finds it deleted already.
  async softDelete(
    roomId: string,
    messageId: string,
    by: string,
    clientId?: string,
    now = new Date(),
    take?: () => Promise<number>,
  ): Promise<DeleteOutcome> {
    const set: Record<string, unknown> = { deleted_at: now, deleted_by: by };
    const unset: Record<string, ''> = { content: '', edits: '', file_id: '' };
    if (clientId !== undefined) set.delete_client_id = clientId;
    const live = await this.messages
      .findOne({ _id: messageId, room_id: roomId, deleted_at: null }, { metadata: 1 })
      .lean<Pick<RoomMessage, 'metadata'>>();
    if (live?.metadata?.file !== undefined) {
      // the whole field written again (no dotted path: one semantics fewer to trust the store with)
      const rest = { ...live.metadata };
      delete rest.file;
      if (Object.keys(rest).length > 0) set.metadata = rest;
      else unset.metadata = '';
    }
    if (live && take) set.change = await take();
    const result = live
      ? await this.messages.updateOne(
          { _id: messageId, room_id: roomId, deleted_at: null },
          { $set: set, $unset: unset },
        )
      : { matchedCount: 0 };
    if (result.matchedCount === 1) return 'deleted';
    if (clientId === undefined) return 'gone';
    const stored = await this.messages
      .findOne({ _id: messageId, room_id: roomId }, { deleted_by: 1, delete_client_id: 1 })
      .lean<Pick<RoomMessage, 'deleted_by' | 'delete_client_id'>>();
    return stored?.deleted_by === by && stored.delete_client_id === clientId ? 'repeat' : 'gone';
  }

  // rooms with messages older than `cutoff`
  async roomsBefore(cutoff: Date): Promise<string[]> {
    return (await this.messages.distinct('room_id', { created_at: { $lt: cutoff } })) as string[];
  }

  // the files shared by messages older than `cutoff`, by room
  async filesBefore(cutoff: Date): Promise<Map<string, string[]>> {
    const found = await this.messages
      .find({ created_at: { $lt: cutoff }, file_id: { $exists: true } }, { room_id: 1, file_id: 1 })
      .lean<Array<{ room_id: string; file_id: string }>>();
    const byRoom = new Map<string, string[]>();
    for (const { room_id, file_id } of found) byRoom.set(room_id, [...(byRoom.get(room_id) ?? []), file_id]);
    return byRoom;
  }

  // those of `fileIds` some message of the room still shares
  async filesInUse(roomId: string, fileIds: string[]): Promise<Set<string>> {
    const found = await this.messages
      .find({ room_id: roomId, file_id: { $in: fileIds } }, { file_id: 1 })
      .lean<Array<{ file_id: string }>>();
    return new Set(found.map((message) => message.file_id));
  }

  async deleteOlderThan(cutoff: Date): Promise<number> {
    const result = await this.messages.deleteMany({ created_at: { $lt: cutoff } });
    return result.deletedCount;
  }

  // The retention sweep (RoomRetentionService) removes expired messages on every store, after noting
  // each room's highest seq. FerretDB 1.24 refuses TTL indexes (store conformance suite) and gets a
  // plain index for the sweep; MongoDB gets a TTL index a day past the retention as a backstop for an
  // instance that stopped sweeping.
  private async ensureRetentionIndex(): Promise<void> {
    const expireAfterSeconds = Math.floor((this.settings.rooms.retentionMs + TTL_BACKSTOP_MS) / 1000);
    const collection = this.messages.collection;
    try {
      await collection.createIndex({ created_at: 1 }, { name: 'created_at_ttl', expireAfterSeconds });
    } catch (error) {
      const code = (error as { code?: number; codeName?: string }).codeName;
      if (code === 'IndexOptionsConflict' || code === 'IndexKeySpecsConflict') {
        // ROOM_RETENTION changed since the index was made
        await this.messages.db.db!.command({
          collMod: collection.collectionName,
          index: { name: 'created_at_ttl', expireAfterSeconds },
        });
        return;
      }
      this.logger.log(
        { event: 'ttl_unavailable' },
        'no TTL index on this store; the retention sweep removes old messages',
      );
      await collection.createIndex({ created_at: 1 }, { name: 'created_at_1' });
    }
  }

  // A message of the room stored elsewhere (another instance's, seen on the bus): the next append here
  // starts past it instead of colliding with it.
  noteStored(roomId: string, seq: number): void {
    const head = this.heads.get(roomId);
    if (head !== undefined && seq > head) this.heads.set(roomId, seq);
  }

  private remember(roomId: string, seq: number): void {
    this.heads.delete(roomId);
    this.heads.set(roomId, seq);
    // the oldest entry (Maps keep insertion order) goes first
    if (this.heads.size > HEADS_KEPT) this.heads.delete(this.heads.keys().next().value as string);
  }

  // The record of a message just stored: its content is the text given (decrypting what was just
  // encrypted would cost a decipher per message for the same string).
  private storedRecord(document: RoomMessage, content: string | undefined): RoomMessageRecord {
    const record = this.toRecord({ ...document, content: undefined });
    if (content !== undefined) record.content = content;
    return record;
  }

  private toRecord(message: RoomMessage): RoomMessageRecord {
    const record: RoomMessageRecord = {
      id: message._id,
      room_id: message.room_id,
      seq: message.seq,
      sender_id: message.sender_id,
      kind: message.kind === 'system' ? 'system' : 'text',
      created_at: message.created_at,
      edited_at: message.edited_at ?? null,
      deleted_at: message.deleted_at ?? null,
    };
    if (message.client_id !== undefined) record.client_id = message.client_id;
    if (message.content !== undefined && !message.deleted_at)
      record.content = this.cipher.decrypt(message.content);
    if (message.file_id !== undefined) record.file_id = message.file_id;
    if (message.reply_to !== undefined) record.reply_to = message.reply_to;
    if (message.metadata !== undefined) record.metadata = message.metadata;
    if (typeof message.change === 'number') record.change = message.change;
    return record;
  }
}

// A message sent with a client_id has an id derived from (room, sender, client_id): a resend finds the
// stored copy by `_id`, the one lookup every store does without scanning.
function messageIdOf(dedupKey: string): string {
  return createHash('sha256').update(dedupKey).digest('base64url').slice(0, 32);
}

// What mongoose's `minimize` (on by default) makes of a Mixed path such as `metadata` when a document
// is saved: undefined values and empty objects are dropped at every depth, an object left empty is
// not stored at all; objects directly inside arrays are kept even when empty. Other values are kept
// as they are.
function minimized(value: unknown, inArray = false): unknown {
  if (Array.isArray(value)) return value.map((item) => minimized(item, true));
  if (typeof value !== 'object' || value === null) return value;
  const prototype = Object.getPrototypeOf(value) as unknown;
  if (prototype !== Object.prototype && prototype !== null) return value;
  const result: Record<string, unknown> = {};
  let kept = false;
  for (const [key, item] of Object.entries(value)) {
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') continue;
    const copy = minimized(item);
    if (copy === undefined) continue;
    result[key] = copy;
    kept = true;
  }
  return kept || inArray ? result : undefined;
}
