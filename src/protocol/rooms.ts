// The rooms protocol (people chatting with each other; docs/protocol.md, "Rooms"), typed once for the
// server and the front ends. Plain TypeScript: nothing here may import Node or Nest. Room frames
// travel on `/ws/chat` and on the AI chat's `/chat/ws`; only `read` is a type of both (isRoomFrame),
// and every one of them names its room in `room_id` (heartbeat and auth_refresh aside).

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

// The message kinds a room stores: what people write, and what the server writes (joins, leaves,
// moderation actions).
export type RoomMessageKind = 'text' | 'system';
export type PresenceStatus = 'online' | 'away' | 'offline';

// Error codes of room frames besides the shared ones (INVALID_MESSAGE, MESSAGE_TOO_LONG,
// RATE_LIMITED, NOT_FOUND, FORBIDDEN, UNAUTHORIZED, INTERNAL).
export const ROOM_ERROR_CODES = ['NOT_A_MEMBER', 'BANNED', 'MUTED', 'BLOCKED'] as const;

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
  // the emoji
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
export type RoomClientFrame =
  | ChatClientFrame
  | JoinClientFrame
  | LeaveClientFrame
  | EditClientFrame
  | DeleteClientFrame
  | ReactClientFrame
  | TypingClientFrame
  | ReadClientFrame
  | HeartbeatClientFrame;

// Server → client.
// A stored message of a room: its per-room seq, who sent it, and its state.
export interface RoomMessageFrame {
  type: 'chat';
  room_id: string;
  message_id: string;
  seq: number;
  user_id: string;
  timestamp: string;
  client_id?: string;
  // absent when the message was deleted
  content?: string;
  file_id?: string;
  file_url?: string;
  metadata: {
    kind: RoomMessageKind;
    reply_to?: string;
    edited_at?: string;
    deleted?: boolean;
    reactions?: Record<string, string[]>;
  } & Record<string, unknown>;
}
export interface RoomAckFrame {
  type: 'ack';
  room_id?: string;
  client_id?: string;
  message_id?: string;
  seq?: number;
  timestamp?: string;
  metadata?: Record<string, unknown>;
}
export interface RoomJoinedFrame {
  type: 'join';
  room_id: string;
  user_id: string;
  seq: number;
  metadata: { online: string[]; replayed: number };
}
export interface RoomLeftFrame {
  type: 'leave';
  room_id: string;
  user_id: string;
  metadata?: { reason?: 'left' | 'kicked' | 'banned' };
}
export interface PresenceFrame {
  type: 'presence';
  room_id?: string;
  metadata: { users: Array<{ user_id: string; status: PresenceStatus }> };
}
export interface EditFrame {
  type: 'edit';
  room_id: string;
  message_id: string;
  seq: number;
  user_id: string;
  content: string;
  metadata: { edited_at: string };
}
export interface DeleteFrame {
  type: 'delete';
  room_id: string;
  message_id: string;
  seq: number;
  user_id: string;
}
export interface ReactFrame {
  type: 'react';
  room_id: string;
  message_id: string;
  user_id: string;
  content: string;
  metadata: { removed: boolean };
}
export interface TypingFrame {
  type: 'typing';
  room_id: string;
  user_id: string;
  metadata: { typing: boolean };
}
export interface ReadFrame {
  type: 'read';
  room_id: string;
  user_id: string;
  seq: number;
}
// first frame on /ws/chat
export interface RoomConnectedFrame {
  type: 'connection_status';
  user_id: string;
  metadata: { status: 'connected'; token_expires_at: string };
}
export type RoomServerFrame =
  | RoomConnectedFrame
  | RoomMessageFrame
  | RoomAckFrame
  | RoomJoinedFrame
  | RoomLeftFrame
  | PresenceFrame
  | EditFrame
  | DeleteFrame
  | ReactFrame
  | TypingFrame
  | ReadFrame;

export function isRoomClientType(type: unknown): type is RoomClientType {
  return typeof type === 'string' && (ROOM_CLIENT_TYPES as readonly string[]).includes(type);
}

// On the AI chat's socket: is this parsed frame a room frame? `read` is also the AI chat's read
// receipt (issue 15); a room's `read` always names its room, the AI chat's never does.
export function isRoomFrame(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as { type?: unknown; room_id?: unknown };
  if (!isRoomClientType(record.type)) return false;
  return record.type !== 'read' || record.room_id !== undefined;
}
