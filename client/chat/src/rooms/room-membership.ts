import type { RoomClientFrame } from '../../../shared/protocol';
import { newClientId } from '../chat-client';
import type { ChatSocket } from '../chat-socket';
import type { RoomStore } from './room-store';
import type { RoomSummary } from './rooms-api';

// The rooms this socket should be in and is in, their joins, and the rooms this device left until
// the room list knows it.
export class RoomMembership {
  // rooms this socket should be in: joined again (with last_seq) after every reconnect
  readonly wanted = new Set<string>();
  // rooms whose join answered on this connection: their ops go out now
  readonly live = new Set<string>();
  // rooms this device left: the leave's client_id, and once acked, how many room lists were asked
  // for before that; a list asked for earlier may still name the room as the user's
  private leaving = new Map<string, { clientId: string; listsBefore?: number }>();
  private listsAsked = 0;

  constructor(
    private readonly socket: ChatSocket,
    private readonly store: RoomStore,
  ) {}

  // The socket is connected and the room's join answered on it.
  ready(roomId: string): boolean {
    return this.live.has(roomId) && this.socket.state.kind === 'connected';
  }

  join(roomId: string): void {
    this.leaving.delete(roomId);
    this.wanted.add(roomId);
    this.sendJoin(roomId);
  }

  sendJoin(roomId: string): void {
    const thread = this.store.thread(roomId);
    const frame: RoomClientFrame = { type: 'join', room_id: roomId, client_id: `join:${newClientId()}` };
    // a resume: everything after what the thread holds without a gap, nothing twice
    if (thread.joined) frame.last_seq = thread.resume.point;
    this.socket.send(frame as unknown as Record<string, unknown>);
  }

  // The user left the room here (`clientId`: the leave's).
  left(roomId: string, clientId: string): void {
    this.leaving.set(roomId, { clientId });
    this.out(roomId);
  }

  // Not (or no longer) in the room: not joined again after a reconnect.
  out(roomId: string): void {
    this.wanted.delete(roomId);
    this.live.delete(roomId);
  }

  // A room list is asked for: its number, for asRead().
  listAsked(): number {
    return ++this.listsAsked;
  }

  // The room list asked for as `asked`, as the server answered it.
  asRead(answer: RoomSummary[], asked: number): RoomSummary[] {
    // a room left here since this list was read is not the user's (joined again, it would be)
    return answer.map((room) =>
      room.membership === 'member' && this.leftSince(room.id, asked)
        ? { ...room, membership: 'left' as const, role: null }
        : room,
    );
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

  // The room list read (and its rooms joined).
  listed(list: RoomSummary[]): void {
    // kicked, banned or gone: no longer joined again after a reconnect
    const members = new Set(list.filter((room) => room.membership === 'member').map((room) => room.id));
    for (const roomId of this.wanted)
      if (!members.has(roomId)) {
        this.wanted.delete(roomId);
        this.store.thread(roomId).joined = false;
      }
  }

  // A frame of a room: true when it is dropped (the room was left here).
  gone(roomId: string, frame: Record<string, unknown>): boolean {
    const left = this.leaving.get(roomId);
    if (!left || frame.type === 'rooms_changed') return false;
    // the server took the leave: lists read from now on know it
    if (frame.client_id === left.clientId) left.listsBefore = this.listsAsked;
    // what the room sent before the server took the leave: the room is gone from here (a refused
    // leave is told)
    const refused = frame.type === 'error' && frame.client_id === left.clientId;
    return !this.wanted.has(roomId) && !refused;
  }
}
