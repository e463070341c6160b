// The rooms protocol (people chatting with each other; docs/protocol.md, "Rooms"), typed once for the
// server and the front ends. Plain TypeScript: nothing here may import Node or Nest. Room frames
// travel on `/ws/chat` and on the AI chat's `/chat/ws`, and every one of them names its room in
// `room_id` (heartbeat and auth_refresh aside). One type is both protocols': `read` (a room's read
// mark; the AI chat's read receipt of an admin message): on `/chat/ws` it is a room's when it names
// a room (isRoomClientFrame).

import { CLIENT_MESSAGE_TYPES } from './frames';

export const ROOM_CLIENT_TYPES = [
  'chat',
  'join',
  'leave',
  'edit',
  'delete',
  'react',
  'typing',
  'read',
  'heartbeat',
  'ai_stop',
] as const;
export type RoomClientType = (typeof ROOM_CLIENT_TYPES)[number];

// What a room frame may carry; any other key is refused with INVALID_MESSAGE.
export const ROOM_ENVELOPE_FIELDS = [
  'type',
  'timestamp',
  'user_id',
  'room_id',
  'message_id',
  'content',
  'metadata',
  'client_id',
  'seq',
  'last_seq',
  'file_id',
] as const;

export { ROOM_AI_SENDER, type PresenceStatus, type RoomMessageKind } from './room-basics';

// Error codes of room frames besides the shared ones (INVALID_MESSAGE, MESSAGE_TOO_LONG,
// RATE_LIMITED, NOT_FOUND, FORBIDDEN, UNAUTHORIZED, INTERNAL).
// AI_OFF: the room's AI is off (room setting ai_model); AI_BUSY: an AI reply is streaming in the
// room already (one at a time per room; ask again once it ended).
export const ROOM_ERROR_CODES = ['NOT_A_MEMBER', 'BANNED', 'MUTED', 'BLOCKED', 'AI_OFF', 'AI_BUSY'] as const;

// room setting ai_model: this value turns `@ai` off in the room; null (unset) is the deployment's
// default model (the first of LLM_PROVIDERS)
export const ROOM_AI_OFF = 'off';

// `@ai` as a word of its own (docs/protocol.md, "@ai in a room"): case-insensitive, not preceded by a
// letter, digit, `_` or `@` (so `bob@ai.com` is an address) and not followed by a letter, digit, `_`
// or `-` (so `@aim`, `@ai_bot`, `@ai-team` are other handles). Punctuation after it is fine (`@ai,`).
const AI_MENTION = /(?<![\p{L}\p{N}_@])@ai(?![\p{L}\p{N}_-])/iu;

export function mentionsAi(text: string | undefined): boolean {
  return text !== undefined && AI_MENTION.test(text);
}

interface RoomFields {
  room_id: string;
  client_id?: string;
  timestamp?: string;
  user_id?: string;
}

// Client → server, once validated: each type's required fields are present.
export interface ChatClientFrame extends RoomFields {
  type: 'chat';
  content?: string;
  file_id?: string;
  metadata?: { reply_to?: string };
}
export interface JoinClientFrame extends RoomFields {
  type: 'join';
  last_seq?: number;
}
export interface LeaveClientFrame extends RoomFields {
  type: 'leave';
}
export interface EditClientFrame extends RoomFields {
  type: 'edit';
  message_id: string;
  content: string;
}
export interface DeleteClientFrame extends RoomFields {
  type: 'delete';
  message_id: string;
}
export interface ReactClientFrame extends RoomFields {
  type: 'react';
  message_id: string;
  // one emoji (isReactionEmoji, reaction-emoji.ts)
  content: string;
  metadata?: { remove?: boolean };
}
export interface TypingClientFrame extends RoomFields {
  type: 'typing';
  metadata: { typing: boolean };
}
export interface ReadClientFrame extends RoomFields {
  type: 'read';
  seq: number;
}
export interface HeartbeatClientFrame {
  type: 'heartbeat';
  client_id?: string;
  metadata?: { status?: 'online' | 'away' };
}
// Stops the AI reply streaming in the room: its asker, the room's owner and moderators, admins.
export interface AiStopClientFrame extends RoomFields {
  type: 'ai_stop';
  // the reply's id (message_id of its ai_stream frames)
  message_id: string;
}
export type RoomClientFrame =
  | ChatClientFrame
  | JoinClientFrame
  | LeaveClientFrame
  | EditClientFrame
  | DeleteClientFrame
  | ReactClientFrame
  | TypingClientFrame
  | ReadClientFrame
  | HeartbeatClientFrame
  | AiStopClientFrame;

// Server → client: the frames' types (room-server-frames.ts), here too for every importer.
export * from './room-server-frames';

export function isRoomClientType(type: unknown): type is RoomClientType {
  return typeof type === 'string' && (ROOM_CLIENT_TYPES as readonly string[]).includes(type);
}

// On the AI chat's socket: whether a client frame is for the rooms (by its type, and for a type both
// protocols have, by naming a room).
export function isRoomClientFrame(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const frame = value as { type?: unknown; room_id?: unknown };
  if (!isRoomClientType(frame.type)) return false;
  return !(CLIENT_MESSAGE_TYPES as readonly string[]).includes(frame.type) || frame.room_id !== undefined;
}
