import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Collection } from 'mongodb';
import type { Model } from 'mongoose';
import { SETTINGS, type Settings } from '../../config/settings';
import { ContentCipher } from '../../common/crypto/content-cipher';
import { withEncryptedFileName } from '../../common/crypto/file-names';
import { RoomMessage } from './schemas/room-message.schema';
import type { NewRoomMessage, RoomMessageRecord } from './room.types';
import { plainKey } from '../../common/composite-key';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { isDuplicateKey } from '../../common/store-errors';
import { newId } from '../../common/ids';
import { RoomMessageEdits, type DeleteOutcome, type EditOutcome } from './room-message-edits';
import { dedupKeyOf, messageIdOf, minimized, sentAs, storedRecord, toRecord } from './room-message-records';
import { RoomMessageReencryption } from './room-message-reencryption';
import { RoomMessageRetention } from './room-message-retention';
import { RoomMessageUnread, type UnreadWindow } from './room-message-unread';

export type { DeleteOutcome, EditOutcome, UnreadWindow };

export const ROOM_CIPHER = Symbol('ROOM_CIPHER');
// each failed attempt means another writer took that seq first; 64 in a row would take 64 writers
// landing in the same instant on one room
const INSERT_ATTEMPTS = 64;
const HEADS_KEPT = 10_000;

export interface Appended {
  message: RoomMessageRecord;
  // true: the client_id was seen before and this is the stored copy
  duplicate: boolean;
}

// chat_messages. Content is encrypted on the way in and decrypted on the way out; every read takes
// the room id, which the caller has checked membership of.
// Mongoose lives here only (here and in the helpers below, which only this class constructs). The
// append, its heads and the reads of messages are here; the rest is delegated by responsibility: the
// records (room-message-records), unread counts (room-message-unread), edits and soft deletes
// (room-message-edits), retention (room-message-retention), key rotation (room-message-reencryption).
@Injectable()
export class RoomMessagesRepository implements OnModuleInit {
  // the last seq this instance stored per room; a stale one (another instance wrote since) costs one
  // failed insert and a read of the head
  private readonly heads = new Map<string, number>();
  // inserts refused because another writer had taken the seq (bench:rooms prints it)
  conflicts = 0;
  private readonly unread: RoomMessageUnread;
  private readonly edits: RoomMessageEdits;
  private readonly retention: RoomMessageRetention;
  private readonly reencryption: RoomMessageReencryption;

