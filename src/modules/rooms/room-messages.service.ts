import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { ThrottlerStorage } from '@nestjs/throttler';
import { SETTINGS, type Settings } from '../../config/settings';
import type { Principal } from '../../common/auth/principal';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { KeyedMutex } from '../../common/keyed-mutex';
import { FILE_STORE, type FileStore } from '../../infra/files/file-store';
import { SESSION_LOCK } from '../../infra/lock/lock';
import type { WriteLock } from '../../infra/lock/write.lock';
import type { RoomAckFrame, RoomChangesPage, RoomMessageFrame } from '../../protocol/rooms';
import type { Connection } from '../realtime/connection';
import { BlocksRepository } from './blocks.repository';
import { ParticipantsRepository } from './participants.repository';
import { ReactionsRepository, reactionIdOf } from './reactions.repository';
import { RoomChangesRepository } from './room-changes.repository';
import { ReadMarksRepository } from './read-marks.repository';
import { messageFrame } from './room-frames';
import { roomDocumentKey } from './room-locks';
import { RoomHub } from './room-hub';
import { RoomMessagesRepository } from './room-messages.repository';
import { requireCanWrite, requireMember, requireModerator } from './room-rules';
import {
  ROOM_FILE_SCOPE,
  roomFileScope,
  type NewRoomMessage,
  type ParticipantRecord,
  type RoomMessageRecord,
  type RoomRecord,
} from './room.types';
import { RoomsRepository } from './rooms.repository';

export const HISTORY_ON_JOIN = 100;
export const HISTORY_PAGE_MAX = 100;
// change-log entries per read (GET /rooms/:id/messages?changed_after=)
export const CHANGES_PAGE_MAX = 100;
// a change-log entry whose change its document does not carry yet is taken as settled (its writer
// died between taking the number and writing the change) once it is this old (docs/protocol.md,
// "Change log")
export const CHANGE_SETTLE_MS = 30_000;
const RATE_WINDOW_MS = 1000;
const NOTE_EVERY_MS = 60_000;
// how many messages after a member's read mark an unread count looks at
export const UNREAD_WINDOW = 100;

export interface Unread {
  count: number;
  // more messages follow the counted window: the count is a lower bound
  more: boolean;
}

// A message through the record path: its ack, the stored message, and whether it was stored before
// (a resend of its client_id: nothing else happened).
export interface Recorded {
  ack: RoomAckFrame;
  room: RoomRecord;
  message: RoomMessageRecord;
  duplicate: boolean;
}

export interface SendInput {
  roomId: string;
  content?: string;
  clientId?: string;
  replyTo?: string;
  fileId?: string;
}

// What happens to room messages: the one record path (store → ack → fan-out, MSG-002, PERSIST-001),
// history reads behind the membership check, edits, soft deletes, reactions and read marks.
@Injectable()
export class RoomMessagesService implements OnModuleInit {
  // this instance's writers to one room take turns: they would only collide on the same seq; other
  // instances' writers are sorted out by the unique index
  private readonly appends = new KeyedMutex();
  private readonly logger = new Logger('rooms');

  constructor(
    private readonly rooms: RoomsRepository,
    private readonly participants: ParticipantsRepository,
    private readonly messages: RoomMessagesRepository,
    private readonly reactions: ReactionsRepository,
    private readonly changes: RoomChangesRepository,
    private readonly readMarks: ReadMarksRepository,
    private readonly blocks: BlocksRepository,
    private readonly hub: RoomHub,
    @Inject(ThrottlerStorage) private readonly throttler: ThrottlerStorage,
    @Inject(SETTINGS) private readonly settings: Settings,
    @Inject(FILE_STORE) private readonly files: FileStore,
    // edits, deletes and reactions of one message are written one at a time on every instance
    @Inject(SESSION_LOCK) private readonly lock: WriteLock,
  ) {}

