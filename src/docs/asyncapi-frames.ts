import type { ClientMessageType, ServerFrameType } from '../protocol/frames';

// What docs/asyncapi.yaml says about each frame of src/protocol/frames.ts (the rooms' frames:
// asyncapi-room-client-frames.ts, asyncapi-room-server-frames.ts). The records are keyed
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
export const AT = '2026-01-01T12:00:00.000Z';

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
      max_message_length: {
        type: 'integer',
        description: 'MAX_MESSAGE_LENGTH: the longest message, in code points',
      },
      assisting_admin: { type: 'string' },
    },
    metadataRequired: ['status', 'restored', 'models', 'model_id', 'token_expires_at', 'max_message_length'],
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
        max_message_length: 4096,
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
      // stored cut at the store's bound of a session (docs/protocol.md, "Every acked turn ends")
      truncated: { type: 'boolean' },
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
