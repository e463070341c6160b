import { Inject, Injectable, Logger } from '@nestjs/common';
import { SETTINGS, type Settings } from '../../config/settings';
import { DomainException } from '../../common/errors/domain.exception';
import { unexpectedError } from '../../common/errors/store-outage';
import { ErrorCode } from '../../common/errors/error-code';
import { mentionsAi, type JoinClientFrame, type RoomClientFrame } from '../../protocol/rooms';
import { ChatMetrics } from '../metrics/chat-metrics';
import { PresenceService } from '../presence/presence.service';
import type { Connection } from '../realtime/connection';
import { RoomAiService } from './room-ai.service';
import { validateRoomFrame } from './room-frame-parser';
import { roomErrorFrame } from './room-frames';
import { RoomHub } from './room-hub';
import { RoomMembershipService } from './room-membership.service';
import { RoomMessagesService } from './room-messages.service';
import { RoomReplays } from './room-replays';
import { RoomsService } from './rooms.service';
import { closeSocket } from '../realtime/close-socket';

const CLOSE_CODES: Partial<Record<ErrorCode, number>> = {
  [ErrorCode.UNAUTHORIZED]: 4401,
  [ErrorCode.FORBIDDEN]: 4403,
};

const DM_PREFIX = '@';
const CONTROL_TYPES: ReadonlySet<string> = new Set(['join', 'leave', 'read', 'heartbeat', 'ai_stop']);

// What each room frame does, for both sockets that carry them (/ws/chat and the AI chat's /chat/ws):
// the gateways parse JSON and call handle(); every answer, ack or error, goes out from here.
@Injectable()
export class RoomSocketsService {
  private readonly logger = new Logger('rooms');