  // room members read the files shared in the room
  onModuleInit(): void {
    this.files.allowReaders(ROOM_FILE_SCOPE, async (principal, roomId) => {
      const participant = await this.participants.find(roomId, principal.userId);
      return participant?.state === 'member';
    });
  }

  async send(principal: Principal, input: SendInput, origin?: Connection): Promise<Recorded> {
    await this.checkRate(principal.userId);
    const { room, participant } = await this.memberOf(input.roomId, principal.userId);
    requireCanWrite(participant);
    if (room.kind === 'dm') await this.checkNotBlocked(room, principal.userId);
    if (input.replyTo !== undefined && !(await this.messages.find(room.id, input.replyTo)))
      throw new DomainException(ErrorCode.INVALID_MESSAGE, 'The message replied to is not in this room.');
    // an upload of the sender's, kept from now on and readable by the room's members (FILE_STORE)
    const file =
      input.fileId !== undefined
        ? await this.files.attach(input.fileId, principal.userId, roomFileScope(room.id))
        : undefined;
    return this.record(
      room,
      {
        room_id: room.id,
        sender_id: principal.userId,
        kind: 'text',
        content: input.content?.trim() ? input.content : undefined,
        client_id: input.clientId,
        reply_to: input.replyTo,
        file_id: file?.file_id,
        metadata: file
          ? { file: { name: file.name, size: file.size, mime_type: file.mime_type } }
          : undefined,
      },
      origin,
    );
  }

  // The one record path for every stored room message, people's and the server's (system messages of
  // joins, leaves and moderation): stored before the ack, acked to the sender's socket (a resend of a
  // client_id gets the stored copy's ack, and the copy is sent again), then sent to every other
  // member's socket on every instance.
  // `beforeFanOut` runs once the message is stored, before any member hears of it (an @ai reply
  // frees its room there, so a member who asks the instant the reply arrives is not refused).
  async record(
    room: RoomRecord,
    input: NewRoomMessage,
    origin?: Connection,
    beforeFanOut?: () => Promise<void>,
  ): Promise<Recorded> {
    const { message, duplicate } = await this.appends.run(room.id, () =>
      this.messages.append(input, room.last_seq),
    );
    if (beforeFanOut) await beforeFanOut();
    const ack: RoomAckFrame = {
      type: 'ack',
      room_id: room.id,
      message_id: message.id,
      seq: message.seq,
      timestamp: message.created_at.toISOString(),
    };
    if (message.client_id !== undefined) ack.client_id = message.client_id;
    if (origin) this.hub.send(origin, ack);
    // a resend's stored copy goes to the room again, as it is now: the first copy's instance may have
    // died (or the store run its insert late) before anyone was sent it; a socket that has the seq
    // drops it (docs/protocol.md, "Rooms")
    this.hub.toRoom(room.id, messageFrame(message), origin);
    if (duplicate) return { ack, room, message, duplicate };
    // the room's activity time (the list sorts by it) at most once a minute: one write fewer per message
    if (
      !room.last_message_at ||
      message.created_at.getTime() - room.last_message_at.getTime() >= NOTE_EVERY_MS
    )
      await this.lock
        .run(roomDocumentKey(room.id), () => this.rooms.noteMessage(room.id, message.seq, message.created_at))
        .catch(() => undefined);
    return { ack, room, message, duplicate };
  }

  async system(room: RoomRecord, actorId: string, action: string, target?: string): Promise<void> {
    await this.record(room, {
      room_id: room.id,
      sender_id: actorId,
      kind: 'system',
      content: action,
      metadata: { action, ...(target !== undefined ? { target_user_id: target } : {}) },
    });
  }

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

  // What a socket missed after `lastSeq` (a resume), or the newest messages on a first join.
  async replay(roomId: string, lastSeq: number | undefined): Promise<RoomMessageFrame[]> {
    const messages =
      lastSeq === undefined
        ? await this.messages.before(roomId, undefined, HISTORY_ON_JOIN)
        : await this.messages.after(roomId, lastSeq, 10_000);
    return this.withReactions(messages);
  }

