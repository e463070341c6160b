import type { ClientMessageType, ServerFrameType } from '../protocol/frames';
import type { RoomClientFrame, RoomServerFrame } from '../protocol/rooms';

// What docs/asyncapi.yaml says about each frame of src/protocol/frames.ts. The records are keyed
// by the protocol's own type unions, so a frame type added there fails the typecheck until it is
// described here (and asyncapi.spec.ts checks the written file against the protocol module).
export interface FrameDoc {
  summary: string;
  // envelope fields (besides type) the frame always carries
  required?: string[];
  // envelope fields it may carry
  optional?: string[];
  // its metadata keys, when it has some worth naming
  metadata?: Record<string, object>;
  metadataRequired?: string[];
  example: Record<string, unknown>;
}

const SESSION = 'a6f1c2d4e5';
const AT = '2026-01-01T12:00:00.000Z';

export const CLIENT_FRAME_DOCS: { [T in ClientMessageType]: FrameDoc } = {
  user_message: {
    summary:
      'A text message (1..MAX_MESSAGE_LENGTH characters): stored, acked, answered by the model or the assisting admin.',
    required: ['content'],
    optional: ['client_id', 'session_id'],
    example: { type: 'user_message', client_id: 'c-1', content: 'Hello!' },
  },
  file_upload: {
    summary: 'Attaches an uploaded file (POST /chat/uploads) as a message, with an optional caption.',
    required: ['file_id'],
    optional: ['client_id', 'content'],
    example: { type: 'file_upload', client_id: 'c-2', file_id: 'f-9', content: 'the invoice' },
  },
  voice_message: {
    summary: 'Sends an uploaded audio file: transcribed, stored with metadata.transcript, then answered.',
    required: ['file_id'],
    optional: ['client_id'],
    example: { type: 'voice_message', client_id: 'c-3', file_id: 'f-10' },
  },
  model_select: {
    summary: 'Later turns of the session use this model; an unknown id gets UNKNOWN_MODEL.',
    required: ['model_id'],
    optional: ['client_id'],
    example: { type: 'model_select', model_id: 'claude' },
  },
  help_request: {
    summary:
      "Asks for a human: the session is marked help-requested and admins are alerted, once per request (a resend with the same client_id takes no step twice). While help waits, another request stores nothing: its ack says metadata.already_requested (no id; seq is the socket's). The answer is a stored system_message with metadata.help: notified, assisted (an admin is in the chat) or ended.",
    optional: ['client_id', 'content'],
    example: { type: 'help_request', client_id: 'c-4', content: 'I need a person' },
  },
  typing_indicator: {
    summary: 'Relayed to the other human side (user ↔ admin).',
    optional: ['session_id'],
    metadata: { typing: { type: 'boolean' } },
    metadataRequired: ['typing'],
    example: { type: 'typing_indicator', metadata: { typing: true } },
  },
  auth_refresh: {
    summary: 'Replaces the connection token before it expires; an invalid token is a fatal UNAUTHORIZED.',
    required: ['content'],
    example: { type: 'auth_refresh', content: 'eyJhbGciOiJIUzI1NiJ9.e30.signature' },
  },
  new_session: {
    summary: 'Ends the active session and opens a new one (a connection_status follows).',
    example: { type: 'new_session' },
  },
  stop_generation: {
    summary: 'Stops the reply being generated; the text so far is stored with metadata.stopped.',
    example: { type: 'stop_generation' },
  },
  admin_join: {
    summary:
      'Admins only: take over the session (409-like SESSION_LOCKED error when another admin holds it). metadata.resume true (a dashboard socket come back): only the takeover this admin holds now; one that ended meanwhile is refused NOT_FOUND and its admin_leave shown, never started anew.',
    required: ['session_id'],
    example: { type: 'admin_join', session_id: SESSION },
  },
  admin_leave: {
    summary: 'Admins only: end the takeover.',
    required: ['session_id'],
    example: { type: 'admin_leave', session_id: SESSION },
  },
  regenerate: {
    summary:
      "Answers the newest turn again (optionally with another model): the new reply is an alternative of the turn's first reply and the one shown from then on.",
    optional: ['client_id', 'model_id'],
    example: { type: 'regenerate', client_id: 'c-4', model_id: 'claude' },
  },
  edit_message: {
    summary:
      "A new version of the user's last typed message (id: any version of it): stored with metadata.edit_of, acked and answered again; earlier versions stay in the log.",
    required: ['id', 'content'],
    optional: ['client_id'],
    example: { type: 'edit_message', id: 'm-3', client_id: 'c-5', content: 'Hello again!' },
  },
  read: {
    summary:
      "Read receipt: the user's client has shown an admin's message (id); the session's admins are told.",
    required: ['id'],
    optional: ['client_id'],
    example: { type: 'read', id: 'm-8', client_id: 'c-7' },
  },
  reply_select: {
    summary: 'Chooses one alternative reply of a turn (id: an ai_response id) as the history from then on.',
    required: ['id'],
    optional: ['client_id'],
    example: { type: 'reply_select', id: 'm-6', client_id: 'c-6' },
  },
};