  constructor(
    private readonly rooms: RoomsService,
    private readonly membership: RoomMembershipService,
    private readonly messages: RoomMessagesService,
    private readonly ai: RoomAiService,
    private readonly hub: RoomHub,
    private readonly presence: PresenceService,
    private readonly replays: RoomReplays,
    private readonly metrics: ChatMetrics,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  // the socket counts for its user's presence from now on
  // A /chat/ws socket hears of its user's rooms changing (`rooms_changed`: a direct message opened
  // with them, an invitation) from its upgrade, as a /ws/chat socket does, before any room frame of
  // its own; it counts for presence only from its first room frame (attach). Until the rooms client
  // audit of session 41 a page whose user had no rooms yet sent none, and a direct message or an
  // invitation to them showed in their list only at its next minute's refresh (3 of 3 runs).
  register(connection: Connection): void {
    this.hub.register(connection);
  }

  async attach(connection: Connection): Promise<void> {
    this.hub.register(connection);
    await this.presence.connect(connection);
  }

  async detach(connection: Connection): Promise<void> {
    this.messages.stoppedTyping(connection);
    this.hub.drop(connection);
    await this.presence.disconnect(connection);
  }

  // One parsed JSON value from the socket, read off it at `receivedAt` (edits and reactions are
  // ordered by it). Never throws for anything the client sent.
  async handle(connection: Connection, value: unknown, receivedAt = new Date()): Promise<void> {
    const parsed = validateRoomFrame(value, this.settings.maxMessageLength);
    if (!parsed.ok) {
      this.fail(
        connection,
        new DomainException(parsed.code, parsed.message),
        parsed.client_id,
        parsed.room_id,
      );
      return;
    }
    const frame = parsed.frame;
    this.metrics.messagesIn.inc({ type: `room_${frame.type}` });
    try {
      await this.attach(connection);
      // messages have their budget (RoomMessagesService); joins, leaves, reads and heartbeats share
      // another, so no frame type can be sent without bound
      if (CONTROL_TYPES.has(frame.type))
        await this.messages.checkRate(connection.principal.userId, 'room-control');
      await this.dispatch(connection, frame, receivedAt);
    } catch (error) {
      this.fail(connection, error, frame.client_id, 'room_id' in frame ? frame.room_id : undefined);
    }
  }

  private async dispatch(connection: Connection, frame: RoomClientFrame, receivedAt: Date): Promise<void> {
    const principal = connection.principal;
    // `@<user_id>` names the direct-message room with that user, made on first use (ROOM-003)
    if ((frame.type === 'chat' || frame.type === 'join') && frame.room_id.startsWith(DM_PREFIX))
      frame = {
        ...frame,
        room_id: (await this.rooms.openDm(principal, frame.room_id.slice(DM_PREFIX.length))).id,
      };
    switch (frame.type) {
      case 'chat': {
        const recorded = await this.messages.send(
          principal,
          {
            roomId: frame.room_id,
            content: frame.content,
            clientId: frame.client_id,
            replyTo: frame.metadata?.reply_to,
            fileId: frame.file_id,
          },
          connection,
        );
        // stored and acked like any message; then the room's model is asked (a resend asks nothing).
        // A refusal (AI_OFF, AI_BUSY) names the room, not the client_id: the message itself was acked
        if (!recorded.duplicate && mentionsAi(recorded.message.content))
          await this.ai
            .ask(recorded.room, recorded.message, connection)
            .catch((error: unknown) => this.fail(connection, error, undefined, recorded.room.id));
        return;
      }
      case 'ai_stop':
        await this.ai.stop(principal, frame.room_id, frame.message_id);
        return this.ack(connection, frame, frame.message_id);
      case 'join':
        return this.join(connection, frame);
      case 'leave':
        await this.membership.leave(principal, frame.room_id);
        this.hub.unsubscribe(connection, frame.room_id);
        return this.ack(connection, frame);
      case 'edit':
        await this.messages.edit(
          principal,
          frame.room_id,
          frame.message_id,
          frame.content,
          frame.client_id,
          receivedAt,
        );
        return this.ack(connection, frame, frame.message_id);
      case 'delete':
        await this.messages.delete(principal, frame.room_id, frame.message_id, frame.client_id);
        return this.ack(connection, frame, frame.message_id);
      case 'react':
        await this.messages.react(
          principal,
          frame.room_id,
          frame.message_id,
          frame.content,
          frame.metadata?.remove === true,
          frame.client_id,
          receivedAt,
        );
        return this.ack(connection, frame, frame.message_id);
      case 'typing':
        return this.messages.typing(principal, frame.room_id, frame.metadata.typing, connection);
      case 'read':
        await this.messages.read(principal, frame.room_id, frame.seq);
        return this.ack(connection, frame);
      case 'heartbeat':
        await this.presence.heartbeat(connection, frame.metadata?.status);
        return this.ack(connection, frame);
    }
  }

  // Membership checked, then: subscribed (live frames wait), the history read and sent in pages (the
  // newest 100, or everything after last_seq on a resume, a page at a time as the socket takes it:
  // room-replays.ts), the membership read again after each page's read, so a kick or ban that landed
  // meanwhile (before the subscription, or before the read) refuses the join and nothing stored after
  // it is replayed; then the `join` frame with where the socket stands, then live (nothing missed or
  // doubled: SeqOrder in RoomHub). A replay stopped midway sends no `join`: the socket closed (or was
  // closed as too slow) or joined the room again, or its subscription was revoked (then the join is
  // refused: stopped()).
  private async join(connection: Connection, frame: JoinClientFrame): Promise<void> {
    const userId = connection.principal.userId;
    const { room } = await this.membership.join(connection.principal, frame.room_id, {
      resume: frame.last_seq !== undefined,
    });
    // closed meanwhile (no subscription): its close dropped it from the hub already, and a
    // subscription now would stay for as long as the instance runs (the member stays a member: a join
    // is a membership)
    const subscription = this.hub.subscribe(connection, room.id, this.replays.held());
    if (!subscription) return;
    try {
      // where the device's change log starts, read before the history: every change up to it is in
      // what is sent (a change that may still be being written is above it; docs/protocol.md,
      // "Change log")
      // and the member's read mark: what the user read on another device is not unread on this one
      // (docs/protocol.md, "Rooms: the client")
      const [head, changed, readSeq] = await Promise.all([
        this.messages.headSeq(room.id),
        this.messages.changeStart(room.id),
        this.messages.readMark(room.id, userId),
      ]);
      // where the room's numbering stands: its newest message, or its last_seq once retention removed
      // every message (the head is then 0, and a socket standing there waited for a gap read before
      // its first new message; docs/protocol.md, "Join replays")
      const start = Math.max(head, room.last_seq);
      const replayed = await this.replays.run(
        subscription,
        room.id,
        frame.last_seq === undefined ? undefined : Math.min(frame.last_seq, start),
        start,
      );
      if (!replayed) return await this.stopped(connection, room.id);
      // the others see the newcomer's presence (their earlier changes went to rooms they were not in):
      // its last announcement, numbered as it was, so it cannot undo a newer one
      await this.rooms.announceJoined(room.id, userId);
      const seq = replayed.point;
      const online = await this.rooms.onlineMembers(room.id, userId);
      if (!this.hub.holds(subscription, room.id)) return await this.stopped(connection, room.id);
      this.hub.send(connection, {
        type: 'join',
        room_id: room.id,
        user_id: userId,
        timestamp: new Date().toISOString(),
        seq,
        ...(frame.client_id !== undefined ? { client_id: frame.client_id } : {}),
        metadata: { online, replayed: replayed.count, changed, read_seq: readSeq },
      });
      this.hub.ready(connection, room.id, seq);
    } catch (error) {
      this.hub.unsubscribe(connection, room.id, subscription);
      throw error;
    }
  }

  // A join that stopped before its answer: a socket that closed, or joined the room again (that join
  // answers), gets nothing; one whose subscription was revoked meanwhile (a kick or ban) is refused
  // as its membership now stands.
  private async stopped(connection: Connection, roomId: string): Promise<void> {
    if (connection.closed || this.hub.isSubscribed(connection, roomId)) return;
    await this.messages.memberOf(roomId, connection.principal.userId);
  }

  private ack(connection: Connection, frame: RoomClientFrame, messageId?: string): void {
    this.hub.send(connection, {
      type: 'ack',
      user_id: connection.principal.userId,
      timestamp: new Date().toISOString(),
      ...('room_id' in frame ? { room_id: frame.room_id } : {}),
      ...(frame.client_id !== undefined ? { client_id: frame.client_id } : {}),
      ...(messageId !== undefined ? { message_id: messageId } : {}),
    });
  }

  fail(connection: Connection, error: unknown, clientId?: string, roomId?: string): void {
    const exception =
      error instanceof DomainException
        ? error
        : unexpectedError(error, this.logger, { user_id: connection.principal.userId, room_id: roomId });
    this.metrics.errors.inc({ code: exception.code });
    this.hub.send(
      connection,
      roomErrorFrame(connection.principal.userId, exception.code, exception.message, {
        recoverable: exception.recoverable,
        clientId,
        roomId,
        retryAfterMs: exception.details.retryAfterMs,
      }),
    );
    if (!exception.recoverable)
      closeSocket(connection.socket, CLOSE_CODES[exception.code] ?? 1008, exception.code);
  }
}
