import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { ThrottlerStorage } from '@nestjs/throttler';
import { spendBudget } from '../../infra/bus/cell-rate.storage';
import { SETTINGS, type Settings } from '../../config/settings';
import type { Principal } from '../../common/auth/principal';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { FILE_STORE, showsStored, type FileStore, type StoredFileInfo } from '../../infra/files/file-store';
import { SESSION_LOCK } from '../../infra/lock/lock';
import type { WriteLock } from '../../infra/lock/write.lock';
import type { RoomChangesPage, RoomMessageFrame } from '../../protocol/rooms';
import type { Connection } from '../realtime/connection';
import { BlocksRepository } from './blocks.repository';
import { ParticipantsRepository } from './participants.repository';
import { ReactionsRepository } from './reactions.repository';
import { RoomChangesRepository } from './room-changes.repository';
import { ReadMarksRepository } from './read-marks.repository';
import { RoomHub } from './room-hub';
import { RoomMessageChanges } from './room-message-changes';
import { RoomMessageReads } from './room-message-reads';
import { RoomMessageRecorder, type Recorded } from './room-message-recorder';
import { RoomMessagesRepository } from './room-messages.repository';
import { RoomReadMarks, type Unread } from './room-read-marks';
import { isDmRoomId, requireCanWrite, requireMember, requireNotBlocked } from './room-rules';
import {
  ROOM_FILE_SCOPE,
  roomFileScope,
  type ParticipantRecord,
  type RoomMessageRecord,
  type RoomRecord,
} from './room.types';
import { RoomsRepository } from './rooms.repository';

export { CHANGE_SETTLE_MS, CHANGES_PAGE_MAX, HISTORY_ON_JOIN, HISTORY_PAGE_MAX } from './room-message-reads';
export { UNREAD_WINDOW, type Unread } from './room-read-marks';
const RATE_WINDOW_MS = 1000;
// a message whose membership check is older than this when its turn to be stored comes (it waited
// behind the room's other appends here) is checked again; a fresh check is not repeated
const RECHECK_AFTER_MS = 10;

export interface SendInput {
  roomId: string;
  content?: string;
  clientId?: string;
  replyTo?: string;
  fileId?: string;
}

// What happens to room messages: the one record path (store → ack → fan-out, MSG-002, PERSIST-001),
// history reads behind the membership check, edits, soft deletes, reactions and read marks.
// Sends, typing and the checks (membership, rate, blocks) are here; the rest is delegated: the record
// path (room-message-recorder), history and change-log reads (room-message-reads), edits, deletes and
// reactions (room-message-changes), read marks and unread counts (room-read-marks).
@Injectable()
export class RoomMessagesService implements OnModuleInit {
  // per socket, the rooms whose last typing frame from it said `true` (stoppedTyping)
  private readonly typingIn = new WeakMap<Connection, Set<string>>();
  private readonly recorder: RoomMessageRecorder;
  private readonly reads: RoomMessageReads;
  private readonly messageChanges: RoomMessageChanges;
  private readonly marks: RoomReadMarks;

