import { Logger } from '@nestjs/common';
import type { Principal } from '../../common/auth/principal';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import type { FileStore } from '../../infra/files/file-store';
import type { WriteLock } from '../../infra/lock/write.lock';
import type { ParticipantsRepository } from './participants.repository';
import type { ReactionsRepository } from './reactions.repository';
import { changeNumbers, changeOf } from './room-change-numbers';
import type { RoomChangesRepository } from './room-changes.repository';
import type { RoomHub } from './room-hub';
import type { RoomMessagesRepository } from './room-messages.repository';
import { reactionsOfKey, roomMessageKey } from './room-locks';
import { isOwnMessage, requireCanWrite, requireMember, requireModerator } from './room-rules';
import { roomFileScope, type ParticipantRecord, type RoomMessageRecord, type RoomRecord } from './room.types';
import type { RoomsRepository } from './rooms.repository';

// reactions one user may have standing on one message (the same emoji again is no new one)
export const MAX_REACTIONS_PER_USER = 20;

// The changes to stored room messages (RoomMessagesService.edit, delete, react): each written under
// the message's lock with a number from the room's change log, then sent to the room.
export class RoomMessageChanges {
  private readonly logger = new Logger('rooms');

  constructor(
    private readonly rooms: RoomsRepository,
    private readonly participants: ParticipantsRepository,
    private readonly messages: RoomMessagesRepository,
    private readonly reactions: ReactionsRepository,
    private readonly changes: RoomChangesRepository,
    private readonly hub: RoomHub,
    private readonly files: FileStore,
    // edits, deletes and reactions of one message are written one at a time on every instance
    private readonly lock: WriteLock,
    // the rate limit and the membership check (RoomMessagesService.checkRate, memberOf)
    private readonly checkRate: (userId: string) => Promise<void>,
    private readonly memberOf: (
      roomId: string,
      userId: string,
    ) => Promise<{ room: RoomRecord; participant: ParticipantRecord }>,
    // in a direct message, BLOCKED when the other user blocked the writer (room-rules requireNotBlocked)
    private readonly checkNotBlocked: (room: RoomRecord, userId: string) => Promise<void>,
  ) {}

  // Only the sender edits, as they may write (not muted; in a direct message, not blocked by the other
  // side); the text before is kept in the message's history (edited_at shown). Of two
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
    const { room, participant } = await this.memberOf(roomId, principal.userId);
    requireCanWrite(participant);
    await this.checkNotBlocked(room, principal.userId);
    const message = await this.requireMessage(roomId, messageId);
    if (!isOwnMessage(message, principal.userId) || message.kind !== 'text')
      throw new DomainException(ErrorCode.FORBIDDEN, 'Only the sender may edit a message.', {
        recoverable: true,
      });
    const numbers = changeNumbers(this.changes, roomId, messageId, message.created_at);
    const outcome = await numbers.settle(
      (take) =>
        this.lock.run(roomMessageKey(messageId), async () => {
          await this.stillWrites(room, principal.userId);
          return this.messages.edit(roomId, messageId, content, at, clientId, take);
        }),
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
      timestamp: new Date().toISOString(),
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
    // the room's notices (joins, moderation) are its record: nobody deletes them
    if (message.kind === 'system')
      throw new DomainException(ErrorCode.FORBIDDEN, "The room's notices cannot be deleted.", {
        recoverable: true,
      });
    if (!isOwnMessage(message, principal.userId)) requireModerator(principal, participant);
    const numbers = changeNumbers(this.changes, roomId, messageId, message.created_at);
    const outcome = await numbers.settle(
      (take) =>
        this.lock.run(roomMessageKey(messageId), () =>
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
      timestamp: new Date().toISOString(),
      ...(outcome.change !== undefined ? { metadata: { change: outcome.change } } : {}),
    });
    if (message.file_id !== undefined) await this.discardFile(roomId, message.file_id);
  }

  // A deleted message's file goes with it, as with retention (docs/protocol.md, "Rooms, direct
  // messages, moderation"): bytes and record, so no member reads it any more (its link: 404), unless
  // another message of the room still carries it; one also attached elsewhere (an AI session, another
  // room) stays there only, taken off this room. The delete stands either way: a failure here is
  // logged and leaves the file to the operator.
  private async discardFile(roomId: string, fileId: string): Promise<void> {
    try {
      await this.files.discard([fileId], roomFileScope(roomId), (fileIds) =>
        this.messages.filesInUse(roomId, fileIds),
      );
    } catch (error) {
      this.logger.warn(
        { event: 'room_file_discard_failed', room_id: roomId, file_id: fileId, err: String(error) },
        "a deleted message's file was not discarded",
      );
    }
  }