  // The room's newest `limit` messages up to `seq`, oldest first: what the AI is asked with (the
  // caller has checked the asker's membership).
  recent(roomId: string, seq: number, limit: number): Promise<RoomMessageRecord[]> {
    return this.messages.before(roomId, seq + 1, limit);
  }

  room(roomId: string): Promise<RoomRecord | null> {
    return this.rooms.find(roomId);
  }

  headSeq(roomId: string): Promise<number> {
    return this.messages.headSeq(roomId);
  }

  // the member's read mark (0: nothing read)
  async readMark(roomId: string, userId: string): Promise<number> {
    return (await this.readMarks.of([roomId], userId)).get(roomId) ?? 0;
  }

  // Only the sender edits; the text before is kept in the message's history (edited_at shown). Of two
  // edits the later to reach the server stands, and a copy of one applied already (its client_id
  // again) changes nothing: an earlier edit that lands last (a copy resent after a cut socket, its
  // first instance late) is acked and changes nothing (docs/protocol.md, "Rooms").
  async edit(
    principal: Principal,
    roomId: string,
    messageId: string,
    content: string,
    clientId?: string,
    at = new Date(),
  ): Promise<void> {
    await this.checkRate(principal.userId);
    const { participant } = await this.memberOf(roomId, principal.userId);
    requireCanWrite(participant);
    const message = await this.requireMessage(roomId, messageId);
    if (message.sender_id !== principal.userId || message.kind !== 'text')
      throw new DomainException(ErrorCode.FORBIDDEN, 'Only the sender may edit a message.', {
        recoverable: true,
      });
    const numbers = this.changeNumbers(roomId, messageId, message.created_at);
    const outcome = await numbers.settle(
      (take) =>
        this.lock.run(`room-message:${messageId}`, () =>
          this.messages.edit(roomId, messageId, content, at, clientId, take),
        ),
      (done) => done === 'edited',
    );
    if (outcome.result === 'gone') throw new DomainException(ErrorCode.NOT_FOUND, 'Message not found.');
    if (outcome.result === 'superseded') return;
    this.hub.toRoom(roomId, {
      type: 'edit',
      room_id: roomId,
      message_id: messageId,
      seq: message.seq,
      user_id: principal.userId,
      content,
      metadata: { edited_at: at.toISOString(), ...changeOf(outcome.change) },
    });
  }

  // The sender, the room's owner and moderators, and admins delete; the message stays, without text.
  // A copy of a delete applied already (its client_id again, from the same user: a resend after a cut
  // socket) is acked and sends nothing (docs/protocol.md, "Rooms").
  async delete(principal: Principal, roomId: string, messageId: string, clientId?: string): Promise<void> {
    await this.checkRate(principal.userId);
    const participant = await this.participants.find(roomId, principal.userId);
    const room = await this.rooms.find(roomId);
    if (!principal.isAdmin) requireMember(room, participant);
    else if (!room) throw new DomainException(ErrorCode.NOT_FOUND, 'Room not found.');
    // a deleted message too: the copy of a delete is told apart under the lock
    const message = await this.messages.find(roomId, messageId);
    if (!message) throw new DomainException(ErrorCode.NOT_FOUND, 'Message not found.');
    if (message.sender_id !== principal.userId) requireModerator(principal, participant);
    const numbers = this.changeNumbers(roomId, messageId, message.created_at);
    const outcome = await numbers.settle(
      (take) =>
        this.lock.run(`room-message:${messageId}`, () =>
          this.messages.softDelete(roomId, messageId, principal.userId, clientId, new Date(), take),
        ),
      (done) => done === 'deleted',
    );
    if (outcome.result === 'gone') throw new DomainException(ErrorCode.NOT_FOUND, 'Message not found.');
    if (outcome.result === 'repeat') return;
    this.hub.toRoom(roomId, {
      type: 'delete',
      room_id: roomId,
      message_id: messageId,
      seq: message.seq,
      user_id: principal.userId,
      ...(outcome.change !== undefined ? { metadata: { change: outcome.change } } : {}),
    });
    if (message.file_id !== undefined) await this.discardFile(roomId, message.file_id);
  }

