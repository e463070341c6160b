import type { RoomClientFrame } from '../../../shared/protocol';
import { newClientId } from '../chat-client';
import type { ChatSocket } from '../chat-socket';
import { RoomOutbox, type OutgoingMessage } from './room-outbox';
import type { RoomStore } from './room-store';
import { retryAfterOf } from './retry-after';

// This user's messages to the rooms: each room's outbox (one on the wire at a time, room-outbox.ts),
// the answers to them, and the ones refused for good until the user's Retry.
export class RoomSends {
  // per room: this user's messages not acked yet, one on the wire at a time (room-outbox.ts)
  private outboxes = new Map<string, RoomOutbox>();
  // messages refused for good, by client_id, until the user's Retry
  private refusedSends = new Map<string, { roomId: string; message: OutgoingMessage }>();

  constructor(
    private readonly socket: ChatSocket,
    private readonly store: RoomStore,
    private readonly userId: string,
  ) {}

  // A message the user wrote in the room: shown at once, sent after the room's messages written
  // before it.
  write(roomId: string, content: string, replyTo?: string): void {
    const clientId = newClientId();
    this.store.addPending(roomId, { clientId, userId: this.userId, content, replyTo });
    const frame: RoomClientFrame = {
      type: 'chat',
      room_id: roomId,
      client_id: clientId,
      content,
      ...(replyTo ? { metadata: { reply_to: replyTo } } : {}),
    };
    this.add(roomId, { clientId, frame });
  }

  private add(roomId: string, message: OutgoingMessage): void {
    this.outbox(roomId).add(message);
    this.sendNext(roomId);
  }

  // The user's Retry of a message refused for good: sent again as first made (same client_id, so
  // the server stores it once), after the room's messages written before the Retry. False when it
  // is not a refused message.
  retry(clientId: string): boolean {
    const refused = this.refusedSends.get(clientId);
    if (!refused) return false;
    this.refusedSends.delete(clientId);
    this.store.clearFailure(refused.roomId, clientId);
    this.add(refused.roomId, refused.message);
    return true;
  }

  // A message's ack: the room's next one goes.
  acked(roomId: string, clientId: string): void {
    if (this.outboxes.get(roomId)?.acked(clientId)) this.sendNext(roomId);
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
  sendRefused(
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
  dropSends(roomId: string, code: string | null): void {
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
}