  constructor(
    @InjectModel(RoomMessage.name) private readonly messages: Model<RoomMessage>,
    @Inject(ROOM_CIPHER) private readonly cipher: ContentCipher,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {
    this.unread = new RoomMessageUnread(messages);
    this.edits = new RoomMessageEdits(messages, cipher, (roomId, messageId) => this.find(roomId, messageId));
    this.retention = new RoomMessageRetention(messages, this.settings);
    this.reencryption = new RoomMessageReencryption(messages, cipher);
  }

  async onModuleInit(): Promise<void> {
    await this.messages.createIndexes();
    await this.retention.ensureRetentionIndex();
  }

  // Stores the message at the room's next seq: insert at head + 1, and on a duplicate key either give
  // back the stored copy (same client_id: its `_id` is derived from it) or read the head again
  // (another writer took that seq). Gap-free and unique on any store whose unique indexes hold
  // (store conformance suite), with no counter document (FerretDB 1.24 loses concurrent $inc). The
  // head is remembered per room, so the usual append is one insert: reading it costs a scan of the
  // collection on FerretDB, which pushes down only `_id` filters.
  // A resend is known by its key alone (dedupKeyOf: room, sender, client_id, escaped), and the
  // stored copy found under it is checked to be the sender's (sentAs): a key stored before keys were
  // escaped may name another sender's message, which is never given back as this one's.
  // `beforeAttempt` runs before each insert attempt (0 first, then after each lost seq): the caller's
  // checks of the writer, again (RoomMessagesService.send).
  async append(
    input: NewRoomMessage,
    floor = 0,
    now = new Date(),
    beforeAttempt?: (attempt: number) => Promise<void>,
  ): Promise<Appended> {
    const dedupKey =
      input.client_id !== undefined ? dedupKeyOf(input.room_id, input.sender_id, input.client_id) : undefined;
    const derived = input.id === undefined && dedupKey !== undefined;
    const id = input.id ?? (dedupKey !== undefined ? messageIdOf(dedupKey) : newId());
    if (derived) {
      const earlier = await this.sentUnderPlainKey(input, dedupKey);
      if (earlier) return { message: toRecord(this.cipher, earlier), duplicate: true };
    }
    let head = this.heads.get(input.room_id);
    for (let attempt = 0; attempt < INSERT_ATTEMPTS; attempt++) {
      if (beforeAttempt) await beforeAttempt(attempt);
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
      const metadata = (input.metadata !== undefined ? minimized(input.metadata) : undefined) as
        Record<string, unknown> | undefined;
      // a shared file's name is encrypted like content (docs/protocol.md, "Rooms", Store)
      if (metadata !== undefined) document.metadata = withEncryptedFileName(metadata, this.cipher);
      try {
        // The hottest write of rooms goes to the driver directly, the schema's fields named one by one
        // above: mongoose's document, casting and save hooks cost more Node CPU than the insert
        // (bench/README.md, "Rooms"). The store holds what create() stored (room-messages.int-spec).
        await (this.messages.collection as unknown as Collection<RoomMessage>).insertOne(document);
        this.remember(input.room_id, seq);
        return { message: storedRecord(this.cipher, document, input.content, metadata), duplicate: false };
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
      }
      this.conflicts++;
      if (dedupKey !== undefined || input.id !== undefined) {
        const stored = await this.messages.findOne({ _id: id }).lean<RoomMessage>();
        if (stored && derived && !sentAs(stored, input))
          throw new DomainException(
            ErrorCode.INVALID_MESSAGE,
            'This client_id cannot be used in this room; send the message with another.',
          );
        if (stored) return { message: toRecord(this.cipher, stored), duplicate: true };
      }
      head = undefined;
    }
    throw new Error('no free seq after many attempts');
  }

  // Whether the sender's message with this client_id is stored in the room (deleted or not): a resend
  // of it is answered with that one, and stores nothing (append). One read by `_id`.
  async sentBefore(roomId: string, senderId: string, clientId: string): Promise<boolean> {
    const id = messageIdOf(dedupKeyOf(roomId, senderId, clientId));
    return (await this.messages.countDocuments({ _id: id, room_id: roomId, sender_id: senderId })) === 1;
  }

  // A message sent before keys were escaped by a sender whose id holds `|` or `\` (the two keys
  // differ; a rolling deploy's other version still writes so) was stored under the plain key's id: a
  // resend of it is that message. Found with its fields, as a plain key may name another sender's
  // message. One read, for those senders only.
  private async sentUnderPlainKey(input: NewRoomMessage, dedupKey: string): Promise<RoomMessage | null> {
    const plain = plainKey([input.room_id, input.sender_id, input.client_id as string]);
    if (plain === dedupKey) return null;
    return this.messages
      .findOne({
        _id: messageIdOf(plain),
        room_id: input.room_id,
        sender_id: input.sender_id,
        client_id: input.client_id,
      })
      .lean<RoomMessage>();
  }

  async headSeq(roomId: string): Promise<number> {
    const head = await this.messages
      .findOne({ room_id: roomId }, { seq: 1 })
      .sort({ seq: -1 })
      .lean<{ seq: number }>();
    return head?.seq ?? 0;
  }

  // The time of each room's newest message (RoomMessageUnread.newestTimes), looked for from the
  // room's noted last_seq up, or from the head this instance knows when that is higher (its own
  // inserts, the bus's messages): both are seqs handed out, lower bounds of the head. Rooms with no
  // message from there on (retention removed it) are left out: their noted time stands.
  newestTimes(rooms: ReadonlyArray<{ roomId: string; floor: number }>): Promise<Map<string, Date>> {
    return this.unread.newestTimes(
      rooms.map(({ roomId, floor }) => ({ roomId, floor: Math.max(floor, this.heads.get(roomId) ?? 0) })),
    );
  }

  // the messages of `ids` in the room (any order), with the change number each carries
  async some(roomId: string, ids: string[]): Promise<RoomMessageRecord[]> {
    if (ids.length === 0) return [];
    const found = await this.messages.find({ _id: { $in: ids }, room_id: roomId }).lean<RoomMessage[]>();
    return found.map((message) => toRecord(this.cipher, message));
  }

  async find(roomId: string, messageId: string): Promise<RoomMessageRecord | null> {
    const found = await this.messages.findOne({ _id: messageId, room_id: roomId }).lean<RoomMessage>();
    return found ? toRecord(this.cipher, found) : null;
  }

  // Up to `limit` messages after `seq`, oldest first (a resume).
  async after(roomId: string, seq: number, limit: number): Promise<RoomMessageRecord[]> {
    const found = await this.messages
      .find({ room_id: roomId, seq: { $gt: seq } })
      .sort({ seq: 1 })
      .limit(limit)
      .lean<RoomMessage[]>();
    return found.map((message) => toRecord(this.cipher, message));
  }

  // The `limit` messages before `seq` (all the newest when undefined), returned oldest first.
  async before(roomId: string, seq: number | undefined, limit: number): Promise<RoomMessageRecord[]> {
    const filter = seq === undefined ? { room_id: roomId } : { room_id: roomId, seq: { $lt: seq } };
    const found = await this.messages.find(filter).sort({ seq: -1 }).limit(limit).lean<RoomMessage[]>();
    return found.reverse().map((message) => toRecord(this.cipher, message));
  }

  // Unread counts after each window's read mark, every room's window in one store command
  // (RoomMessageUnread.unreadOf).
  unreadOf(
    windows: readonly UnreadWindow[],
    exceptSenders: readonly string[],
    window: number,
  ): Promise<Map<string, { count: number; more: boolean }>> {
    return this.unread.unreadOf(windows, exceptSenders, window);
  }

  // the later edit to reach the server stands; the caller holds the message's lock (RoomMessageEdits.edit)
  edit(
    roomId: string,
    messageId: string,
    content: string,
    at: Date,
    clientId?: string,
    take?: () => Promise<number>,
  ): Promise<EditOutcome> {
    return this.edits.edit(roomId, messageId, content, at, clientId, take);
  }

  // the message keeps its place and loses its text, history and file; the caller holds the message's
  // lock (RoomMessageEdits.softDelete)
  softDelete(
    roomId: string,
    messageId: string,
    by: string,
    clientId?: string,
    now = new Date(),
    take?: () => Promise<number>,
  ): Promise<DeleteOutcome> {
    return this.edits.softDelete(roomId, messageId, by, clientId, now, take);
  }

  // key rotation (room-message-reencryption): the messages holding fields written with an older key,
  // and the rewrite of one under its lock
  messagesWithOldKeys(): AsyncGenerator<string> {
    return this.reencryption.withOldKeys();
  }

  reencrypt(messageId: string): Promise<boolean> {
    return this.reencryption.reencrypt(messageId);
  }

  // rooms with messages older than `cutoff`
  roomsBefore(cutoff: Date): Promise<string[]> {
    return this.retention.roomsBefore(cutoff);
  }

  // the files shared by messages older than `cutoff`, by room
  filesBefore(cutoff: Date): Promise<Map<string, string[]>> {
    return this.retention.filesBefore(cutoff);
  }

  // those of `fileIds` some message of the room still shares
  filesInUse(roomId: string, fileIds: string[]): Promise<Set<string>> {
    return this.retention.filesInUse(roomId, fileIds);
  }

  deleteOlderThan(cutoff: Date): Promise<number> {
    return this.retention.deleteOlderThan(cutoff);
  }

  // `seq`, or the room's newest seq when `seq` lies past it: how far a read mark may reach. What this
  // instance knows of the head (its own inserts, the messages the bus brought) and `floor` (the room's
  // last_seq, a seq it handed out: retention may have removed the message since) are lower bounds of
  // it, so the store is read only for a seq past both; the head read is remembered (the bus keeps it
  // going), so the next reads of the room need none.
  async readableUpTo(roomId: string, seq: number, floor = 0): Promise<number> {
    const held = this.heads.get(roomId) ?? 0;
    const known = Math.max(floor, held);
    if (seq <= known) return seq;
    const head = await this.headSeq(roomId);
    if (head > held) this.remember(roomId, head);
    return Math.min(seq, Math.max(known, head));
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
}