const STORED = ['id', 'seq', 'sender', 'timestamp', 'session_id'];

export const SERVER_FRAME_DOCS: { [T in ServerFrameType]: FrameDoc } = {
  connection_status: {
    summary: 'First frame after connect (and after new_session): the session, models and token expiry.',
    required: ['session_id'],
    optional: ['seq'],
    metadata: {
      status: { const: 'connected' },
      restored: { type: 'boolean' },
      models: {
        type: 'array',
        items: { type: 'object', properties: { id: { type: 'string' }, name: { type: 'string' } } },
      },
      model_id: { type: 'string' },
      name: { type: 'string' },
      token_expires_at: { type: 'string', format: 'date-time' },
      assisting_admin: { type: 'string' },
    },
    metadataRequired: ['status', 'restored', 'models', 'model_id', 'token_expires_at'],
    example: {
      type: 'connection_status',
      session_id: SESSION,
      seq: 4,
      metadata: {
        status: 'connected',
        restored: true,
        models: [{ id: 'demo', name: 'Demo' }],
        model_id: 'demo',
        name: 'Shipping question',
        token_expires_at: AT,
      },
    },
  },
  ack: {
    summary: 'A client message was accepted (and stored, then with its id and seq); echoes client_id.',
    optional: ['id', 'seq', 'session_id', 'client_id', 'model_id'],
    example: { type: 'ack', session_id: SESSION, client_id: 'c-1', id: 'm-5', seq: 5 },
  },
  error: {
    summary: 'A safe, generic error; after a non-recoverable one the server closes the socket.',
    required: ['error'],
    optional: ['session_id', 'client_id'],
    example: {
      type: 'error',
      client_id: 'c-1',
      error: {
        code: 'RATE_LIMITED',
        message: 'Too many messages; slow down.',
        recoverable: true,
        retry_after: 800,
      },
    },
  },
  loading: {
    summary: 'The model started (true) or ended (false) a reply; metadata.retrying while retrying.',
    optional: ['session_id', 'client_id'],
    metadata: { loading: { type: 'boolean' }, retrying: { type: 'boolean' } },
    metadataRequired: ['loading'],
    example: { type: 'loading', session_id: SESSION, client_id: 'c-1', metadata: { loading: true } },
  },
  ai_response: {
    summary:
      'A streamed reply: deltas (metadata.delta, offset, done false), then one stored frame (done true) with the full content and usage.',
    optional: [...STORED, 'client_id', 'content', 'model_id'],
    metadata: {
      delta: { type: 'string' },
      offset: { type: 'integer' },
      done: { type: 'boolean' },
      usage: {
        type: 'object',
        properties: {
          prompt_tokens: { type: 'integer' },
          completion_tokens: { type: 'integer' },
          total_tokens: { type: 'integer' },
        },
      },
      response_ms: { type: 'integer' },
      attachments: { type: 'array', items: { type: 'object' } },
      stopped: { type: 'boolean' },
      interrupted: { type: 'boolean' },
      resumed: { type: 'boolean' },
    },
    metadataRequired: ['done'],
    example: {
      type: 'ai_response',
      session_id: SESSION,
      seq: 6,
      id: 'm-6',
      sender: 'ai',
      timestamp: AT,
      client_id: 'c-1',
      model_id: 'demo',
      content: 'Hi! How can I help?',
      metadata: {
        done: true,
        usage: { prompt_tokens: 12, completion_tokens: 6, total_tokens: 18 },
        response_ms: 840,
      },
    },
  },
  user_message: storedEcho('user_message', 'user', { content: 'Hello!', client_id: 'c-1' }),
  file_upload: storedEcho('file_upload', 'user', {
    file_id: 'f-9',
    file_url: '/chat/files/f-9',
    metadata: { file: { name: 'invoice.pdf', size: 48213, mime_type: 'application/pdf' } },
  }),
  voice_message: storedEcho('voice_message', 'user', {
    file_id: 'f-10',
    file_url: '/chat/files/f-10',
    content: 'where is my parcel',
    metadata: { transcript: 'where is my parcel' },
  }),
  help_request: storedEcho('help_request', 'user', { content: 'I need a person' }),
  system_message: storedEcho('system_message', 'system', { content: 'An admin will be with you shortly.' }),
  admin_join: storedEcho('admin_join', 'admin', { metadata: { admin_name: 'Ada' } }),
  admin_leave: storedEcho('admin_leave', 'admin', { metadata: { admin_name: 'Ada', reason: 'lapsed' } }),
  session_renamed: {
    summary: 'The session got a title (content).',
    required: ['content'],
    optional: ['session_id'],
    example: { type: 'session_renamed', session_id: SESSION, content: 'Shipping question' },
  },
  model_select: {
    summary: "The session's model changed (from any of the user's devices).",
    required: ['model_id'],
    optional: ['session_id'],
    example: { type: 'model_select', session_id: SESSION, model_id: 'claude' },
  },
  typing_indicator: {
    summary: 'The other human side is typing (or stopped).',
    required: ['sender'],
    optional: ['session_id'],
    metadata: { typing: { type: 'boolean' } },
    metadataRequired: ['typing'],
    example: { type: 'typing_indicator', session_id: SESSION, sender: 'admin', metadata: { typing: true } },
  },
  reply_select: storedEcho('reply_select', 'user', {
    metadata: { reply_id: 'm-6', alternative_of: 'm-4' },
  }),
  read: {
    summary: "Admins only: the user has seen the admin's message id (read receipt).",
    required: ['id'],
    optional: ['session_id', 'seq'],
    metadata: { seen_at: { type: 'string', format: 'date-time' } },
    metadataRequired: ['seen_at'],
    example: { type: 'read', session_id: SESSION, seq: 8, id: 'm-8', metadata: { seen_at: AT } },
  },
  feedback: {
    summary: 'A reply of the session was rated (thumbs up or down), shown on every device of the user.',
    required: ['id'],
    optional: ['session_id', 'seq'],
    metadata: { feedback: { enum: ['up', 'down'] } },
    metadataRequired: ['feedback'],
    example: { type: 'feedback', session_id: SESSION, seq: 7, id: 'm-6', metadata: { feedback: 'down' } },
  },
};

