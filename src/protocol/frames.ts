// The WebSocket protocol, typed once for the server (src/) and the front ends (client/), which both
// import this file (docs/protocol.md). Plain TypeScript: nothing here may import Node or Nest.

export const CLIENT_MESSAGE_TYPES = [
  'user_message',
  'file_upload',
  'voice_message',
  'model_select',
  'help_request',
  'typing_indicator',
  'auth_refresh',
  'new_session',
  'stop_generation',
  'admin_join',
  'admin_leave',
  // issue 15: versions of a turn (docs/protocol.md, "Versions")
  'regenerate',
  'edit_message',
  'reply_select',
  // the user has seen an admin's message (read receipt)
  'read',
] as const;
export type ClientMessageType = (typeof CLIENT_MESSAGE_TYPES)[number];

// The envelope's string fields (CONTRACT §2), as both sides read them.
export const ENVELOPE_STRING_FIELDS = [
  'session_id',
  'id',
  'client_id',
  'content',
  'sender',
  'timestamp',
  'model_id',
  'file_id',
  'file_url',
] as const;

// The fields a client frame may carry; any other key is refused.
export const CLIENT_ENVELOPE_FIELDS = [
  'type',
  ...ENVELOPE_STRING_FIELDS,
  'metadata',
  'error',
  'seq',
  'last_seq',
] as const;

// Client → server messages once validated (the gateway's parser guarantees the required fields of
// each type), so handlers need no casts.
// what a client may send besides `type` (server-set fields are tolerated, never trusted)
type ClientFields = Omit<Frame, 'type' | 'error'> & { error?: Record<string, unknown>; last_seq?: number };
interface RequiredClientFields {
  user_message: { content: string };
  auth_refresh: { content: string };
  model_select: { model_id: string };
  file_upload: { file_id: string };
  voice_message: { file_id: string };
  admin_join: { session_id: string };
  admin_leave: { session_id: string };
  help_request: object;
  typing_indicator: object;
  new_session: object;
  stop_generation: object;
  regenerate: object;
  edit_message: { id: string; content: string };
  reply_select: { id: string };
  read: { id: string };
}
export type ClientMessageOf<T extends ClientMessageType> = ClientFields & {
  type: T;
} & RequiredClientFields[T];
export type ClientMessage = { [T in ClientMessageType]: ClientMessageOf<T> }[ClientMessageType];

// Events stored in a session's log: each has its own seq, an id and a sender.
export const STORED_EVENT_TYPES = [
  'user_message',
  'file_upload',
  'voice_message',
  'help_request',
  'system_message',
  'admin_join',
  'admin_leave',
  'ai_response',
  // the user chose which alternative reply of a turn the conversation goes on from
  'reply_select',
] as const;
export type StoredEventType = (typeof STORED_EVENT_TYPES)[number];

export type Sender = 'user' | 'ai' | 'admin' | 'system';

export interface FrameError {
  code: string;
  message: string;
  recoverable: boolean;
  retry_after?: number;
}

// The envelope every frame shares (CONTRACT §2): what a transport may read without knowing the type.
export interface Frame {
  type: string;
  session_id?: string;
  seq?: number;
  id?: string;
  client_id?: string;
  content?: string;
  sender?: string;
  timestamp?: string;
  model_id?: string;
  file_id?: string;
  file_url?: string;
  metadata?: Record<string, unknown>;
  error?: FrameError;
}

interface SessionFrame {
  session_id?: string;
  seq?: number;
  client_id?: string;
}

// Server → client frames, one member per type.
export interface AckFrame extends SessionFrame {
  type: 'ack';
  // only where something was stored
  id?: string;
  model_id?: string;
  metadata?: Record<string, unknown>;
}

export interface ErrorFrame extends SessionFrame {
  type: 'error';
  error: FrameError;
  // the room a rooms frame was about (src/protocol/rooms.ts)
  room_id?: string;
}

