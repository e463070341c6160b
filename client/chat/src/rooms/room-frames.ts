import { isRecord, type PresenceStatus, type RoomMessageFrame } from '../../../shared/protocol';
import { applyChangeFrame } from './change-frames';
import { asMessageFrame, frameFields } from './message-parse';
import { onRoomError, type RoomErrorLink } from './room-errors';
import type { RoomHistory } from './room-history';
import type { RoomSummary } from './rooms-api';

const TYPING_SHOWN_MS = 6_000;

export interface RoomFramesLink extends RoomErrorLink {
  readonly userId: string;
  readonly presence: Map<string, PresenceStatus>;
  readonly history: RoomHistory;
  rooms(): RoomSummary[];
  // the room is on screen
  seen(roomId: string): boolean;
  markRead(): void;
  // reads the room list again
  refresh(): void;
  changed(): void;
}

// What the socket brings the rooms (chat-socket.ts RoomLink): a (re)connect, and each room frame.
export class RoomFrames {
  constructor(private readonly link: RoomFramesLink) {}

  onConnected(): void {
    const { store, membership, reads, history } = this.link;
    // what was sent on the old socket and not acked goes again after the room's join answers
    membership.live.clear();
    history.reconnected();
    // read marks the old socket carried without an answer go again once their room is joined
    reads.reconnected();
    for (const roomId of store.roomIds) for (const op of store.ops(roomId)) op.sent = false;
    for (const roomId of membership.wanted) {
      // held from an earlier connection: what changed meanwhile is read once the join answers
      if (store.thread(roomId).joined) history.due(roomId);
      membership.sendJoin(roomId);
    }
  }

  onFrame(frame: Record<string, unknown>): void {
    const { store, membership, reads, sends, history } = this.link;
    const { roomId, userId, messageId, metadata } = frameFields(frame);
    if (membership.gone(roomId, frame)) return;
    switch (frame.type) {
      case 'chat':
        this.onMessage(frame);
        history.watchGap(roomId);
        break;
      case 'ack':
        // a read mark's: the server holds it
        if (typeof frame.client_id === 'string' && reads.acked(frame.client_id)) break;
        // an edit's, delete's or reaction's: settled (once; a repeat is unknown by then)
        if (typeof frame.client_id === 'string' && store.ackOp(roomId, frame.client_id)) break;
        // a message's: the room's next one goes
        if (typeof frame.client_id === 'string') sends.acked(roomId, frame.client_id);
        if (typeof frame.client_id === 'string' && messageId) {
          store.ack(
            roomId,
            frame.client_id,
            messageId,
            typeof frame.seq === 'number' ? frame.seq : undefined,
            typeof frame.timestamp === 'string' ? frame.timestamp : undefined,
          );
          history.watchGap(roomId);
        }
        break;
      case 'join':
        this.onJoined(roomId, userId, typeof frame.seq === 'number' ? frame.seq : undefined, metadata);
        history.watchGap(roomId);
        break;
      case 'leave':
        if (userId === this.link.userId) {
          membership.out(roomId);
          Object.assign(store.thread(roomId), { joined: false, out: true });
          store.thread(roomId).ops.clear();
          sends.dropSends(roomId, metadata.reason === 'banned' ? 'BANNED' : 'NOT_A_MEMBER');
          reads.forget(roomId);
          if (metadata.reason === 'kicked' || metadata.reason === 'banned')
            this.link.notify(metadata.reason === 'banned' ? 'BANNED' : 'KICKED');
          this.link.refresh();
        }
        break;
      case 'presence':
        this.onPresence(roomId, metadata);
        break;
      case 'rooms_changed':
        // a direct message opened with this user, an invitation, a removal: read the list again
        this.link.refresh();
        break;
      case 'edit':
      case 'delete':
      case 'react':
        applyChangeFrame(store, frame);
        break;
      case 'typing':
        if (userId !== this.link.userId)
          store.setTyping(roomId, userId, metadata.typing === true, Date.now() + TYPING_SHOWN_MS);
        break;
      case 'read':
        // a direct message's read marks: the other side's, and this user's on any device (every
        // device's badge drops by what was read); marks only move forward
        if (typeof frame.seq === 'number') {
          const readBy = store.thread(roomId).readBy;
          readBy.set(userId, Math.max(frame.seq, readBy.get(userId) ?? 0));
          if (userId === this.link.userId) store.thread(roomId).unread.read(frame.seq);
        }
        break;
      case 'ai_stream':
        if (messageId && typeof metadata.phase === 'string')
          store.applyAiStream({
            roomId,
            replyId: messageId,
            phase: metadata.phase,
            replyTo: typeof metadata.reply_to === 'string' ? metadata.reply_to : '',
            askerId: typeof metadata.asker_id === 'string' ? metadata.asker_id : '',
            model: typeof metadata.model === 'string' ? metadata.model : '',
            content: typeof frame.content === 'string' ? frame.content : undefined,
            offset: typeof metadata.offset === 'number' ? metadata.offset : undefined,
            outcome: typeof metadata.outcome === 'string' ? metadata.outcome : undefined,
          });
        break;
      case 'error':
        onRoomError(this.link, roomId, frame);
        break;
    }
    this.link.changed();
  }

