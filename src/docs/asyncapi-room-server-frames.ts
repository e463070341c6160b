import type { RoomServerFrame } from '../protocol/rooms';
import { AT, type FrameDoc } from './asyncapi-frames';
import { ROOM, ROOM_MESSAGE } from './asyncapi-room-client-frames';

// What docs/asyncapi.yaml says about the rooms protocol's server frames (src/protocol/
// room-server-frames.ts; docs/protocol.md, "Rooms"), keyed by their type union. Every one carries
// timestamp, and user_id where it is about a user (the room envelope).
export const ROOM_SERVER_FRAME_DOCS: { [T in RoomServerFrame['type']]: FrameDoc } = {
  connection_status: {
    summary: 'First frame on /ws/chat: the user and when the token expires (refresh it with auth_refresh).',
    required: ['user_id', 'timestamp'],
    metadata: {
      status: { const: 'connected' },
      token_expires_at: { type: 'string', format: 'date-time' },
      max_message_length: {
        type: 'integer',
        description: 'MAX_MESSAGE_LENGTH: the longest message, in code points',
      },
    },
    metadataRequired: ['status', 'token_expires_at', 'max_message_length'],
    example: {
      type: 'connection_status',
      user_id: 'u-1',
      timestamp: AT,
      metadata: { status: 'connected', token_expires_at: AT, max_message_length: 4096 },
    },
  },
  chat: {
    summary:
      'A stored message of the room (live, or replayed on join), once and in seq order; timestamp: when it was stored. content is absent once deleted; metadata.kind is text, or system for joins, leaves and moderation (metadata.action, metadata.target_user_id).',
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
      'A client room frame was handled (user_id: whose frame): for chat with message_id, seq and the message’s timestamp (a resend of a client_id gets the stored copy’s ack); for auth_refresh with metadata.token_expires_at.',
    required: ['user_id', 'timestamp'],
    optional: ['room_id', 'client_id', 'message_id', 'seq', 'metadata'],
    example: {
      type: 'ack',
      user_id: 'u-1',
      room_id: ROOM,
      client_id: 'c-1',
      message_id: ROOM_MESSAGE,
      seq: 18,
      timestamp: AT,
    },
  },
  error: {
    summary:
      'A room frame was refused (user_id: whose frame), naming the room in room_id when it named one: NOT_A_MEMBER, BANNED, MUTED (retry_after until the mute ends), BLOCKED, NOT_FOUND, FORBIDDEN, RATE_LIMITED (retry_after), MESSAGE_TOO_LONG, INVALID_MESSAGE, INTERNAL, AI_OFF, AI_BUSY, LLM_UNAVAILABLE. After a non-recoverable one the server closes the socket.',
    required: ['error', 'user_id', 'timestamp'],
    optional: ['room_id', 'client_id'],
    example: {
      type: 'error',
      user_id: 'u-1',
      timestamp: AT,
      room_id: ROOM,
      client_id: 'c-8',
      error: {
        code: 'MUTED',
        message: 'You are muted in this room.',
        recoverable: true,
        retry_after: 3_540_000,
      },
    },
  },
  join: {
    summary:
      "The socket is in the room after the replay: seq is where it stands, metadata.online who is online, metadata.replayed how many messages came before it, metadata.changed where a first join's change log starts for GET /rooms/:id/messages?changed_after= (the room's newest change number, or below a change that may still be being written), metadata.read_seq the member's read mark (what the user read on any device; 0: nothing).",
    required: ['room_id', 'user_id', 'seq', 'timestamp'],
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
      timestamp: AT,
      seq: 18,
      client_id: 'c-2',
      metadata: { online: ['u-1', 'u-2'], replayed: 1, changed: 4, read_seq: 17 },
    },
  },
  leave: {
    summary:
      'A user is out of the room: sent for a kick or a ban (metadata.reason kicked or banned), before the room stops reaching their sockets; leaves are announced as system chat messages.',
    required: ['room_id', 'user_id', 'timestamp'],
    metadata: { reason: { enum: ['left', 'kicked', 'banned'] } },
    example: { type: 'leave', room_id: ROOM, user_id: 'u-3', timestamp: AT, metadata: { reason: 'kicked' } },
  },
  presence: {
    summary:
      "Presence of the room's members changed (at most one frame per room per second per instance): metadata.users every change folded in, user_id the member whose change came last.",
    required: ['user_id', 'timestamp'],
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
    example: {
      type: 'presence',
      room_id: ROOM,
      user_id: 'u-2',
      timestamp: AT,
      metadata: { users: [{ user_id: 'u-2', status: 'away' }] },
    },
  },
  edit: {
    summary:
      "A message was edited (the text before it is kept in its history); metadata.change: the room's change number of it.",
    required: ['room_id', 'message_id', 'seq', 'user_id', 'timestamp', 'content'],
    metadata: { edited_at: { type: 'string', format: 'date-time' }, change: { type: 'integer', minimum: 1 } },
    metadataRequired: ['edited_at'],
    example: {
      type: 'edit',
      room_id: ROOM,
      message_id: ROOM_MESSAGE,
      seq: 18,
      user_id: 'u-2',
      timestamp: AT,
      content: 'Hi everyone!',
      metadata: { edited_at: AT, change: 5 },
    },
  },
  delete: {
    summary:
      "A message was deleted (user_id: who deleted it); it keeps its seq, sender and time. metadata.change: the room's change number of it.",
    required: ['room_id', 'message_id', 'seq', 'user_id', 'timestamp'],
    optional: ['metadata'],
    metadata: { change: { type: 'integer', minimum: 1 } },
    example: {
      type: 'delete',
      room_id: ROOM,
      message_id: ROOM_MESSAGE,
      seq: 18,
      user_id: 'u-2',
      timestamp: AT,
      metadata: { change: 6 },
    },
  },
  react: {
    summary:
      "A reaction (content: the emoji) was added, or removed (metadata.removed) on the message at seq (it never overtakes that message); metadata.change: the room's change number of it.",
    required: ['room_id', 'message_id', 'seq', 'user_id', 'timestamp', 'content'],
    metadata: { removed: { type: 'boolean' }, change: { type: 'integer', minimum: 1 } },
    metadataRequired: ['removed'],
    example: {
      type: 'react',
      room_id: ROOM,
      message_id: ROOM_MESSAGE,
      seq: 18,
      user_id: 'u-1',
      timestamp: AT,
      content: '👍',
      metadata: { removed: false, change: 7 },
    },
  },
  typing: {
    summary: 'Another member is typing (or stopped).',
    required: ['room_id', 'user_id', 'timestamp'],
    metadata: { typing: { type: 'boolean' } },
    metadataRequired: ['typing'],
    example: { type: 'typing', room_id: ROOM, user_id: 'u-2', timestamp: AT, metadata: { typing: true } },
  },
  read: {
    summary:
      "In a direct message: the other side has read up to seq (a read past the room's newest message is held at it).",
    required: ['room_id', 'user_id', 'seq', 'timestamp'],
    example: { type: 'read', room_id: ROOM, user_id: 'u-2', seq: 18, timestamp: AT },
  },
  rooms_changed: {
    summary:
      "The user's own list of rooms changed: a direct message opened with them (reason dm), an invitation (invited), or their removal by a kick or ban (removed). Sent to every socket of the user on every instance, joined to the room or not; the client reads GET /api/v1/chat/rooms again.",
    required: ['room_id', 'user_id', 'timestamp'],
    metadata: { reason: { enum: ['dm', 'invited', 'removed'] } },
    metadataRequired: ['reason'],
    example: {
      type: 'rooms_changed',
      user_id: 'u-1',
      room_id: ROOM,
      timestamp: AT,
      metadata: { reason: 'invited' },
    },
  },
  ai_stream: {
    summary:
      "An AI reply streaming in the room (a member's message mentioned @ai), ephemeral, to every member's socket on every instance: phase start, then delta (content = the new text at metadata.offset), then end (metadata.outcome: complete, stopped, interrupted or failed). The reply is then stored once and arrives as a chat frame with the same message_id, user_id ai and metadata.ai (model, asker_id, usage, outcome).",
    required: ['room_id', 'message_id', 'user_id', 'timestamp'],
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
      timestamp: AT,
      content: 'Paris is ',
      metadata: { phase: 'delta', reply_to: ROOM_MESSAGE, asker_id: 'u-2', model: 'gpt-4o', offset: 0 },
    },
  },
};
