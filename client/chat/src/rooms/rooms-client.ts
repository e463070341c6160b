import { ApiError } from '../../../shared/api';
import { errorText } from '../../../shared/errors';
import {
  isRecord,
  type ModelInfo,
  type PresenceStatus,
  type RoomClientFrame,
  type RoomMessageFrame,
} from '../../../shared/protocol';
import { backoffDelay } from '../backoff';
import { newClientId } from '../chat-client';
import type { ChatSocket, RoomLink } from '../chat-socket';
import { applyChangeFrame, asMessageFrame, frameFields, RoomStore, type PendingOp } from './room-store';
import { oldestHeld, refreshHeld } from './held-refresh';
import { HISTORY_PAGE_MAX } from './resume-point';
import { readChanges } from './change-read';
import { RoomOutbox, type OutgoingMessage } from './room-outbox';
import { ReadMarks } from './read-marks';
import { roomsApi, type RoomSummary } from './rooms-api';

export type { RoomSummary };

export interface RoomsNotice {
  code: string;
  text: string;
}

const TYPING_SHOWN_MS = 6_000;
const TYPING_RESEND_MS = 3_000;
const PAGE_SIZE = 50;
// changes to the user's own rooms are pushed (rooms_changed); the list is also read again this
// often while the Rooms tab is shown, for a push lost while the server's bus was away
const LIST_REFRESH_MS = 60_000;
// a RATE_LIMITED without retry_after is tried again after this
const RETRY_AFTER_DEFAULT_MS = 1_000;
// a gap in a room's seqs still open this long while connected is read from the REST history
// (docs/protocol.md, "Resume point"); a read that fails is tried again later (backoff)
const GAP_FILL_MS = 2_000;

// Rooms and direct messages over the chat's own socket (/chat/ws carries room frames) and the REST
// API (/api/v1/chat/...): the list, the open room, and every joined room's thread. The view renders
// from here and calls the actions; nothing here renders.
export class RoomsClient implements RoomLink {
  readonly store = new RoomStore();
  rooms: RoomSummary[] = [];
  openId: string | null = null;
  notice: RoomsNotice | null = null;
  listLoaded = false;
  presence = new Map<string, PresenceStatus>();
  private listeners = new Set<() => void>();
  // rooms this socket should be in: joined again (with last_seq) after every reconnect
  private wanted = new Set<string>();
  // rooms whose join answered on this connection: their ops go out now
  private live = new Set<string>();
  private typingSentAt = 0;
  private visible = false;
  private listTimer: ReturnType<typeof setInterval> | undefined;
  // this user's read marks until the server answers them (read-marks.ts)
  private readonly reads = new ReadMarks({
    send: (roomId, seq, clientId) => this.send({ type: 'read', room_id: roomId, seq, client_id: clientId }),
    ready: (roomId) => this.live.has(roomId) && this.socket.state.kind === 'connected',
    newClientId,
  });
  // per room: a gap being watched (timer), being read, and the reads that failed in a row
  private gapTimers = new Map<string, ReturnType<typeof setTimeout>>();
  private gapReads = new Set<string>();
  private gapFailures = new Map<string, number>();
  // rooms held from before the last reconnect whose newest page is read again once their join
  // answers (docs/protocol.md, "Resume point": a resume replays messages, not changes to them)
  private refreshDue = new Set<string>();
  private refreshFailures = new Map<string, number>();
  private refreshing = new Set<string>();
  // counts the socket's connections: a retry of a read meant for an earlier one is not made
  private connection = 0;
  // per room: this user's messages not acked yet, one on the wire at a time (room-outbox.ts)
  private outboxes = new Map<string, RoomOutbox>();
  // messages refused for good, by client_id, until the user's Retry
  private refusedSends = new Map<string, { roomId: string; message: OutgoingMessage }>();
  // rooms this device left: the leave's client_id, and once acked, how many room lists were asked
  // for before that; a list asked for earlier may still name the room as the user's
  private leaving = new Map<string, { clientId: string; listsBefore?: number }>();
  private listsAsked = 0;
  // ops in the order made (per client_id), and the newest made on each thing an op changes
  // (opTargets): an op held over the budget is not sent again over a newer one on the same thing
  private opsMade = new Map<string, number>();
  private newestOps = new Map<string, number>();

