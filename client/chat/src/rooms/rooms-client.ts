import { ApiError } from '../../../shared/api';
import { errorText } from '../../../shared/errors';
import { codePoints } from '../../../shared/text-length';
import type { ModelInfo, PresenceStatus, RoomClientFrame } from '../../../shared/protocol';
import { newClientId } from '../chat-client';
import type { ChatSocket, RoomLink } from '../chat-socket';
import { DEFAULT_MAX_LENGTH } from '../chat-view';
import { roomParts, type RoomParts } from './room-parts';
import { RoomStore } from './room-store';
import { roomsApi, type RoomSummary } from './rooms-api';
import type { PendingOp } from './thread-state';

export type { RoomSummary };

export interface RoomsNotice {
  code: string;
  text: string;
}

const TYPING_RESEND_MS = 3_000;
// changes to the user's own rooms are pushed (rooms_changed); the list is also read again this
// often while the Rooms tab is shown, for a push lost while the server's bus was away
const LIST_REFRESH_MS = 60_000;

// Rooms and direct messages over the chat's own socket (/chat/ws carries room frames) and the REST
// API (/api/v1/chat/...): the list, the open room, and every joined room's thread. The view renders
// from here and calls the actions; nothing here renders. Its parts: room-parts.ts.
export class RoomsClient implements RoomLink {
  readonly store = new RoomStore();
  rooms: RoomSummary[] = [];
  openId: string | null = null;
  notice: RoomsNotice | null = null;
  listLoaded = false;
  readonly presence = new Map<string, PresenceStatus>();
  private listeners = new Set<() => void>();
  private typingSentAt = 0;
  private visible = false;
  private listTimer: ReturnType<typeof setInterval> | undefined;
  private readonly parts: RoomParts;

  constructor(
    private readonly socket: ChatSocket,
    private readonly token: () => string | null,
    readonly userId: string,
    // the models the deployment offers (the room setting `ai_model` chooses among them)
    readonly models: () => ModelInfo[] = () => [],
    // the longest message, in code points (MAX_MESSAGE_LENGTH, named by the chat's connection_status)
    readonly maxLength: () => number = () => DEFAULT_MAX_LENGTH,
  ) {
    socket.rooms = this;
    this.parts = roomParts({
      socket,
      store: this.store,
      userId,
      presence: this.presence,
      token: () => this.token(),
      api: (call) => this.api(call),
      rooms: () => this.rooms,
      openId: () => this.openId,
      seen: (roomId) => this.seen(roomId),
      markRead: () => this.markRead(),
      refresh: () => void this.refresh(),
      notify: (code, what) => this.notify(code, what),
      changed: () => this.changed(),
    });
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
    // the Rooms view starts: the user's blocks as the server holds them now (another device's too)
    void this.parts.blocks.load();
    if (this.openId) this.open(this.openId);
  }

  // ---- list ----

  async refresh(): Promise<void> {
    const { membership } = this.parts;
    const asked = membership.listAsked();
    // what each joined room had counted when the list was asked for: the server counted it too
    const asOf = new Map([...membership.wanted].map((id) => [id, this.store.thread(id).unread.newest]));
    const answer = await this.api((token) => roomsApi.list(token));
    // blocks that could not be read (or a block whose answer was lost) are read again with the list
    this.parts.blocks.retry();
    if (!answer) return;
    const list = membership.asRead(answer, asked);
    this.rooms = list;
    this.listLoaded = true;
    for (const room of list) {
      const thread = this.store.thread(room.id);
      // the server's count until this socket has seen the room live; then only what the user read on
      // another device since (its `read` lost on the way: unread-count.ts)
      if (!thread.joined) thread.unread.listed(room.unread_count, room.unread_more === true);
      else thread.unread.relisted(room.unread_count, room.read_seq, asOf.get(room.id) ?? 0);
      if (!thread.joined && this.seen(room.id)) thread.unread.clear();
      if (room.membership === 'member' && !membership.wanted.has(room.id)) membership.join(room.id);
    }
    membership.listed(list);
    this.changed();
  }