export interface ConnectionStatusFrame extends SessionFrame {
  type: 'connection_status';
  session_id: string;
  seq: number;
  metadata: {
    status: 'connected';
    restored: boolean;
    models: Array<{ id: string; name: string }>;
    model_id: string;
    name: string;
    token_expires_at: string;
    // MAX_MESSAGE_LENGTH, in code points
    max_message_length: number;
    assisting_admin?: string;
  } & Record<string, unknown>;
}

// A stored event of the session log (an AI reply too, once stored: metadata.done is true): its own
// seq, id, sender and time.
export interface StoredEventFrame extends SessionFrame {
  type: StoredEventType;
  seq: number;
  id: string;
  sender: Sender;
  timestamp: string;
  content?: string;
  model_id?: string;
  file_id?: string;
  file_url?: string;
  metadata?: Record<string, unknown>;
}

// A piece of a reply being streamed: the reply's id, the last stored seq, and the text from
// `offset` on (docs/protocol.md, Streaming).
export interface AiDeltaFrame extends SessionFrame {
  type: 'ai_response';
  id: string;
  sender: 'ai';
  model_id?: string;
  metadata: { delta: string; offset: number; done: false } & Record<string, unknown>;
}

export function isDeltaFrame(frame: ServerMessage): frame is AiDeltaFrame {
  return frame.type === 'ai_response' && frame.metadata?.done === false;
}

// Stored events have their own seq and are delivered once, in seq order; every other frame is
// ephemeral (carries the last stored seq) and is never reordered or dropped.
export function isStoredFrame(frame: ServerMessage): frame is StoredEventFrame {
  return typeof frame.seq === 'number' && 'id' in frame && 'timestamp' in frame && !isDeltaFrame(frame);
}

export interface LoadingFrame extends SessionFrame {
  type: 'loading';
  metadata: { loading: boolean } & Record<string, unknown>;
}

export interface SessionRenamedFrame extends SessionFrame {
  type: 'session_renamed';
  content: string;
}

export interface ModelSelectFrame extends SessionFrame {
  type: 'model_select';
  model_id: string;
}

export interface TypingFrame extends SessionFrame {
  type: 'typing_indicator';
  sender: 'user' | 'admin';
  metadata: { typing: boolean };
}

// A reply was rated (issue 15): every device of the user shows the rating.
export interface FeedbackFrame extends SessionFrame {
  type: 'feedback';
  id: string;
  metadata: { feedback: 'up' | 'down' };
}

// An admin's message was seen by the user (read receipt), to the session's admins.
export interface ReadFrame extends SessionFrame {
  type: 'read';
  id: string;
  metadata: { seen_at: string };
}

export type ServerMessage =
  | AckFrame
  | ErrorFrame
  | ConnectionStatusFrame
  | StoredEventFrame
  | AiDeltaFrame
  | LoadingFrame
  | SessionRenamedFrame
  | ModelSelectFrame
  | TypingFrame
  | FeedbackFrame
  | ReadFrame;

export type ServerFrameType = ServerMessage['type'];

// Frames that are not stored: they carry the session's last stored seq when sent.
export type EphemeralFrame = Exclude<ServerMessage, StoredEventFrame | ConnectionStatusFrame>;

// The one way an error frame is made, on every path that reports one.
export function toErrorFrame(
  code: string,
  message: string,
  options: {
    recoverable: boolean;
    sessionId?: string;
    clientId?: string;
    retryAfterMs?: number;
    roomId?: string;
  },
): ErrorFrame {
  const error: FrameError = { code, message, recoverable: options.recoverable };
  if (options.retryAfterMs !== undefined) error.retry_after = Math.ceil(options.retryAfterMs);
  const frame: ErrorFrame = { type: 'error', error };
  if (options.sessionId) frame.session_id = options.sessionId;
  if (options.roomId) frame.room_id = options.roomId;
  if (options.clientId !== undefined) frame.client_id = options.clientId;
  return frame;
}