// A stored session event as every socket of the session (and an assisting admin) receives it.
function storedEcho(type: string, sender: string, fields: Record<string, unknown>): FrameDoc {
  return {
    summary: `A stored ${type.replace('_', ' ')} event of the session (live, or replayed after last_seq).`,
    required: STORED.filter((field) => field !== 'session_id'),
    optional: ['session_id', 'client_id', 'content', 'file_id', 'file_url', 'model_id', 'metadata'],
    example: { type, session_id: SESSION, seq: 5, id: 'm-5', sender, timestamp: AT, ...fields },
  };
}

// The rooms protocol (src/protocol/rooms.ts; docs/protocol.md, "Rooms"): frames of /ws/chat, which
// also travel on /chat/ws. Keyed by its own type unions, like the tables above.
const ROOM = 'r-42';
const ROOM_MESSAGE = 'rm-7';

export const ROOM_CLIENT_FRAME_DOCS: { [T in RoomClientFrame['type']]: FrameDoc } = {
  chat: {
    summary:
      'A message to the room: content (1..MAX_MESSAGE_LENGTH characters) and/or file_id (an upload of the sender). room_id `@<user_id>` is the direct message with that user. Answered by an ack (room_id, message_id, seq, timestamp); the others get chat.',
    required: ['room_id'],
    optional: ['client_id', 'content', 'file_id', 'timestamp', 'user_id'],
    metadata: { reply_to: { type: 'string', description: 'a message id of the same room' } },
    example: { type: 'chat', room_id: ROOM, client_id: 'c-1', content: 'Hi all!' },
  },
  ai_stop: {
    summary:
      "Stops the AI reply streaming in the room (message_id = the reply's id from ai_stream): its asker, the room's owner and moderators, admins; anyone else gets FORBIDDEN. Answered by an ack; the reply ends (ai_stream end, outcome stopped) and its text so far is stored once.",
    required: ['room_id', 'message_id'],
    optional: ['client_id', 'timestamp', 'user_id'],
    example: { type: 'ai_stop', room_id: ROOM, message_id: 'rm-9', client_id: 'c-7' },
  },
  join: {
    summary:
      'Subscribes the socket to a room (joining a public one, or an invitation): the newest messages (or every one after last_seq) as chat frames, then join, then live.',
    required: ['room_id'],
    optional: ['client_id', 'last_seq', 'timestamp', 'user_id'],
    example: { type: 'join', room_id: ROOM, client_id: 'c-2', last_seq: 17 },
  },
  leave: {
    summary:
      "Leaves the room (a direct message cannot be left): ack; the room stops reaching the user's sockets on every instance.",
    required: ['room_id'],
    optional: ['client_id', 'timestamp', 'user_id'],
    example: { type: 'leave', room_id: ROOM, client_id: 'c-3' },
  },
  edit: {
    summary: "The sender's new text of a message: ack; everyone gets edit (metadata.edited_at).",
    required: ['room_id', 'message_id', 'content'],
    optional: ['client_id', 'timestamp', 'user_id'],
    example: {
      type: 'edit',
      room_id: ROOM,
      message_id: ROOM_MESSAGE,
      client_id: 'c-4',
      content: 'Hi everyone!',
    },
  },
  delete: {
    summary:
      'Soft deletes a message (its sender, the room owner and moderators, admins): ack; everyone gets delete. A copy of a delete applied already (same user and client_id) is acked again and sends nothing.',
    required: ['room_id', 'message_id'],
    optional: ['client_id', 'timestamp', 'user_id'],
    example: { type: 'delete', room_id: ROOM, message_id: ROOM_MESSAGE, client_id: 'c-5' },
  },
  react: {
    summary: 'Adds (or with metadata.remove, removes) an emoji reaction: ack; everyone gets react.',
    required: ['room_id', 'message_id', 'content'],
    optional: ['client_id', 'timestamp', 'user_id'],
    metadata: { remove: { type: 'boolean' } },
    example: { type: 'react', room_id: ROOM, message_id: ROOM_MESSAGE, content: '👍' },
  },
  typing: {
    summary: "Relayed to the room's other sockets (a rate budget apart from messages).",
    required: ['room_id'],
    optional: ['client_id', 'timestamp', 'user_id'],
    metadata: { typing: { type: 'boolean' } },
    metadataRequired: ['typing'],
    example: { type: 'typing', room_id: ROOM, metadata: { typing: true } },
  },
  read: {
    summary: "Moves the user's read mark forward to seq: ack; in a direct message the other side gets read.",
    required: ['room_id', 'seq'],
    optional: ['client_id', 'timestamp', 'user_id'],
    example: { type: 'read', room_id: ROOM, seq: 18 },
  },
  heartbeat: {
    summary: "Refreshes the socket's presence (online, or away): ack.",
    optional: ['client_id'],
    metadata: { status: { enum: ['online', 'away'] } },
    example: { type: 'heartbeat', client_id: 'c-6', metadata: { status: 'away' } },
  },
};