  constructor(
    private readonly socket: ChatSocket,
    private readonly token: () => string | null,
    readonly userId: string,
    // the models the deployment offers (the room setting `ai_model` chooses among them)
    readonly models: () => ModelInfo[] = () => [],
  ) {
    socket.rooms = this;
    // presence: away while the page is hidden (every device of the user counts, server side)
    if (typeof document !== 'undefined')
      document.addEventListener('visibilitychange', () => {
        this.send({ type: 'heartbeat', metadata: { status: pageHidden() ? 'away' : 'online' } });
        // the open room shown again: what came while the page was hidden is read now
        if (this.openId && this.seen(this.openId)) this.open(this.openId);
      });
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // The Rooms tab is shown (or hidden): the open room is read only while someone can see it.
  setVisible(visible: boolean): void {
    this.visible = visible;
    clearInterval(this.listTimer);
    if (!visible) return;
    this.listTimer = setInterval(() => {
      if (this.socket.state.kind === 'connected') void this.refresh();
    }, LIST_REFRESH_MS);
    void this.refresh();
    if (this.openId) this.open(this.openId);
  }

  // ---- list ----

  async refresh(): Promise<void> {
    const asked = ++this.listsAsked;
    const answer = await this.api((token) => roomsApi.list(token));
    if (!answer) return;
    // a room left here since this list was read is not the user's (joined again, it would be)
    const list = answer.map((room) =>
      room.membership === 'member' && this.leftSince(room.id, asked)
        ? { ...room, membership: 'left' as const, role: null }
        : room,
    );
    this.rooms = list;
    this.listLoaded = true;
    for (const room of list) {
      const thread = this.store.thread(room.id);
      // the server's count until this socket has seen the room live
      if (!thread.joined) {
        thread.unread.listed(room.unread_count, room.unread_more === true);
        if (this.seen(room.id)) thread.unread.clear();
      }
      if (room.membership === 'member' && !this.wanted.has(room.id)) this.join(room.id);
    }
    // kicked, banned or gone: no longer joined again after a reconnect
    const members = new Set(list.filter((room) => room.membership === 'member').map((room) => room.id));
    for (const roomId of this.wanted)
      if (!members.has(roomId)) {
        this.wanted.delete(roomId);
        this.store.thread(roomId).joined = false;
      }
    this.changed();
  }

  async create(name: string, kind: 'public' | 'private'): Promise<void> {
    const room = await this.api((token) => roomsApi.create(token, name, kind));
    if (!room) return;
    this.join(room.id);
    this.openId = room.id;
    await this.refresh();
  }

  async openDm(userId: string): Promise<void> {
    const room = await this.api((token) => roomsApi.openDm(token, userId));
    if (!room) return;
    this.join(room.id);
    this.open(room.id);
    await this.refresh();
  }

  // Joins a public room (the WS join makes the user a member) and opens it.
  joinRoom(roomId: string): void {
    this.join(roomId);
    this.open(roomId);
  }

  async leave(roomId: string): Promise<void> {
    const clientId = newClientId();
    this.send({ type: 'leave', room_id: roomId, client_id: clientId });
    this.leaving.set(roomId, { clientId });
    this.rooms = this.rooms.map((room) =>
      room.id === roomId ? { ...room, membership: 'left' as const, role: null } : room,
    );
    this.dropSends(roomId, null);
    this.reads.forget(roomId);
    this.wanted.delete(roomId);
    this.live.delete(roomId);
    this.refreshDue.delete(roomId);
    this.store.forget(roomId);
    this.unwatchGap(roomId);
    if (this.openId === roomId) this.openId = null;
    this.changed();
  }

  open(roomId: string | null): void {
    this.openId = roomId;
    if (roomId) {
      const thread = this.store.thread(roomId);
      thread.unread.clear();
      this.markRead();
    }
    this.changed();
  }

  // unread messages of every room, for the tab
  unreadTotal(): number {
    return this.rooms.reduce((sum, room) => sum + this.store.thread(room.id).unread.count, 0);
  }

  dismissNotice(): void {
    this.notice = null;
    this.changed();
  }

  // ---- messages of the open room ----

  sendText(text: string, replyTo?: string): void {
    const roomId = this.openId;
    const content = text.trim();
    if (!roomId || !content) return;
    const clientId = newClientId();
    this.store.addPending(roomId, { clientId, userId: this.userId, content, replyTo });
    const frame: RoomClientFrame = {
      type: 'chat',
      room_id: roomId,
      client_id: clientId,
      content,
      ...(replyTo ? { metadata: { reply_to: replyTo } } : {}),
    };
    this.outbox(roomId).add({ clientId, frame });
    this.sendNext(roomId);
    this.typingSentAt = 0;
    this.changed();
  }

  // The user's Retry of a message refused for good: sent again as first made (same client_id, so
  // the server stores it once), after the room's messages written before the Retry.
  retry(clientId: string): void {
    const refused = this.refusedSends.get(clientId);
    if (!refused) return;
    this.refusedSends.delete(clientId);
    this.store.clearFailure(refused.roomId, clientId);
    this.outbox(refused.roomId).add(refused.message);
    this.sendNext(refused.roomId);
    this.changed();
  }

  private outbox(roomId: string): RoomOutbox {
    let outbox = this.outboxes.get(roomId);
    if (!outbox) {
      outbox = new RoomOutbox();
      this.outboxes.set(roomId, outbox);
    }
    return outbox;
  }

  // Hands the room's next message to the socket, which keeps it until its ack or error (and sends
  // it again after a reconnect); the one after it waits for that answer.
  private sendNext(roomId: string): void {
    const next = this.outboxes.get(roomId)?.next();
    if (next) this.socket.send(next.frame as unknown as Record<string, unknown>);
  }

  // A message of the room refused: RATE_LIMITED goes again after retry_after, still ahead of the
  // later ones (docs/protocol.md, "Rooms": refusals are recoverable); anything else fails, shown
  // with Retry, and (`goOn`: still in the room) the next one goes. False when it is not a queued
  // message, or it failed.
  private sendRefused(
    roomId: string,
    clientId: string,
    code: string,
    error: Record<string, unknown>,
    goOn: boolean,
  ): boolean {
    const outbox = this.outboxes.get(roomId);
    if (!outbox?.has(clientId)) return false;
    if (code === 'RATE_LIMITED' && error.recoverable !== false && outbox.hold(clientId)) {
      setTimeout(() => {
        outbox.release(clientId);
        if (this.outboxes.get(roomId) === outbox) this.sendNext(roomId);
      }, retryAfterOf(error));
      return true;
    }
    const message = outbox.remove(clientId);
    if (message) this.refusedSends.set(clientId, { roomId, message });
    // only the user's Retry sends it again (the socket keeps an INTERNAL one for its next connection,
    // where it would land after messages written later)
    this.socket.forget(clientId);
    if (goOn) this.sendNext(roomId);
    return false;
  }

  // The user is out of the room (left, kicked, banned): nothing of theirs is sent there any more,
  // nor again after a reconnect. `code`: shown on the messages that were waiting (null: dropped).
  private dropSends(roomId: string, code: string | null): void {
    const outbox = this.outboxes.get(roomId);
    this.outboxes.delete(roomId);
    for (const message of outbox?.messages ?? []) {
      this.socket.forget(message.clientId);
      if (code === null) continue;
      this.refusedSends.set(message.clientId, { roomId, message });
      this.store.fail(roomId, message.clientId, code);
    }
    if (code === null)
      for (const [clientId, refused] of this.refusedSends)
        if (refused.roomId === roomId) this.refusedSends.delete(clientId);
  }

  edit(messageId: string, content: string): void {
    const text = content.trim();
    if (!text) return;
    this.operate('edit', messageId, text, false);
  }

  remove(messageId: string): void {
    this.operate('delete', messageId, '', false);
  }

  // Adds the reaction, or takes it back when the user already gave it (as shown: with the user's
  // reactions not acked yet).
  react(messageId: string, emoji: string): void {
    if (!this.openId) return;
    const mine = this.store.find(this.openId, messageId)?.reactions[emoji]?.includes(this.userId) ?? false;
    this.operate('react', messageId, emoji, mine);
  }

  // An edit, delete or reaction of the open room, with a client_id of its own: shown at once, kept
  // until its ack or error, and sent again with the same client_id after a reconnect once the room
  // is joined again (the server applies a copy of an applied client_id once, docs/protocol.md, "Rooms").
  private operate(kind: PendingOp['kind'], messageId: string, content: string, remove: boolean): void {
    const roomId = this.openId;
    if (!roomId) return;
    const clientId = newClientId();
    const base = { room_id: roomId, message_id: messageId, client_id: clientId };
    const frame: RoomClientFrame =
      kind === 'edit'
        ? { type: 'edit', ...base, content }
        : kind === 'delete'
          ? { type: 'delete', ...base }
          : { type: 'react', ...base, content, ...(remove ? { metadata: { remove: true } } : {}) };
    const made = this.opsMade.size + 1;
    this.opsMade.set(clientId, made);
    this.newestOps.set(opTargets(roomId, kind, messageId, content).made, made);
    this.store.addOp(roomId, {
      clientId,
      userId: this.userId,
      messageId,
      kind,
      content,
      remove,
      frame,
      sent: false,
    });
    this.sendOps(roomId);
    this.changed();
  }

  // Sends the room's ops not sent on this connection, in the order they were made, once the room
  // was joined on it (an op sent before the join answered would be answered before the replay).
  private sendOps(roomId: string): void {
    if (!this.live.has(roomId) || this.socket.state.kind !== 'connected') return;
    for (const op of this.store.ops(roomId))
      if (!op.sent && !op.held) op.sent = this.socket.send(op.frame as unknown as Record<string, unknown>);
  }

  // An op refused over the budget (RATE_LIMITED, docs/protocol.md "Rooms"): shown still, and sent
  // again after retry_after with its client_id, unless the user made a newer op on the same message
  // or reaction meanwhile (the later to arrive stands on the server: this one would undo it).
  private holdOp(roomId: string, op: PendingOp, retryAfter: number): void {
    op.sent = false;
    op.held = true;
    setTimeout(() => {
      op.held = false;
      const made = this.opsMade.get(op.clientId) ?? 0;
      const newer = opTargets(roomId, op.kind, op.messageId, op.content).undone.some(
        (target) => (this.newestOps.get(target) ?? 0) > made,
      );
      if (newer) this.store.dropOp(roomId, op.clientId);
      else this.sendOps(roomId);
      this.changed();
    }, retryAfter);
  }

  async report(messageId: string, reason: string): Promise<boolean> {
    const roomId = this.openId;
    if (!roomId) return false;
    return (await this.api((token) => roomsApi.report(token, roomId, messageId, reason.trim()))) !== null;
  }

  async invite(roomId: string, userId: string): Promise<boolean> {
    return (await this.api((token) => roomsApi.invite(token, roomId, userId))) !== null;
  }

  typing(typing: boolean): void {
    if (!this.openId || !this.store.thread(this.openId).joined) return;
    const now = Date.now();
    // a typing burst is one frame every few seconds, and one `false` at its end
    if (typing && now - this.typingSentAt < TYPING_RESEND_MS) return;
    if (!typing && this.typingSentAt === 0) return;
    this.typingSentAt = typing ? now : 0;
    this.send({ type: 'typing', room_id: this.openId, metadata: { typing } });
  }

  // The room is on screen: open, the Rooms tab shown, the page visible.
  private seen(roomId: string): boolean {
    return roomId === this.openId && this.visible && !pageHidden();
  }

  // The open room is read through its resume point (docs/protocol.md, "Resume point": read marks
  // carry it).
  markRead(): void {
    const roomId = this.openId;
    if (!roomId) return;
    const thread = this.store.thread(roomId);
    const seq = thread.resume.point;
    if (!thread.joined || seq === 0 || seq <= thread.unread.readMark) return;
    thread.unread.read(seq);
    this.reads.mark(roomId, seq);
  }

  async loadOlder(): Promise<void> {
    const roomId = this.openId;
    if (!roomId) return;
    const thread = this.store.thread(roomId);
    const before = thread.nextBefore ?? this.store.oldestSeq(roomId);
    if (before === null || before === undefined || before <= 1) {
      thread.nextBefore = null;
      return this.changed();
    }
    const page = await this.api((token) => roomsApi.history(token, roomId, before, PAGE_SIZE));
    if (!page) return;
    for (const item of page.items) {
      const frame = asMessageFrame(item);
      if (frame) this.store.applyMessage(frame);
    }
    thread.nextBefore = page.items.length < PAGE_SIZE ? null : page.next_before;
    this.changed();
  }

  // ---- the socket ----

  onConnected(): void {
    // what was sent on the old socket and not acked goes again after the room's join answers
    this.live.clear();
    this.connection++;
    // read marks the old socket carried without an answer go again once their room is joined
    this.reads.reconnected();
    for (const roomId of this.store.roomIds) for (const op of this.store.ops(roomId)) op.sent = false;
    for (const roomId of this.wanted) {
      // held from an earlier connection: what changed meanwhile is read once the join answers
      if (this.store.thread(roomId).joined) this.refreshDue.add(roomId);
      this.sendJoin(roomId);
    }
  }

  onFrame(frame: Record<string, unknown>): void {
    const { roomId, userId, messageId, metadata } = frameFields(frame);
    const left = this.leaving.get(roomId);
    if (left && frame.type !== 'rooms_changed') {
      // the server took the leave: lists read from now on know it
      if (frame.client_id === left.clientId) left.listsBefore = this.listsAsked;
      // what the room sent before the server took the leave: the room is gone from here (a refused
      // leave is told)
      const refused = frame.type === 'error' && frame.client_id === left.clientId;
      if (!this.wanted.has(roomId) && !refused) return;
    }
    switch (frame.type) {
      case 'chat':
        this.onMessage(frame);
        this.watchGap(roomId);
        break;
      case 'ack':
        // a read mark's: the server holds it
        if (typeof frame.client_id === 'string' && this.reads.acked(frame.client_id)) break;
        // an edit's, delete's or reaction's: settled (once; a repeat is unknown by then)
        if (typeof frame.client_id === 'string' && this.store.ackOp(roomId, frame.client_id)) break;
        // a message's: the room's next one goes
        if (typeof frame.client_id === 'string' && this.outboxes.get(roomId)?.acked(frame.client_id))
          this.sendNext(roomId);
        if (typeof frame.client_id === 'string' && messageId) {
          this.store.ack(
            roomId,
            frame.client_id,
            messageId,
            typeof frame.seq === 'number' ? frame.seq : undefined,
            typeof frame.timestamp === 'string' ? frame.timestamp : undefined,
          );
          this.watchGap(roomId);
        }
        break;
      case 'join':
        this.onJoined(roomId, userId, typeof frame.seq === 'number' ? frame.seq : undefined, metadata);
        this.watchGap(roomId);
        break;
      case 'leave':
        if (userId === this.userId) {
          this.wanted.delete(roomId);
          this.live.delete(roomId);
          Object.assign(this.store.thread(roomId), { joined: false, out: true });
          this.store.thread(roomId).ops.clear();
          this.dropSends(roomId, metadata.reason === 'banned' ? 'BANNED' : 'NOT_A_MEMBER');
          this.reads.forget(roomId);
          if (metadata.reason === 'kicked' || metadata.reason === 'banned')
            this.notify(metadata.reason === 'banned' ? 'BANNED' : 'KICKED');
          void this.refresh();
        }
        break;
      case 'presence':
        this.onPresence(roomId, metadata);
        break;
      case 'rooms_changed':
        // a direct message opened with this user, an invitation, a removal: read the list again
        void this.refresh();
        break;
      case 'edit':
      case 'delete':
      case 'react':
        applyChangeFrame(this.store, frame);
        break;
      case 'typing':
        if (userId !== this.userId)
          this.store.setTyping(roomId, userId, metadata.typing === true, Date.now() + TYPING_SHOWN_MS);
        break;
      case 'read':
        // a direct message's read marks: the other side's, and this user's on any device (every
        // device's badge drops by what was read); marks only move forward
        if (typeof frame.seq === 'number') {
          const readBy = this.store.thread(roomId).readBy;
          readBy.set(userId, Math.max(frame.seq, readBy.get(userId) ?? 0));
          if (userId === this.userId) this.store.thread(roomId).unread.read(frame.seq);
        }
        break;
      case 'ai_stream':
        if (messageId && typeof metadata.phase === 'string')
          this.store.applyAiStream({
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
        this.onError(roomId, frame);
        break;
    }
    this.changed();
  }

  private onMessage(value: Record<string, unknown>): void {
    const frame = asMessageFrame(value);
    if (frame) this.onStored(frame);
  }

  // A stored message, live or read into a gap.
  private onStored(frame: RoomMessageFrame): void {
    const thread = this.store.thread(frame.room_id);
    const fresh = this.store.applyMessage(frame);
    this.store.setTyping(frame.room_id, frame.user_id, false, 0);
    if (!fresh || !thread.joined || frame.user_id === this.userId || frame.metadata.kind !== 'text') return;
    if (this.seen(frame.room_id)) this.markRead();
    else thread.unread.message(frame.seq);
    const room = this.rooms.find((entry) => entry.id === frame.room_id);
    // a direct message from someone new: the list learns of the room
    if (!room) {
      void this.refresh();
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
    if (userId && userId !== this.userId) return;
    const thread = this.store.thread(roomId);
    // the socket stands at `seq`: what it was sent first is the history the resume point starts from
    if (seq !== undefined) this.store.joinedAt(roomId, seq);
    const first = !thread.joined;
    // a first join: the room's change log starts here for this device (docs/protocol.md, "Change log")
    if (first && typeof metadata.changed === 'number') thread.changes.startsAt(metadata.changed);
    thread.joined = true;
    thread.out = false;
    if (Array.isArray(metadata.online)) {
      thread.online = new Set(metadata.online.filter((id): id is string => typeof id === 'string'));
      for (const id of thread.online) if (!this.presence.has(id)) this.presence.set(id, 'online');
    }
    this.live.add(roomId);
    this.sendOps(roomId);
    // (a read still on its way from an earlier connection reads again when it ends)
    if (!first && !this.refreshing.has(roomId) && this.refreshDue.delete(roomId))
      void this.refreshNewest(roomId);
    // the history a first join sent is the room list's to count; what follows it is counted here
    if (first) thread.unread.joinedAt(seq ?? thread.resume.point);
    // what the user read on any device (the member's read mark): the replay before it is not unread
    if (typeof metadata.read_seq === 'number') thread.unread.read(metadata.read_seq);
    if (this.seen(roomId)) {
      thread.unread.clear();
      this.markRead();
    }
    this.reads.flush();
    // a public room just joined is now the user's: the list shows it as such
    if (first && !this.rooms.some((room) => room.id === roomId && room.membership === 'member'))
      void this.refresh();
  }

  private onPresence(roomId: string, metadata: Record<string, unknown>): void {
    if (!Array.isArray(metadata.users)) return;
    const online = roomId ? this.store.thread(roomId).online : null;
    for (const entry of metadata.users)
      if (isRecord(entry) && typeof entry.user_id === 'string' && typeof entry.status === 'string') {
        this.presence.set(entry.user_id, entry.status as PresenceStatus);
        if (entry.status === 'offline') online?.delete(entry.user_id);
        else online?.add(entry.user_id);
      }
  }

  private onError(roomId: string, frame: Record<string, unknown>): void {
    const error = isRecord(frame.error) ? frame.error : {};
    const code = typeof error.code === 'string' ? error.code : 'INTERNAL';
    const clientId = typeof frame.client_id === 'string' ? frame.client_id : '';
    const refusedJoin = clientId.startsWith('join:');
    // not (or no longer) in the room
    const out = code === 'BANNED' || code === 'NOT_A_MEMBER' || (code === 'NOT_FOUND' && refusedJoin);
    // an op over the budget goes again; refused otherwise: dropped (the message shows what the
    // server holds), the notice says why
    const op = this.store.ops(roomId).find((pending) => pending.clientId === clientId);
    if (op && code === 'RATE_LIMITED' && error.recoverable !== false)
      return this.holdOp(roomId, op, retryAfterOf(error));
    if (clientId && this.store.dropOp(roomId, clientId)) return this.notify(code);
    // a read mark over the budget goes again after retry_after; refused otherwise, the room's
    // handling below says why
    if (this.reads.refused(clientId, code, retryAfterOf(error)) && code === 'RATE_LIMITED') return;
    // a message over the budget goes again by itself: nothing to show
    if (clientId && this.sendRefused(roomId, clientId, code, error, !out)) return;
    if (clientId && roomId) this.store.fail(roomId, clientId, code);
    if (code === 'RATE_LIMITED' && roomId && refusedJoin) {
      // many rooms joined at once after a reconnect: the rest follow when the budget allows
      setTimeout(() => this.wanted.has(roomId) && this.sendJoin(roomId), retryAfterOf(error));
      return;
    }
    // typing or a heartbeat over the budget: the next one says the same, nothing to show
    if (code === 'RATE_LIMITED' && !clientId) return;
    // stop joining it after every reconnect; the open room stays on screen with what it showed (and
    // what the user was writing)
    if (roomId && out) {
      this.wanted.delete(roomId);
      this.live.delete(roomId);
      const thread = this.store.thread(roomId);
      Object.assign(thread, { joined: false, out: true });
      // never sent again: not in the room
      thread.ops.clear();
      this.dropSends(roomId, code);
      this.reads.forget(roomId);
      if (roomId !== this.openId && thread.byKey.size === 0) this.store.forget(roomId);
    }
    this.notify(code);
  }

  // ---- @ai ----

  // Stops the AI reply streaming in the open room (its asker, the room's owner and moderators).
  stopAi(replyId: string): void {
    if (!this.openId) return;
    this.send({ type: 'ai_stop', room_id: this.openId, message_id: replyId, client_id: newClientId() });
  }

  // May this user stop the reply: they asked, or they moderate the room.
  canStopAi(roomId: string, askerId: string): boolean {
    const role = this.rooms.find((room) => room.id === roomId)?.role;
    return askerId === this.userId || role === 'owner' || role === 'moderator';
  }

  // Room setting (owner, moderators): the model `@ai` asks, `off`, or null for the default.
  async setAiModel(roomId: string, model: string | null): Promise<void> {
    const updated = await this.api((token) => roomsApi.update(token, roomId, { ai_model: model }));
    if (!updated) return;
    const room = this.rooms.find((entry) => entry.id === roomId);
    if (room) room.ai_model = updated.ai_model;
    this.changed();
  }

  // Was the room left here after the room list asked for as `asked` was read by the server?
  private leftSince(roomId: string, asked: number): boolean {
    const left = this.leaving.get(roomId);
    if (!left) return false;
    if (left.listsBefore === undefined || asked <= left.listsBefore) return true;
    // read after the server took the leave: the list is the truth from now on
    this.leaving.delete(roomId);
    return false;
  }

  private join(roomId: string): void {
    this.leaving.delete(roomId);
    this.wanted.add(roomId);
    this.sendJoin(roomId);
  }

  private sendJoin(roomId: string): void {
    const thread = this.store.thread(roomId);
    const frame: RoomClientFrame = { type: 'join', room_id: roomId, client_id: `join:${newClientId()}` };
    // a resume: everything after what the thread holds without a gap, nothing twice
    if (thread.joined) frame.last_seq = thread.resume.point;
    this.send(frame);
  }

  // ---- gaps (docs/protocol.md, "Resume point") ----

  // A room whose seqs have a gap (a seq arrived before a lower one) is watched: the gap usually fills
  // by itself (the lower seq was on its way); one still open after GAP_FILL_MS while connected is read
  // from the REST history. While disconnected nothing is read: the resume join replays from the
  // resume point, below the gap, and its `join` frame watches again.
  private watchGap(roomId: string, delay = GAP_FILL_MS): void {
    if (!this.wanted.has(roomId)) return this.unwatchGap(roomId);
    const thread = this.store.thread(roomId);
    if (!thread.resume.hasGap) return this.unwatchGap(roomId);
    if (!thread.joined || this.gapTimers.has(roomId) || this.gapReads.has(roomId)) return;
    // the newest page being read may close it
    if (this.refreshing.has(roomId)) return;
    this.gapTimers.set(
      roomId,
      setTimeout(() => {
        this.gapTimers.delete(roomId);
        // the newest page being read may close it: watched again once it is in
        if (!this.refreshing.has(roomId)) void this.fillGap(roomId);
      }, delay),
    );
  }

  private unwatchGap(roomId: string): void {
    clearTimeout(this.gapTimers.get(roomId));
    this.gapTimers.delete(roomId);
    this.gapFailures.delete(roomId);
  }

  // Reads the missing seqs page by page (GET /rooms/:id/messages?before=&limit=) and merges them like
  // live messages (each once, by message_id); seqs the store no longer holds are passed over.
  private async fillGap(roomId: string): Promise<void> {
    const thread = this.store.thread(roomId);
    const reading = () =>
      this.wanted.has(roomId) &&
      thread.joined &&
      this.store.thread(roomId) === thread &&
      this.socket.state.kind === 'connected';
    if (!reading()) return;
    this.gapReads.add(roomId);
    let failed = false;
    try {
      for (
        let request = thread.resume.nextRequest();
        request && reading();
        request = thread.resume.nextRequest()
      ) {
        const token = this.token();
        if (!token) break;
        const page = await roomsApi.history(token, roomId, request.before, request.limit);
        if (!reading()) break;
        thread.resume.applyPage(request, this.mergePage(roomId, page.items));
        this.changed();
      }
    } catch {
      // the server or the network is away: read again later (the notice is for what the user did)
      failed = true;
    } finally {
      this.gapReads.delete(roomId);
    }
    if (!failed) return this.watchGap(roomId);
    const failures = this.gapFailures.get(roomId) ?? 0;
    this.gapFailures.set(roomId, failures + 1);
    this.watchGap(roomId, backoffDelay(failures));
  }

  // A page read from the REST history, merged as stored messages of the room: the seqs it held.
  private mergePage(roomId: string, items: readonly unknown[]): number[] {
    const seqs: number[] = [];
    for (const item of items) {
      const frame = asMessageFrame(item);
      if (!frame || frame.room_id !== roomId) continue;
      this.onStored(frame);
      seqs.push(frame.seq);
    }
    return seqs;
  }

  // ---- changes made while away (docs/protocol.md, "Change log", "Resume point") ----

  // After a reconnect, once the room's join answered: what changed while away (edited text, the
  // deleted mark, reactions) on the messages the thread holds. With a change mark (the server keeps
  // a change log): the messages changed after it, as they are now (GET
  // /rooms/:id/messages?changed_after=<mark>), read on while the server says more: the same reads
  // however many messages the thread holds. Without one, or when the server says its log cannot
  // answer (reset) or refuses the parameter, the fallback: the room's newest page as the server holds
  // it now (GET /rooms/:id/messages?limit=100) replaces what the thread holds of those messages,
  // adds any it lacks, and closes a gap the page covers (the gap read waits meanwhile, so the same
  // page is not read twice); then the pages below it (?before=&limit=) down to the oldest message the
  // thread held (held-refresh.ts); after a reset the mark starts again at the head it named. This
  // user's ops not acked yet stay shown over it (they are kept apart from the stored message until
  // their ack), and what changed while the reads were on their way is applied again over them. One
  // refresh per room and reconnect; a failed one is tried again later.
  private async refreshNewest(roomId: string): Promise<void> {
    const thread = this.store.thread(roomId);
    const current = () => this.wanted.has(roomId) && this.store.thread(roomId) === thread;
    const holds = [...thread.byKey.values()].some((message) => message.messageId !== undefined);
    const token = this.token();
    if (!holds || !token || !current() || this.refreshing.has(roomId)) return;
    const connection = this.connection;
    this.refreshing.add(roomId);
    this.store.startRead(roomId);
    let merged = false;
    // the oldest message held before the read: pages below the newest one go down to it
    const floor = oldestHeld([...thread.byKey.values()].map((message) => message.seq));
    try {
      const log = await readChanges(
        this.store,
        roomId,
        async (after, limit) => {
          try {
            return await roomsApi.changedAfter(token, roomId, after, limit);
          } catch (error) {
            // a server without the log refuses the parameter
            if (error instanceof ApiError && error.status === 400) return 'refused';
            throw error;
          }
        },
        current,
      );
      if (log.merged) this.changed();
      merged = log.merged;
      if (log.fallback && current()) {
        await refreshHeld(
          floor,
          async (request) =>
            (request.before === undefined
              ? await roomsApi.newest(token, roomId, request.limit)
              : await roomsApi.history(token, roomId, request.before, request.limit)
            ).items,
          (items, request) => {
            const seqs = this.mergePage(roomId, items);
            if (request.before === undefined) thread.resume.applyNewest(HISTORY_PAGE_MAX, seqs);
            merged = true;
            this.changed();
            return seqs;
          },
          current,
        );
        if (log.head !== undefined && current()) thread.changes.restart(log.head);
      }
      if (current()) this.refreshFailures.delete(roomId);
    } catch {
      // read again later while connected (a reconnect meanwhile reads anyway)
      const failures = this.refreshFailures.get(roomId) ?? 0;
      this.refreshFailures.set(roomId, failures + 1);
      setTimeout(() => {
        if (this.connection === connection && this.live.has(roomId)) void this.refreshNewest(roomId);
      }, backoffDelay(failures));
    } finally {
      this.store.endRead(roomId, merged);
      this.refreshing.delete(roomId);
    }
    // a reconnect whose join answered while this read was on its way: read for it too
    if (this.live.has(roomId) && this.refreshDue.delete(roomId)) void this.refreshNewest(roomId);
    this.changed();
    this.watchGap(roomId);
  }

  private send(frame: RoomClientFrame): void {
    this.socket.send(frame as unknown as Record<string, unknown>);
  }

  // A REST call with the current token; a failure becomes the notice and null.
  private async api<T>(call: (token: string) => Promise<T>): Promise<T | null> {
    const token = this.token();
    if (!token) return null;
    try {
      return await call(token);
    } catch (error) {
      this.notify(error instanceof ApiError ? error.code : 'INTERNAL');
      return null;
    }
  }

  private notify(code: string): void {
    this.notice = { code, text: errorText(code) };
    this.changed();
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}

// What an op changes, as keys of RoomsClient.newestOps: `made`, the key of this op; `undone`, the
// keys of the ops made later that it must not undo. An edit changes the message's text, a reaction
// one emoji of the user's; a delete ends both (nothing made after it is undone by it).
function opTargets(
  roomId: string,
  kind: PendingOp['kind'],
  messageId: string,
  emoji: string,
): { made: string; undone: string[] } {
  const message = `${roomId}\u0000${messageId}`;
  const deleted = `${message}\u0000delete`;
  if (kind === 'edit') return { made: `${message}\u0000text`, undone: [`${message}\u0000text`, deleted] };
  if (kind === 'react') {
    const reaction = `${message}\u0000react\u0000${emoji}`;
    return { made: reaction, undone: [reaction, deleted] };
  }
  return { made: deleted, undone: [] };
}

// an error's retry_after (ms; docs/protocol.md, "Rooms"), or a second when it names none
function retryAfterOf(error: Record<string, unknown>): number {
  return typeof error.retry_after === 'number' && error.retry_after >= 0
    ? error.retry_after
    : RETRY_AFTER_DEFAULT_MS;
}

function pageHidden(): boolean {
  return typeof document !== 'undefined' && document.visibilityState === 'hidden';
}