  private onMessage(value: Record<string, unknown>): void {
    const frame = asMessageFrame(value);
    if (frame) this.onStored(frame);
  }

  // A stored message, live or read into a gap.
  onStored(frame: RoomMessageFrame): void {
    const { store, userId } = this.link;
    const thread = store.thread(frame.room_id);
    const fresh = store.applyMessage(frame);
    store.setTyping(frame.room_id, frame.user_id, false, 0);
    if (!fresh || !thread.joined || frame.user_id === userId || frame.metadata.kind !== 'text') return;
    if (this.link.seen(frame.room_id)) this.link.markRead();
    // a blocked user's message is shown collapsed, not counted: the server's count leaves it out too
    else if (!store.blocks.has(frame.user_id)) thread.unread.message(frame.seq);
    const room = this.link.rooms().find((entry) => entry.id === frame.room_id);
    // a direct message from someone new: the list learns of the room
    if (!room) {
      this.link.refresh();
      return;
    }
    // (a message read into a gap may be older than the newest one)
    if (!room.last_message_at || frame.timestamp > room.last_message_at)
      room.last_message_at = frame.timestamp;
  }

  private onJoined(
    roomId: string,
    userId: string,
    seq: number | undefined,
    metadata: Record<string, unknown>,
  ): void {
    const { store, membership } = this.link;
    if (userId && userId !== this.link.userId) return;
    const thread = store.thread(roomId);
    // the socket stands at `seq`: what it was sent first is the history the resume point starts from
    if (seq !== undefined) store.joinedAt(roomId, seq);
    const first = !thread.joined;
    // a first join: the room's change log starts here for this device (docs/protocol.md, "Change log")
    if (first && typeof metadata.changed === 'number') thread.changes.startsAt(metadata.changed);
    thread.joined = true;
    thread.out = false;
    if (Array.isArray(metadata.online)) {
      thread.online = new Set(metadata.online.filter((id): id is string => typeof id === 'string'));
      this.joinPresence(roomId, thread.online);
    }
    membership.live.add(roomId);
    this.link.ops.sendOps(roomId);
    this.link.history.joined(roomId, first);
    // the history a first join sent is the room list's to count; what follows it is counted here
    if (first) thread.unread.joinedAt(seq ?? thread.resume.point);
    // what the user read on any device (the member's read mark): the replay before it is not unread
    if (typeof metadata.read_seq === 'number') thread.unread.read(metadata.read_seq);
    if (this.link.seen(roomId)) {
      thread.unread.clear();
      this.link.markRead();
    }
    this.link.reads.flush();
    // a public room just joined is now the user's: the list shows it as such
    if (first && !this.link.rooms().some((room) => room.id === roomId && room.membership === 'member'))
      this.link.refresh();
  }

  // The join's answer is the presence of the room's members when it was read: what this device
  // heard before (a socket cut loses the presence frames of the outage) gives way to it. The map is
  // per user, fed by every room: a user listed is not offline wherever they were seen; one missing
  // is offline only when known to be a member (a direct message's other side), not merely gone from
  // this room while still present in another.
  private joinPresence(roomId: string, online: Set<string>): void {
    const { presence, userId } = this.link;
    // `online` lists every member not offline: an away one stays away
    for (const id of online) if (presence.get(id) !== 'away') presence.set(id, 'online');
    const room = this.link.rooms().find((entry) => entry.id === roomId);
    if (room?.kind !== 'dm') return;
    for (const id of room.dm_users ?? []) if (id !== userId && !online.has(id)) presence.set(id, 'offline');
  }

  private onPresence(roomId: string, metadata: Record<string, unknown>): void {
    if (!Array.isArray(metadata.users)) return;
    const online = roomId ? this.link.store.thread(roomId).online : null;
    for (const entry of metadata.users)
      if (isRecord(entry) && typeof entry.user_id === 'string' && typeof entry.status === 'string') {
        this.link.presence.set(entry.user_id, entry.status as PresenceStatus);
        if (entry.status === 'offline') online?.delete(entry.user_id);
        else online?.add(entry.user_id);
      }
  }
}
