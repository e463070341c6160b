import type { RoomClientFrame } from '../../../shared/protocol';
import { newClientId } from '../chat-client';
import type { ChatSocket } from '../chat-socket';
import type { RoomStore } from './room-store';
import type { PendingOp } from './thread-state';

export interface RoomOpsLink {
  readonly socket: ChatSocket;
  readonly store: RoomStore;
  readonly userId: string;
  // the socket is connected and the room's join answered on it
  ready(roomId: string): boolean;
  changed(): void;
}

// This user's edits, deletes and reactions on their way: sent once the room is joined, held over
// the budget, and never sent again over a newer op on the same thing.
export class RoomOps {
  // ops in the order made (per client_id), and the newest made on each thing an op changes
  // (opTargets): an op held over the budget is not sent again over a newer one on the same thing
  private opsMade = new Map<string, number>();
  private newestOps = new Map<string, number>();

  constructor(private readonly link: RoomOpsLink) {}

  // An edit, delete or reaction of the open room, with a client_id of its own: shown at once, kept
  // until its ack or error, and sent again with the same client_id after a reconnect once the room
  // is joined again (the server applies a copy of an applied client_id once, docs/protocol.md, "Rooms").
  operate(
    roomId: string,
    kind: PendingOp['kind'],
    messageId: string,
    content: string,
    remove: boolean,
  ): void {
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
    this.link.store.addOp(roomId, {
      clientId,
      userId: this.link.userId,
      messageId,
      kind,
      content,
      remove,
      frame,
      sent: false,
    });
    this.sendOps(roomId);
  }

  // Sends the room's ops not sent on this connection, in the order they were made, once the room
  // was joined on it (an op sent before the join answered would be answered before the replay).
  sendOps(roomId: string): void {
    if (!this.link.ready(roomId)) return;
    for (const op of this.link.store.ops(roomId))
      if (!op.sent && !op.held)
        op.sent = this.link.socket.send(op.frame as unknown as Record<string, unknown>);
  }

  // An op refused over the budget (RATE_LIMITED, docs/protocol.md "Rooms"): shown still, and sent
  // again after retry_after with its client_id, unless the user made a newer op on the same message
  // or reaction meanwhile (the later to arrive stands on the server: this one would undo it).
  holdOp(roomId: string, op: PendingOp, retryAfter: number): void {
    op.sent = false;
    op.held = true;
    setTimeout(() => {
      op.held = false;
      const made = this.opsMade.get(op.clientId) ?? 0;
      const newer = opTargets(roomId, op.kind, op.messageId, op.content).undone.some(
        (target) => (this.newestOps.get(target) ?? 0) > made,
      );
      if (newer) this.link.store.dropOp(roomId, op.clientId);
      else this.sendOps(roomId);
      this.link.changed();
    }, retryAfter);
  }
}

// What an op changes, as keys of RoomOps.newestOps: `made`, the key of this op; `undone`, the
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