  // A deleted message's file goes with it, as with retention (docs/protocol.md, "Rooms, direct
  // messages, moderation"): bytes and record, so no member reads it any more (its link: 404), unless
  // another message of the room still carries it or it is also attached elsewhere (`shared`). The
  // delete stands either way: a failure here is logged and leaves the file to the operator.
  private async discardFile(roomId: string, fileId: string): Promise<void> {
    try {
      if ((await this.messages.filesInUse(roomId, [fileId])).has(fileId)) return;
      await this.files.discard([fileId], roomFileScope(roomId));
    } catch (error) {
      this.logger.warn(
        { event: 'room_file_discard_failed', room_id: roomId, file_id: fileId, err: String(error) },
        "a deleted message's file was not discarded",
      );
    }
  }

  // A reaction added or taken back. Of two operations of one user on one emoji of a message the later
  // to reach the server stands, and a copy of one applied already changes nothing, as with edits.
  async react(
    principal: Principal,
    roomId: string,
    messageId: string,
    emoji: string,
    remove: boolean,
    clientId?: string,
    at = new Date(),
  ) {
    await this.checkRate(principal.userId);
    await this.memberOf(roomId, principal.userId);
    const message = await this.requireMessage(roomId, messageId);
    const input = {
      room_id: roomId,
      message_id: messageId,
      user_id: principal.userId,
      emoji,
      message_at: message.created_at,
    };
    const numbers = this.changeNumbers(roomId, messageId, message.created_at, reactionIdOf(input));
    const applied = await numbers.settle(
      (take) =>
        this.lock.run(`room-reaction:${messageId}|${principal.userId}|${emoji}`, () =>
          this.reactions.set(input, !remove, at, clientId, take),
        ),
      (done) => done,
    );
    if (!applied.result) return;
    this.hub.toRoom(roomId, {
      type: 'react',
      room_id: roomId,
      message_id: messageId,
      seq: message.seq,
      user_id: principal.userId,
      content: emoji,
      metadata: { removed: remove, ...changeOf(applied.change) },
    });
  }

  // The member has read up to `seq`; in a direct message the other side sees it (a read receipt).
  async read(principal: Principal, roomId: string, seq: number): Promise<void> {
    const { room } = await this.memberOf(roomId, principal.userId);
    await this.readMarks.mark(roomId, principal.userId, seq);
    if (room.kind === 'dm')
      this.hub.toRoom(roomId, { type: 'read', room_id: roomId, user_id: principal.userId, seq });
  }

  async typing(principal: Principal, roomId: string, typing: boolean, origin: Connection): Promise<void> {
    if (!this.hub.isSubscribed(origin, roomId))
      throw new DomainException(ErrorCode.NOT_A_MEMBER, 'Join the room first.');
    await this.checkRate(principal.userId, 'room-typing');
    this.hub.toRoom(
      roomId,
      { type: 'typing', room_id: roomId, user_id: principal.userId, metadata: { typing } },
      origin,
    );
  }

  // Unread messages per room: others' text messages after the member's read mark, counted over the
  // first UNREAD_WINDOW messages after it (`more`: others follow; docs/protocol.md, "Rooms").
  // Every room's window counted in one store command (RoomMessagesRepository.unreadOf). `rooms`: the
  // rooms as read (their `last_seq` spares the look past a window behind it); `marks`: the user's
  // read marks, when read already.
  async unread(
    userId: string,
    roomIds: string[],
    rooms?: ReadonlyMap<string, RoomRecord>,
    marks?: ReadonlyMap<string, number>,
  ): Promise<Map<string, Unread>> {
    const read = marks ?? (await this.readMarks.of(roomIds, userId));
    return this.messages.unreadOf(
      roomIds.map((roomId) => ({
        roomId,
        after: read.get(roomId) ?? 0,
        stored: rooms?.get(roomId)?.last_seq,
      })),
      userId,
      UNREAD_WINDOW,
    );
  }

