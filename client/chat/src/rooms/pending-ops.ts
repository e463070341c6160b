import { isReactionEmoji } from '../../../shared/protocol';
import { changeMessage } from './message-changes';
import type { PendingOp, RoomMessage, RoomThread } from './thread-state';

// This user's edits, deletes and reactions until acked (sent by room-ops.ts), as the thread shows them.

// The op's ack: the server holds it (applied now, or a copy of one applied already), so the message
// shows it even when the frame telling the room was lost with a socket. Returns false for an
// unknown client_id (not an op, or settled already).
export function applyOpAck(thread: RoomThread | undefined, clientId: string): boolean {
  const op = thread?.ops.get(clientId);
  if (!thread || !op) return false;
  thread.ops.delete(clientId);
  changeMessage(thread, op.messageId, (message) =>
    applyOp(message, op, message.editedAt ?? new Date().toISOString()),
  );
  return true;
}

// what an op leaves of a message
function applyOp(message: RoomMessage, op: PendingOp, editedAt: string): Partial<RoomMessage> {
  if (message.deleted) return {};
  switch (op.kind) {
    case 'edit':
      return { content: op.content, editedAt };
    case 'delete':
      return { content: '', deleted: true, reactions: {} };
    case 'react': {
      // a reaction is one emoji: a name like __proto__ never becomes a key (a store's old data)
      if (!isReactionEmoji(op.content)) return {};
      const users = (message.reactions[op.content] ?? []).filter((id) => id !== op.userId);
      if (!op.remove) users.push(op.userId);
      const reactions = { ...message.reactions };
      if (users.length > 0) reactions[op.content] = users;
      else delete reactions[op.content];
      return { reactions };
    }
  }
}

// the message with this user's pending ops on it, in the order they were made (a copy; the stored
// one is kept as the server sent it)
export function withOps(message: RoomMessage, ops: Map<string, PendingOp>): RoomMessage {
  if (ops.size === 0 || !message.messageId) return message;
  let shown = message;
  for (const op of ops.values())
    if (op.messageId === message.messageId)
      shown = {
        ...shown,
        ...applyOp(shown, op, shown.editedAt ?? new Date().toISOString()),
        opPending: true,
      };
  return shown;
}