  // A reaction added or taken back. Adding one is refused as a message is (MUTED; BLOCKED in a direct
  // message whose other side blocked the user); taking one's own back stays open, as deleting one's
  // own message does. Of two operations of one user on one emoji of a message the later to reach the
  // server stands, and a copy of one applied already changes nothing, as with edits.
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
    const { room, participant } = await this.memberOf(roomId, principal.userId);
    if (!remove) {
      requireCanWrite(participant);
      await this.checkNotBlocked(room, principal.userId);
    }
    const message = await this.requireMessage(roomId, messageId);
    const input = {
      room_id: roomId,
      message_id: messageId,
      user_id: principal.userId,
      emoji,
      message_at: message.created_at,
    };
    const set = async (add = !remove, when = at, client = clientId) => {
      const reactionId = await this.reactions.idOf(input);
      const numbers = changeNumbers(this.changes, roomId, messageId, message.created_at, reactionId);
      return numbers.settle(
        (take) =>
          this.lock.run(`room-reaction:${reactionId}`, () =>
            this.reactions.set(input, add, when, client, take, reactionId),
          ),
        (done) => done,
      );
    };
    // an addition is counted against the bound per user and message and written under the user's
    // lock on the message's reactions, so additions at once (other sockets, the other instance)
    // count each other: one user's thousands of reactions made every read of the message heavy for
    // everyone (attacker audit), and ten emoji at once from ten sockets stood 29 of 20 (a rooms
    // audit; docs/protocol.md, "Rooms")
    const applied = remove
      ? await set()
      : await this.lock.run(reactionsOfKey(messageId, principal.userId), async () => {
          const standing = await this.reactions.standingOf(
            messageId,
            principal.userId,
            MAX_REACTIONS_PER_USER,
          );
          if (standing.length >= MAX_REACTIONS_PER_USER && !standing.includes(emoji))
            throw new DomainException(
              ErrorCode.INVALID_MESSAGE,
              `At most ${MAX_REACTIONS_PER_USER} reactions per message; take one back first.`,
            );
          await this.stillWrites(room, principal.userId);
          return set();
        });
    if (!applied.result) return;
    // The message deleted while the reaction was written (its delete takes the message's lock, a
    // reaction does not: reactions of many users to one message run side by side): the reaction is
    // taken back, unseen, and refused as a reaction to a deleted message is. Until a rooms audit in
    // session 39 it stood on the deleted message and went out live after the `delete` frame, and the
    // web client showed it there (16–17 of 20 rounds; test/e2e/rooms-react-delete.e2e-spec.ts).
    if (!remove && (await this.messages.find(roomId, messageId))?.deleted_at) {
      await set(false, new Date(), undefined);
      throw new DomainException(ErrorCode.NOT_FOUND, 'Message not found.');
    }
    this.hub.toRoom(roomId, {
      type: 'react',
      room_id: roomId,
      message_id: messageId,
      seq: message.seq,
      user_id: principal.userId,
      timestamp: new Date().toISOString(),
      content: emoji,
      metadata: { removed: remove, ...changeOf(applied.change) },
    });
  }

  // The writer's membership read again just before an edit or a reaction is written, as a message's
  // is before its insert: a kick, ban or mute written since the first check stands, and the change is
  // refused rather than stored and sent after the room's notice of it. Until a rooms audit in session
  // 40 an edit or a reaction checked before a kick or a mute was written after it, acked, and sent to
  // the room after the `leave` (3 of 3 runs with the message's read held 400 ms;
  // test/e2e/rooms-changes-kicked.e2e-spec.ts). In a direct message the block is read again too: until
  // the DMs audit of session 41 an edit or a reaction checked before the other side's block was
  // written after it and reached the blocker live.
  private async stillWrites(room: RoomRecord, userId: string): Promise<void> {
    const participant = await this.participants.find(room.id, userId);
    requireMember(room, participant);
    requireCanWrite(participant);
    await this.checkNotBlocked(room, userId);
  }

  private async requireMessage(roomId: string, messageId: string): Promise<RoomMessageRecord> {
    const message = await this.messages.find(roomId, messageId);
    if (!message || message.deleted_at) throw new DomainException(ErrorCode.NOT_FOUND, 'Message not found.');
    return message;
  }
}
