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

// The message kinds a room stores: what people write, and what the server writes (joins, leaves,
// moderation actions).
export type RoomMessageKind = 'text' | 'system';
export type PresenceStatus = 'online' | 'away' | 'offline';

// Error codes of room frames besides the shared ones (INVALID_MESSAGE, MESSAGE_TOO_LONG,
// RATE_LIMITED, NOT_FOUND, FORBIDDEN, UNAUTHORIZED, INTERNAL).
// AI_OFF: the room's AI is off (room setting ai_model); AI_BUSY: an AI reply is streaming in the
// room already (one at a time per room; ask again once it ended).
export const ROOM_ERROR_CODES = ['NOT_A_MEMBER', 'BANNED', 'MUTED', 'BLOCKED', 'AI_OFF', 'AI_BUSY'] as const;

// The sender id of the AI's messages in a room. A label only: the AI's messages are told apart by
// `metadata.ai`, which no client can set.
export const ROOM_AI_SENDER = 'ai';
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
    // in a read of the change log only (docs/protocol.md, "Change log"): the change number the
    // message carries (its last edit or delete) and each reaction's (emoji → user id → number, taken
    // back ones too): a change of them with a lower number is older than what the read holds
    change?: number;
    reaction_changes?: Record<string, Record<string, number>>;
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
  // changed: on a first join, where the device's change log starts (docs/protocol.md, "Change log"):
  // the room's newest change number, or below a change that may still be being written; what it was
  // sent reflects every change up to it
  // read_seq: the member's read mark (0: nothing read), as every device of the user set it
  metadata: { online: string[]; replayed: number; changed?: number; read_seq?: number };
}
export interface RoomLeftFrame {
  type: 'leave';
  room_id: string;
  user_id: string;
  metadata?: { reason?: 'left' | 'kicked' | 'banned' };
}
// The user's own list of rooms changed (docs/protocol.md, "Rooms"): a direct message opened with
// them, an invitation, or their removal (kick, ban). To every socket of theirs on every instance;
// the client reads GET /rooms again.
export interface RoomsChangedFrame {
  type: 'rooms_changed';
  room_id: string;
  metadata: { reason: 'dm' | 'invited' | 'removed' };
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
  // change: the room's change number of this edit (docs/protocol.md, "Change log")
  metadata: { edited_at: string; change?: number };
}
export interface DeleteFrame {
  type: 'delete';
  room_id: string;
  message_id: string;
  seq: number;
  user_id: string;
  metadata?: { change?: number };
}
export interface ReactFrame {
  type: 'react';
  room_id: string;
  message_id: string;
  // the message's seq: the server holds the frame behind the message (docs/protocol.md, "Guarantees")
  seq: number;
  user_id: string;
  content: string;
  metadata: { removed: boolean; change?: number };
}
// GET /rooms/:id/messages?changed_after=N (docs/protocol.md, "Change log"): the messages changed after
// change number N, each once as it is now (oldest first). `changed_through`: every change up to it is
// in `items` (read on from there); `more`: read again (`settling`: after a moment: a change above
// `changed_through` is still being written, its frame follows); `reset`: N is not a number this
// room's log answers from: read the held pages again instead.
export interface RoomChangesPage {
  items: RoomMessageFrame[];
  changed_through: number;
  more: boolean;
  settling?: boolean;
  reset?: boolean;
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
// How an AI reply in a room ended: complete; stopped (by its asker, a moderator or an admin);
// interrupted (the model broke off after its first words, or the server stopped); failed (the model
// gave nothing; `error` names why).
export type RoomAiOutcome = 'complete' | 'stopped' | 'interrupted' | 'failed';

export interface RoomAiUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

// `metadata.ai` of a stored AI message (user_id `ai`, kind text, metadata.reply_to = the asking
// message): which model answered whom, what it cost (billed to the room) and how it ended.
export interface RoomAiInfo {
  model: string;
  asker_id: string;
  usage: RoomAiUsage;
  outcome: RoomAiOutcome;
  // outcome stopped: who stopped it
  stopped_by?: string;
  // outcome failed or interrupted by the model: the error code (LLM_UNAVAILABLE)
  error?: string;
}

// An AI reply streaming in a room (ephemeral, to every member's socket on every instance): `start`,
// then `delta`s (content = the new text, metadata.offset = where it goes), then `end`
// (metadata.outcome). The reply is then stored once as a `chat` message with this message_id.
export interface AiStreamFrame {
  type: 'ai_stream';
  room_id: string;
  // the reply's id: the stored message gets it too
  message_id: string;
  user_id: typeof ROOM_AI_SENDER;
  content?: string;
  metadata: {
    phase: 'start' | 'delta' | 'end';
    // the asking message
    reply_to: string;
    asker_id: string;
    model: string;
    offset?: number;
    outcome?: RoomAiOutcome;
  };
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
  | RoomsChangedFrame
  | PresenceFrame
  | EditFrame
  | DeleteFrame
  | ReactFrame
  | TypingFrame
  | ReadFrame
  | AiStreamFrame;

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
