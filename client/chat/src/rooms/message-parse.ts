import { isReactionEmoji, isRecord, type RoomMessageFrame } from '../../../shared/protocol';
import type { RoomMessage } from './thread-state';

// The envelope fields of a server frame, '' (or {}) where absent or of another type.
export function frameFields(frame: Record<string, unknown>): {
  roomId: string;
  userId: string;
  messageId: string;
  metadata: Record<string, unknown>;
} {
  return {
    roomId: typeof frame.room_id === 'string' ? frame.room_id : '',
    userId: typeof frame.user_id === 'string' ? frame.user_id : '',
    messageId: typeof frame.message_id === 'string' ? frame.message_id : '',
    metadata: isRecord(frame.metadata) ? frame.metadata : {},
  };
}

// A stored message as the server sends it (live, replayed, or in a history page); anything else is
// not one.
export function asMessageFrame(value: unknown): RoomMessageFrame | null {
  if (!isRecord(value)) return null;
  const { room_id, message_id, seq, user_id } = value;
  if (typeof room_id !== 'string' || typeof message_id !== 'string' || typeof user_id !== 'string')
    return null;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq)) return null;
  return {
    type: 'chat',
    room_id,
    message_id,
    seq,
    user_id,
    timestamp: typeof value.timestamp === 'string' ? value.timestamp : '',
    ...(typeof value.client_id === 'string' ? { client_id: value.client_id } : {}),
    ...(typeof value.content === 'string' ? { content: value.content } : {}),
    metadata: isRecord(value.metadata)
      ? { ...value.metadata, kind: value.metadata.kind === 'system' ? 'system' : 'text' }
      : { kind: 'text' },
  };
}

// A stored message as the thread holds it.
export function toMessage(frame: RoomMessageFrame): RoomMessage {
  const metadata = frame.metadata ?? { kind: 'text' };
  return {
    key: frame.message_id,
    messageId: frame.message_id,
    clientId: frame.client_id,
    seq: frame.seq,
    userId: frame.user_id,
    content: frame.content ?? '',
    timestamp: frame.timestamp,
    kind: metadata.kind === 'system' ? 'system' : 'text',
    action: typeof metadata.action === 'string' ? metadata.action : undefined,
    targetUserId: typeof metadata.target_user_id === 'string' ? metadata.target_user_id : undefined,
    replyTo: typeof metadata.reply_to === 'string' ? metadata.reply_to : undefined,
    editedAt: typeof metadata.edited_at === 'string' ? metadata.edited_at : undefined,
    deleted: metadata.deleted === true,
    ...(metadata.unreadable === true ? { unreadable: true } : {}),
    reactions: parseReactions(metadata.reactions),
    pending: false,
    ...(frame.user_id === 'ai' && isRecord(metadata.ai) ? { ai: parseAi(metadata.ai) } : {}),
  };
}

function parseAi(value: Record<string, unknown>): NonNullable<RoomMessage['ai']> {
  return {
    model: typeof value.model === 'string' ? value.model : '',
    outcome: typeof value.outcome === 'string' ? value.outcome : 'complete',
    ...(typeof value.error === 'string' ? { error: value.error } : {}),
  };
}

function parseReactions(value: unknown): Record<string, string[]> {
  if (!isRecord(value)) return {};
  const reactions: Record<string, string[]> = {};
  for (const [emoji, users] of Object.entries(value))
    // one emoji each: a stored name like __proto__ or constructor is left out, never made a key
    if (Array.isArray(users) && isReactionEmoji(emoji)) {
      const ids = users.filter((id): id is string => typeof id === 'string');
      if (ids.length > 0) reactions[emoji] = ids;
    }
  return reactions;
}