export const ROOM_SERVER_FRAME_DOCS: { [T in RoomServerFrame['type']]: FrameDoc } = {
  connection_status: {
    summary: 'First frame on /ws/chat: the user and when the token expires (refresh it with auth_refresh).',
    required: ['user_id'],
    metadata: {
      status: { const: 'connected' },
      token_expires_at: { type: 'string', format: 'date-time' },
    },
    metadataRequired: ['status', 'token_expires_at'],
    example: {
      type: 'connection_status',
      user_id: 'u-1',
      metadata: { status: 'connected', token_expires_at: AT },
    },
  },
  chat: {
    summary:
      'A stored message of the room (live, or replayed on join), once and in seq order. content is absent once deleted; metadata.kind is text, or system for joins, leaves and moderation (metadata.action, metadata.target_user_id).',
    required: ['room_id', 'message_id', 'seq', 'user_id', 'timestamp'],
    optional: ['client_id', 'content', 'file_id', 'file_url'],
    metadata: {
      kind: { enum: ['text', 'system'] },
      reply_to: { type: 'string' },
      edited_at: { type: 'string', format: 'date-time' },
      deleted: { type: 'boolean' },
      reactions: {
        type: 'object',
        additionalProperties: { type: 'array', items: { type: 'string' } },
        description: 'emoji → user ids',
      },
      action: { type: 'string' },
      target_user_id: { type: 'string' },
      file: { type: 'object', description: 'name, size, mime_type of a shared file' },
    },
    metadataRequired: ['kind'],
    example: {
      type: 'chat',
      room_id: ROOM,
      message_id: ROOM_MESSAGE,
      seq: 18,
      user_id: 'u-2',
      timestamp: AT,
      client_id: 'c-1',
      content: 'Hi all!',
      metadata: { kind: 'text', reactions: { '👍': ['u-1'] } },
    },
  },
  ack: {
    summary:
      'A client room frame was handled: for chat with message_id, seq and timestamp (a resend of a client_id gets the stored copy’s ack); for auth_refresh with metadata.token_expires_at.',
    optional: ['room_id', 'client_id', 'message_id', 'seq', 'timestamp', 'metadata'],
    example: {
      type: 'ack',
      room_id: ROOM,
      client_id: 'c-1',
      message_id: ROOM_MESSAGE,
      seq: 18,
      timestamp: AT,
    },
  },
  join: {
    summary:
      "The socket is in the room after the replay: seq is where it stands, metadata.online who is online, metadata.replayed how many messages came before it, metadata.changed where a first join's change log starts for GET /rooms/:id/messages?changed_after= (the room's newest change number, or below a change that may still be being written), metadata.read_seq the member's read mark (what the user read on any device; 0: nothing).",
    required: ['room_id', 'user_id', 'seq'],
    optional: ['client_id'],
    metadata: {
      online: { type: 'array', items: { type: 'string' } },
      replayed: { type: 'integer', minimum: 0 },
      changed: { type: 'integer', minimum: 0 },
      read_seq: { type: 'integer', minimum: 0 },
    },
    metadataRequired: ['online', 'replayed'],
    example: {
      type: 'join',
      room_id: ROOM,
      user_id: 'u-1',
      seq: 18,
      client_id: 'c-2',
      metadata: { online: ['u-1', 'u-2'], replayed: 1, changed: 4, read_seq: 17 },
    },
  },
  leave: {
    summary:
      'A user left the room (metadata.reason). Typed in the protocol; the server announces leaves, kicks and bans as system chat messages today.',
    required: ['room_id', 'user_id'],
    metadata: { reason: { enum: ['left', 'kicked', 'banned'] } },
    example: { type: 'leave', room_id: ROOM, user_id: 'u-3', metadata: { reason: 'left' } },
  },
  presence: {
    summary: "Presence of the room's members changed (at most one frame per room per second per instance).",
    optional: ['room_id'],
    metadata: {
      users: {
        type: 'array',
        items: {
          type: 'object',
          required: ['user_id', 'status'],
          properties: { user_id: { type: 'string' }, status: { enum: ['online', 'away', 'offline'] } },
        },
      },
    },
    metadataRequired: ['users'],
    example: { type: 'presence', room_id: ROOM, metadata: { users: [{ user_id: 'u-2', status: 'away' }] } },
  },
  edit: {
    summary:
      "A message was edited (the text before it is kept in its history); metadata.change: the room's change number of it.",
    required: ['room_id', 'message_id', 'seq', 'user_id', 'content'],
    metadata: { edited_at: { type: 'string', format: 'date-time' }, change: { type: 'integer', minimum: 1 } },
    metadataRequired: ['edited_at'],
    example: {
      type: 'edit',
      room_id: ROOM,
      message_id: ROOM_MESSAGE,
      seq: 18,
      user_id: 'u-2',
      content: 'Hi everyone!',
      metadata: { edited_at: AT, change: 5 },
    },
  },
  delete: {
    summary:
      "A message was deleted (user_id: who deleted it); it keeps its seq, sender and time. metadata.change: the room's change number of it.",
    required: ['room_id', 'message_id', 'seq', 'user_id'],
    optional: ['metadata'],
    metadata: { change: { type: 'integer', minimum: 1 } },
    example: {
      type: 'delete',
      room_id: ROOM,
      message_id: ROOM_MESSAGE,
      seq: 18,
      user_id: 'u-2',
      metadata: { change: 6 },
    },
  },
  react: {
    summary:
      "A reaction (content: the emoji) was added, or removed (metadata.removed) on the message at seq (it never overtakes that message); metadata.change: the room's change number of it.",
    required: ['room_id', 'message_id', 'seq', 'user_id', 'content'],
    metadata: { removed: { type: 'boolean' }, change: { type: 'integer', minimum: 1 } },
    metadataRequired: ['removed'],
    example: {
      type: 'react',
      room_id: ROOM,
      message_id: ROOM_MESSAGE,
      seq: 18,
      user_id: 'u-1',
      content: '👍',
      metadata: { removed: false, change: 7 },
    },
  },
  typing: {
    summary: 'Another member is typing (or stopped).',
    required: ['room_id', 'user_id'],
    metadata: { typing: { type: 'boolean' } },
    metadataRequired: ['typing'],
    example: { type: 'typing', room_id: ROOM, user_id: 'u-2', metadata: { typing: true } },
  },
  read: {
    summary: 'In a direct message: the other side has read up to seq.',
    required: ['room_id', 'user_id', 'seq'],
    example: { type: 'read', room_id: ROOM, user_id: 'u-2', seq: 18 },
  },
  rooms_changed: {
    summary:
      "The user's own list of rooms changed: a direct message opened with them (reason dm), an invitation (invited), or their removal by a kick or ban (removed). Sent to every socket of the user on every instance, joined to the room or not; the client reads GET /api/v1/chat/rooms again.",
    required: ['room_id'],
    metadata: { reason: { enum: ['dm', 'invited', 'removed'] } },
    metadataRequired: ['reason'],
    example: { type: 'rooms_changed', room_id: ROOM, metadata: { reason: 'invited' } },
  },
  ai_stream: {
    summary:
      "An AI reply streaming in the room (a member's message mentioned @ai), ephemeral, to every member's socket on every instance: phase start, then delta (content = the new text at metadata.offset), then end (metadata.outcome: complete, stopped, interrupted or failed). The reply is then stored once and arrives as a chat frame with the same message_id, user_id ai and metadata.ai (model, asker_id, usage, outcome).",
    required: ['room_id', 'message_id', 'user_id'],
    optional: ['content'],
    metadata: {
      phase: { enum: ['start', 'delta', 'end'] },
      reply_to: { type: 'string', description: 'the asking message' },
      asker_id: { type: 'string' },
      model: { type: 'string' },
      offset: { type: 'integer', description: 'delta: where content goes in the reply' },
      outcome: { enum: ['complete', 'stopped', 'interrupted', 'failed'] },
    },
    metadataRequired: ['phase', 'reply_to', 'asker_id', 'model'],
    example: {
      type: 'ai_stream',
      room_id: ROOM,
      message_id: 'rm-9',
      user_id: 'ai',
      content: 'Paris is ',
      metadata: { phase: 'delta', reply_to: ROOM_MESSAGE, asker_id: 'u-2', model: 'gpt-4o', offset: 0 },
    },
  },
};