  constructor(
    private readonly rooms: RoomsRepository,
    private readonly participants: ParticipantsRepository,
    private readonly messages: RoomMessagesRepository,
    reactions: ReactionsRepository,
    changes: RoomChangesRepository,
    private readonly readMarks: ReadMarksRepository,
    private readonly blocks: BlocksRepository,
    private readonly hub: RoomHub,
    @Inject(ThrottlerStorage) private readonly throttler: ThrottlerStorage,
    @Inject(SETTINGS) private readonly settings: Settings,
    @Inject(FILE_STORE) private readonly files: FileStore,
    // edits, deletes and reactions of one message are written one at a time on every instance
    @Inject(SESSION_LOCK) lock: WriteLock,
  ) {
    this.recorder = new RoomMessageRecorder(rooms, messages, hub, lock);
    const memberOf = (roomId: string, userId: string) => this.memberOf(roomId, userId);
    this.reads = new RoomMessageReads(messages, reactions, changes, memberOf);
    this.messageChanges = new RoomMessageChanges(
      rooms,
      participants,
      messages,
      reactions,
      changes,
      hub,
      files,
      lock,
      (userId) => this.checkRate(userId),
      memberOf,
      (room, userId) => requireNotBlocked(blocks, room, userId),
    );
    this.marks = new RoomReadMarks(readMarks, messages, hub, memberOf, blocks);
  }

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
    await requireNotBlocked(this.blocks, room, principal.userId);
    // on the monotonic clock: a pause of the process (SIGSTOP, a VM stall) counts
    let checkedAt = performance.now();
    const checkAgain = async () => {
      const again = await this.participants.find(room.id, principal.userId);
      requireMember(room, again);
      requireCanWrite(again);
      await requireNotBlocked(this.blocks, room, principal.userId);
      checkedAt = performance.now();
    };
    if (input.replyTo !== undefined && !(await this.messages.find(room.id, input.replyTo)))
      throw new DomainException(ErrorCode.INVALID_MESSAGE, 'The message replied to is not in this room.');
    // an upload of the sender's, kept from now on and readable by the room's members (FILE_STORE);
    // the message is stored under the file's lock, so a delete of another message with the file,
    // judging meanwhile whether the room still shows it, sees this one (FileStore.attachWhile)
    const store = (file?: StoredFileInfo) =>
      this.record(
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
        undefined,
        // the membership again before an insert attempt when the message waited for its turn (the
        // room's appends here go one at a time) or lost its seq to another message (a kick's notice,
        // maybe): a kick, ban or mute written meanwhile stands, and the message is refused rather than
        // stored after its notice (docs/protocol.md, "Rooms, direct messages, moderation"). In a direct
        // message the block too: one written meanwhile stands, and the message is refused BLOCKED
        // rather than stored (and sent to the blocker) after the block was answered. Until the DMs
        // audit of session 41 a blocked user's messages queued behind the room's appends were stored
        // and reached the blocker live up to 344 ms after the block's 200 (8-12 a round, 10 of 10).
        async (attempt) => {
          if (attempt === 0 && performance.now() - checkedAt < RECHECK_AFTER_MS) return;
          await checkAgain();
        },
      );
    // A resend of a message stored before is answered with that one (append): a file it names is not
    // attached to the room. One attached for a message that then stores nothing (a copy sent at once,
    // a refusal at its store) is taken back (FileStore.attachWhile). Until a rooms audit in session
    // 39 a resend naming another upload of the sender's made it readable by every member for good.
    const fileId = input.fileId;
    if (fileId === undefined) return store();
    if (
      input.clientId !== undefined &&
      (await this.messages.sentBefore(room.id, principal.userId, input.clientId))
    )
      return store();
    return this.files.attachWhile(
      fileId,
      principal.userId,
      roomFileScope(room.id),
      store,
      async (stored) =>
        showsStored(stored, fileId) || (await this.messages.filesInUse(room.id, [fileId])).has(fileId),
    );
  }

  // The one record path for every stored room message, people's and the server's: stored, acked to
  // the sender's socket, then sent to the room (RoomMessageRecorder.record).
  record(...args: Parameters<RoomMessageRecorder['record']>): Promise<Recorded> {
    return this.recorder.record(...args);
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
  // Members only, and admins (RoomMessageReads.history).
  history(...args: Parameters<RoomMessageReads['history']>): Promise<RoomMessageFrame[]> {
    return this.reads.history(...args);
  }

  // The messages changed after change number `after`, behind the membership check
  // (RoomMessageReads.changedAfter; docs/protocol.md, "Change log").
  changedAfter(...args: Parameters<RoomMessageReads['changedAfter']>): Promise<RoomChangesPage> {
    return this.reads.changedAfter(...args);
  }

  // where a first join starts the device's change log (RoomMessageReads.changeStart)
  changeStart(...args: Parameters<RoomMessageReads['changeStart']>): Promise<number> {
    return this.reads.changeStart(...args);
  }

  // What a socket missed after `lastSeq` (a resume), or the newest messages on a first join.
  replay(...args: Parameters<RoomMessageReads['replay']>): Promise<RoomMessageFrame[]> {
    return this.reads.replay(...args);
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
  readMark(...args: Parameters<RoomReadMarks['readMark']>): Promise<number> {
    return this.marks.readMark(...args);
  }

  // only the sender edits; the later edit to reach the server stands (RoomMessageChanges.edit)
  edit(...args: Parameters<RoomMessageChanges['edit']>): Promise<void> {
    return this.messageChanges.edit(...args);
  }

  // the sender, the room's owner and moderators, and admins delete (RoomMessageChanges.delete)
  delete(...args: Parameters<RoomMessageChanges['delete']>): Promise<void> {
    return this.messageChanges.delete(...args);
  }

  // a reaction added or taken back; the later to reach the server stands (RoomMessageChanges.react)
  react(...args: Parameters<RoomMessageChanges['react']>): Promise<void> {
    return this.messageChanges.react(...args);
  }

  // the member has read up to `seq`; in a direct message the other side sees it (RoomReadMarks.read)
  read(...args: Parameters<RoomReadMarks['read']>): Promise<void> {
    return this.marks.read(...args);
  }

  async typing(principal: Principal, roomId: string, typing: boolean, origin: Connection): Promise<void> {
    if (!this.hub.isSubscribed(origin, roomId))
      throw new DomainException(ErrorCode.NOT_A_MEMBER, 'Join the room first.');
    await this.checkRate(principal.userId, 'room-typing');
    // one who may not write is not shown typing: a muted member (MUTED), and in a direct message
    // one the other side blocked (BLOCKED), as their message would be refused
    const [participant, room] = await Promise.all([
      this.participants.find(roomId, principal.userId),
      isDmRoomId(roomId) ? this.rooms.find(roomId) : null,
    ]);
    // a kick or ban that landed while this frame waited: not a member any more (until a rooms audit
    // in session 39 a kicked or banned member's typing passed, and reached the room after its notice
    // of the kick: test/e2e/rooms-typing-kicked.e2e-spec.ts)
    if (participant?.state !== 'member')
      throw new DomainException(ErrorCode.NOT_A_MEMBER, 'Join the room first.');
    requireCanWrite(participant);
    if (room) await requireNotBlocked(this.blocks, room, principal.userId);
    // and its revoke, which takes the socket out of the room on every instance, may have come since
    if (!this.hub.isSubscribed(origin, roomId))
      throw new DomainException(ErrorCode.NOT_A_MEMBER, 'Join the room first.');
    const rooms = this.typingIn.get(origin) ?? new Set<string>();
    if (typing) this.typingIn.set(origin, rooms.add(roomId));
    else rooms.delete(roomId);
    this.relayTyping(roomId, principal.userId, typing, origin);
  }

  // The socket closed: the rooms it last said its user was typing in (and still hears) are told the
  // user stopped, as a takeover's admin is. Until the presence audit of session 44 a member whose
  // socket dropped mid-word was shown typing until their next frame (docs/protocol.md, "Rooms",
  // "Sockets", `typing`; rooms-edges.e2e-spec.ts).
  stoppedTyping(connection: Connection): void {
    const rooms = this.typingIn.get(connection);
    if (!rooms) return;
    this.typingIn.delete(connection);
    for (const roomId of rooms)
      if (this.hub.isSubscribed(connection, roomId))
        this.relayTyping(roomId, connection.principal.userId, false, connection);
  }

  private relayTyping(roomId: string, userId: string, typing: boolean, origin: Connection): void {
    this.hub.toRoom(
      roomId,
      {
        type: 'typing',
        room_id: roomId,
        user_id: userId,
        timestamp: new Date().toISOString(),
        metadata: { typing },
      },
      origin,
    );
  }

  // unread messages per room after the member's read marks, every room's window counted in one store
  // command (RoomReadMarks.unread)
  unread(...args: Parameters<RoomReadMarks['unread']>): Promise<Map<string, Unread>> {
    return this.marks.unread(...args);
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

  // ROOM_RATE_LIMIT_MESSAGES_PER_SECOND per user and bucket, counted on every instance together (Redis)
  checkRate(userId: string, bucket = 'room'): Promise<void> {
    return spendBudget(this.throttler, {
      bucket,
      userId,
      limit: this.settings.rooms.messagesPerSecond,
      windowMs: RATE_WINDOW_MS,
      minRetryMs: 100,
      message: 'Too many messages; slow down.',
    });
  }
}