  // the user's read marks of these rooms (a room list reads them beside the rooms)
  readMarksOf(userId: string, roomIds: string[]): Promise<Map<string, number>> {
    return this.readMarks.of(roomIds, userId);
  }

  async memberOf(
    roomId: string,
    userId: string,
  ): Promise<{ room: RoomRecord; participant: ParticipantRecord }> {
    const [room, participant] = await Promise.all([
      this.rooms.find(roomId),
      this.participants.find(roomId, userId),
    ]);
    requireMember(room, participant);
    return { room: room as RoomRecord, participant };
  }

  // The change numbers one change takes (docs/protocol.md, "Change log"): `settle` runs the write with
  // `take` (called when the write is to happen: a number from the room's log, stored with it) and
  // keeps the last number taken when `applied` says the change happened; every other number taken
  // (a write that changed nothing, a retried insert, a failure) is abandoned, so readers pass over it.
  private changeNumbers(roomId: string, messageId: string, messageAt: Date, reactionId?: string) {
    const taken: number[] = [];
    const take = async (): Promise<number> => {
      const n = await this.changes.take(roomId, messageId, messageAt, reactionId);
      taken.push(n);
      return n;
    };
    const abandon = (keep?: number) =>
      Promise.all(taken.filter((n) => n !== keep).map((n) => this.changes.abandon(roomId, n))).catch(
        () => undefined,
      );
    return {
      settle: async <T>(
        write: (take: () => Promise<number>) => Promise<T>,
        applied: (result: T) => boolean,
      ): Promise<{ result: T; change?: number }> => {
        let result: T;
        try {
          result = await write(take);
        } catch (error) {
          await abandon();
          throw error;
        }
        const change = applied(result) ? taken.at(-1) : undefined;
        await abandon(change);
        return { result, change };
      },
    };
  }

  private async requireMessage(roomId: string, messageId: string): Promise<RoomMessageRecord> {
    const message = await this.messages.find(roomId, messageId);
    if (!message || message.deleted_at) throw new DomainException(ErrorCode.NOT_FOUND, 'Message not found.');
    return message;
  }

  private async withReactions(messages: RoomMessageRecord[]): Promise<RoomMessageFrame[]> {
    const reactions = await this.reactions.forMessages(messages.map((message) => message.id));
    return messages.map((message) => messageFrame(message, reactions.get(message.id)));
  }

  private async checkNotBlocked(room: RoomRecord, senderId: string): Promise<void> {
    const other = room.dm_users?.find((userId) => userId !== senderId);
    if (other !== undefined && (await this.blocks.isBlocked(other, senderId)))
      throw new DomainException(ErrorCode.BLOCKED);
  }

  // ROOM_RATE_LIMIT_MESSAGES_PER_SECOND per user and bucket, counted on every instance together (Redis)
  async checkRate(userId: string, bucket = 'room'): Promise<void> {
    const limit = this.settings.rooms.messagesPerSecond;
    const record = await this.throttler.increment(`${bucket}:${userId}`, RATE_WINDOW_MS, limit, 0, bucket);
    if (record.totalHits > limit)
      throw new DomainException(ErrorCode.RATE_LIMITED, 'Too many messages; slow down.', {
        retryAfterMs: Math.max(100, record.timeToExpire * 1000),
      });
  }
}

// a change frame's number, when the change took one
function changeOf(change: number | undefined): { change?: number } {
  return change !== undefined ? { change } : {};
}
