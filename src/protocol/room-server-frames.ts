// The rooms protocol's server → client frames (docs/protocol.md, "Rooms"), typed once for the server
// and the front ends; rooms.ts exports them too. Plain TypeScript: nothing here may import Node or Nest.
import type { FrameError } from './frames';
import type { PresenceStatus, ROOM_AI_SENDER, RoomMessageKind } from './room-basics';

// What every room server frame carries besides its type: when the server made it (ISO-8601). Part
// of the one frame a fan-out serializes for all its sockets, so every socket (on every instance)
// reads the same time. With `user_id` wherever the frame is about a user, it is the room envelope
// `{ type, timestamp, user_id, room_id, message_id, content, metadata }`.
interface ServerFields {
  timestamp: string;
}

// A stored message of a room: its per-room seq, who sent it, and its state.
export interface RoomMessageFrame extends ServerFields {
  type: 'chat';
  room_id: string;
  message_id: string;
  seq: number;
  user_id: string;
  // a stored message's: when it was stored (the same on every copy of it)
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
// A client frame was handled. `user_id`: the user whose frame it answers; `timestamp`: a message's
// ack carries the message's (when it was stored), every other ack when it was made.
export interface RoomAckFrame extends ServerFields {
  type: 'ack';
  user_id: string;
  room_id?: string;
  client_id?: string;
  message_id?: string;
  seq?: number;
  metadata?: Record<string, unknown>;
}
// A client frame was refused (toErrorFrame), naming the room it was about; `user_id`: the user whose
// frame it answers.
export interface RoomErrorFrame extends ServerFields {
  type: 'error';
  user_id: string;
  room_id?: string;
  client_id?: string;
  error: FrameError;
}
export interface RoomJoinedFrame extends ServerFields {
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
export interface RoomLeftFrame extends ServerFields {
  type: 'leave';
  room_id: string;
  user_id: string;
  metadata?: { reason?: 'left' | 'kicked' | 'banned' };
}
// The user's own list of rooms changed (docs/protocol.md, "Rooms"): a direct message opened with
// them, an invitation, or their removal (kick, ban). To every socket of theirs on every instance;
// the client reads GET /rooms again. `user_id`: the user whose list it is.
export interface RoomsChangedFrame extends ServerFields {
  type: 'rooms_changed';
  user_id: string;
  room_id: string;
  metadata: { reason: 'dm' | 'invited' | 'removed' };
}
// Presence changes of a room's members, folded into one frame per room per second: `metadata.users`
// every change in it (oldest first), `user_id` the member whose change is the newest.
export interface PresenceFrame extends ServerFields {
  type: 'presence';
  user_id: string;
  room_id?: string;
  metadata: { users: Array<{ user_id: string; status: PresenceStatus }> };
}
export interface EditFrame extends ServerFields {
  type: 'edit';
  room_id: string;
  message_id: string;
  seq: number;
  user_id: string;
  content: string;
  // change: the room's change number of this edit (docs/protocol.md, "Change log")
  metadata: { edited_at: string; change?: number };
}
export interface DeleteFrame extends ServerFields {
  type: 'delete';
  room_id: string;
  message_id: string;
  seq: number;
  user_id: string;
  metadata?: { change?: number };
}
export interface ReactFrame extends ServerFields {
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

export interface TypingFrame extends ServerFields {
  type: 'typing';
  room_id: string;
  user_id: string;
  metadata: { typing: boolean };
}
export interface ReadFrame extends ServerFields {
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
export interface AiStreamFrame extends ServerFields {
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
export interface RoomConnectedFrame extends ServerFields {
  type: 'connection_status';
  user_id: string;
  // max_message_length: MAX_MESSAGE_LENGTH, in code points
  metadata: { status: 'connected'; token_expires_at: string; max_message_length: number };
}
export type RoomServerFrame =
  | RoomConnectedFrame
  | RoomMessageFrame
  | RoomAckFrame
  | RoomErrorFrame
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
