import { KeyedMutex } from '../../common/keyed-mutex';
import type { WriteLock } from '../../infra/lock/write.lock';
import type { RoomAckFrame } from '../../protocol/rooms';
import type { Connection } from '../realtime/connection';
import { messageFrame } from './room-frames';
import type { RoomHub } from './room-hub';
import { roomDocumentKey } from './room-locks';
import type { RoomMessagesRepository } from './room-messages.repository';
import type { NewRoomMessage, RoomMessageRecord, RoomRecord } from './room.types';
import type { RoomsRepository } from './rooms.repository';

const NOTE_EVERY_MS = 60_000;

// A message through the record path: its ack, the stored message, and whether it was stored before
// (a resend of its client_id: nothing else happened).
export interface Recorded {
  ack: RoomAckFrame;
  room: RoomRecord;
  message: RoomMessageRecord;
  duplicate: boolean;
}

// The record path of room messages (RoomMessagesService.record): stored, acked, sent to the room.
export class RoomMessageRecorder {
  // this instance's writers to one room take turns: they would only collide on the same seq; other
  // instances' writers are sorted out by the unique index
  private readonly appends = new KeyedMutex();

  constructor(
    private readonly rooms: RoomsRepository,
    private readonly messages: RoomMessagesRepository,
    private readonly hub: RoomHub,
    // the room's activity is noted under the room document's lock
    private readonly lock: WriteLock,
  ) {}

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
    beforeAttempt?: (attempt: number) => Promise<void>,
  ): Promise<Recorded> {
    const { message, duplicate } = await this.appends.run(room.id, () =>
      this.messages.append(input, room.last_seq, new Date(), beforeAttempt),
    );
    if (beforeFanOut) await beforeFanOut();
    const ack: RoomAckFrame = {
      type: 'ack',
      user_id: message.sender_id,
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
    // the room's activity time and seq at most once a minute: one write (and lock) fewer per message.
    // A room list reads the newest message from the noted seq up (RoomsService.withActivity), so its
    // order and times are exact all the same (docs/protocol.md, GET /rooms)
    if (
      !room.last_message_at ||
      message.created_at.getTime() - room.last_message_at.getTime() >= NOTE_EVERY_MS
    )
      await this.lock
        .run(roomDocumentKey(room.id), () => this.rooms.noteMessage(room.id, message.seq, message.created_at))
        .catch(() => undefined);
    return { ack, room, message, duplicate };
  }
}
