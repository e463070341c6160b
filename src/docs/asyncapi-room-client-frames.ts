import type { RoomClientFrame } from '../protocol/rooms';
import type { FrameDoc } from './asyncapi-frames';

// What docs/asyncapi.yaml says about the rooms protocol's client frames (src/protocol/rooms.ts;
// docs/protocol.md, "Rooms"): frames of /ws/chat, which also travel on /chat/ws. Keyed by its own
// type union, like the tables of asyncapi-frames.ts (its server frames: asyncapi-room-server-frames.ts).
export const ROOM = 'r-42';
export const ROOM_MESSAGE = 'rm-7';

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
    summary:
      "The sender's new text of a message: ack; everyone gets edit (metadata.edited_at). Refused MUTED to a muted member, BLOCKED in a direct message whose other side blocked the sender.",
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
    summary:
      'Adds (or with metadata.remove, removes) a reaction: content is one emoji (one grapheme cluster: ZWJ sequences, skin tones, flags, keycaps), anything else INVALID_MESSAGE. ack; everyone gets react. Adding is refused MUTED to a muted member and BLOCKED in a direct message whose other side blocked the user; taking one back stays open.',
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
