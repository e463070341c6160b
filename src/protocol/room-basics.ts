// What both the room frames (rooms.ts) and the room server frames (room-server-frames.ts) name, in a
// module of its own so neither imports the other (no module cycles: HOUSE_STYLE rule 18).

// The message kinds a room stores: what people write, and what the server writes (joins, leaves,
// moderation actions).
export type RoomMessageKind = 'text' | 'system';
export type PresenceStatus = 'online' | 'away' | 'offline';

// The sender id of the AI's messages in a room. A label only: the AI's messages are told apart by
// `metadata.ai`, which no client can set.
export const ROOM_AI_SENDER = 'ai';
