import { isRecord } from '../../../shared/protocol';
import type { ReadMarks } from './read-marks';
import type { RoomMembership } from './room-membership';
import type { RoomOps } from './room-ops';
import type { RoomSends } from './room-sends';
import type { RoomStore } from './room-store';
import { retryAfterOf } from './retry-after';

export interface RoomErrorLink {
  readonly store: RoomStore;
  readonly membership: RoomMembership;
  readonly reads: ReadMarks;
  readonly sends: RoomSends;
  readonly ops: RoomOps;
  openId(): string | null;
  // shows the code's notice
  notify(code: string): void;
}

// A room's `error` frame: what the server refused of this user's (a message, an op, a read mark, a
// join), and whether the user is out of the room.
export function onRoomError(link: RoomErrorLink, roomId: string, frame: Record<string, unknown>): void {
  const { store, membership, reads, sends, ops } = link;
  const error = isRecord(frame.error) ? frame.error : {};
  const code = typeof error.code === 'string' ? error.code : 'INTERNAL';
  const clientId = typeof frame.client_id === 'string' ? frame.client_id : '';
  const refusedJoin = clientId.startsWith('join:');
  // not (or no longer) in the room
  const out = code === 'BANNED' || code === 'NOT_A_MEMBER' || (code === 'NOT_FOUND' && refusedJoin);
  // an op over the budget goes again; refused otherwise: dropped (the message shows what the
  // server holds), the notice says why
  const op = store.ops(roomId).find((pending) => pending.clientId === clientId);
  if (op && code === 'RATE_LIMITED' && error.recoverable !== false)
    return ops.holdOp(roomId, op, retryAfterOf(error));
  if (clientId && store.dropOp(roomId, clientId)) return link.notify(code);
  // a read mark over the budget goes again after retry_after; refused otherwise, the room's
  // handling below says why
  if (reads.refused(clientId, code, retryAfterOf(error)) && code === 'RATE_LIMITED') return;
  // a message over the budget goes again by itself: nothing to show
  if (clientId && sends.sendRefused(roomId, clientId, code, error, !out)) return;
  if (clientId && roomId) store.fail(roomId, clientId, code);
  if (code === 'RATE_LIMITED' && roomId && refusedJoin) {
    // many rooms joined at once after a reconnect: the rest follow when the budget allows
    setTimeout(() => membership.wanted.has(roomId) && membership.sendJoin(roomId), retryAfterOf(error));
    return;
  }
  // typing or a heartbeat over the budget: the next one says the same, nothing to show
  if (code === 'RATE_LIMITED' && !clientId) return;
  // stop joining it after every reconnect; the open room stays on screen with what it showed (and
  // what the user was writing)
  if (roomId && out) {
    membership.out(roomId);
    const thread = store.thread(roomId);
    Object.assign(thread, { joined: false, out: true });
    // never sent again: not in the room
    thread.ops.clear();
    sends.dropSends(roomId, code);
    reads.forget(roomId);
    if (roomId !== link.openId() && thread.byKey.size === 0) store.forget(roomId);
  }
  link.notify(code);
}
