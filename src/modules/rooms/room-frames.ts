import { toErrorFrame } from '../../protocol/frames';
import type { RoomErrorFrame, RoomMessageFrame, RoomServerFrame } from '../../protocol/rooms';
import type { RoomMessageRecord } from './room.types';

// A stored room message as clients see it: a deleted one keeps its place (seq, sender, time) and
// shows no content (PERSIST-004).
export function messageFrame(
  message: RoomMessageRecord,
  reactions?: Record<string, string[]>,
): RoomMessageFrame {
  const frame: RoomMessageFrame = {
    type: 'chat',
    room_id: message.room_id,
    message_id: message.id,
    seq: message.seq,
    user_id: message.sender_id,
    timestamp: message.created_at.toISOString(),
    metadata: { ...message.metadata, kind: message.kind },
  };
  if (message.client_id !== undefined) frame.client_id = message.client_id;
  if (message.deleted_at) {
    frame.metadata.deleted = true;
    // its file went with it (a message deleted before deletes took the file still names it)
    delete frame.metadata.file;
    return frame;
  }
  if (message.content !== undefined) frame.content = message.content;
  if (message.file_id !== undefined) {
    frame.file_id = message.file_id;
    // the stable app URL (redirects to a URL signed when read, for members only); never stored signed
    frame.file_url = `/chat/files/${encodeURIComponent(message.file_id)}`;
  }
  if (message.reply_to !== undefined) frame.metadata.reply_to = message.reply_to;
  if (message.edited_at) frame.metadata.edited_at = message.edited_at.toISOString();
  if (reactions && Object.keys(reactions).length > 0) frame.metadata.reactions = reactions;
  return frame;
}

// A refusal of a user's room frame: the one error frame (toErrorFrame) in the room envelope, naming
// the user whose frame it answers and when it was made.
export function roomErrorFrame(userId: string, ...error: Parameters<typeof toErrorFrame>): RoomErrorFrame {
  return { ...toErrorFrame(...error), user_id: userId, timestamp: new Date().toISOString() };
}

// Stored messages carry their own seq and are delivered once and in order (SeqOrder); every other
// room frame goes out as it comes.
export function isStoredRoomFrame<T extends { type: string; seq?: number; message_id?: unknown }>(
  frame: T,
): frame is T & { seq: number } {
  return frame.type === 'chat' && typeof frame.seq === 'number' && frame.message_id !== undefined;
}

export type { RoomServerFrame };