  async create(name: string, kind: 'public' | 'private'): Promise<void> {
    const room = await this.api((token) => roomsApi.create(token, name, kind));
    if (!room) return;
    this.parts.membership.join(room.id);
    this.openId = room.id;
    await this.refresh();
  }

  async openDm(userId: string): Promise<void> {
    const room = await this.api((token) => roomsApi.openDm(token, userId));
    if (!room) return;
    this.parts.membership.join(room.id);
    this.open(room.id);
    await this.refresh();
  }

  // Joins a public room (the WS join makes the user a member) and opens it.
  joinRoom(roomId: string): void {
    this.parts.membership.join(roomId);
    this.open(roomId);
  }

  async leave(roomId: string): Promise<void> {
    const clientId = newClientId();
    this.send({ type: 'leave', room_id: roomId, client_id: clientId });
    this.rooms = this.rooms.map((room) =>
      room.id === roomId ? { ...room, membership: 'left' as const, role: null } : room,
    );
    this.parts.sends.dropSends(roomId, null);
    this.parts.reads.forget(roomId);
    this.parts.membership.left(roomId, clientId);
    this.store.forget(roomId);
    this.parts.history.forget(roomId);
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
    if (!roomId || !content || this.tooLong(content)) return;
    this.parts.sends.write(roomId, content, replyTo);
    this.typingSentAt = 0;
    this.changed();
  }

  // The user's Retry of a message refused for good (room-sends.ts).
  retry(clientId: string): void {
    if (this.parts.sends.retry(clientId)) this.changed();
  }

  edit(messageId: string, content: string): void {
    const text = content.trim();
    if (!text || this.tooLong(text)) return;
    this.operate('edit', messageId, text, false);
  }

  // Over the limit, a message or an edit is not sent, and the notice says why: until the text-limits
  // audit of session 42 both were sent, refused MESSAGE_TOO_LONG, and a Retry could never succeed.
  private tooLong(text: string): boolean {
    if (codePoints(text) <= this.maxLength()) return false;
    this.notify('MESSAGE_TOO_LONG');
    return true;
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

  // An edit, delete or reaction of the open room (room-ops.ts).
  private operate(kind: PendingOp['kind'], messageId: string, content: string, remove: boolean): void {
    const roomId = this.openId;
    if (!roomId) return;
    this.parts.ops.operate(roomId, kind, messageId, content, remove);
    this.changed();
  }

  async report(messageId: string, reason: string): Promise<boolean> {
    const roomId = this.openId;
    if (!roomId) return false;
    return (await this.api((token) => roomsApi.report(token, roomId, messageId, reason.trim()))) !== null;
  }

  // The user's Block (asked to confirm first, by the view) and Unblock of another user (room-blocks.ts).
  block(userId: string): void {
    if (userId && userId !== this.userId) this.parts.blocks.set(userId, true);
  }

  unblock(userId: string): void {
    if (userId) this.parts.blocks.set(userId, false);
  }

  // The blocks read again (the Blocked users list's Retry): a failure is told again.
  loadBlocks(): Promise<void> {
    return this.parts.blocks.load('always');
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
    this.parts.reads.mark(roomId, seq);
  }

  async loadOlder(): Promise<void> {
    if (this.openId) await this.parts.history.loadOlder(this.openId);
  }

  // ---- the socket (room-frames.ts) ----

  onConnected(): void {
    this.parts.frames.onConnected();
    // blocked or unblocked on another device while this one was away
    void this.parts.blocks.load();
  }

  onFrame(frame: Record<string, unknown>): void {
    this.parts.frames.onFrame(frame);
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

  // `what`: what failed, said before why (the code's text)
  private notify(code: string, what?: string): void {
    this.notice = { code, text: what ? `${what} ${errorText(code)}` : errorText(code) };
    this.changed();
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }
}

function pageHidden(): boolean {
  return typeof document !== 'undefined' && document.visibilityState === 'hidden';
}
