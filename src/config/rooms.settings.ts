import { duration, type Env, integer, TIMER_MAX_MS, TIMER_MIN_MS } from './env-readers';

// Rooms, direct messages and presence (docs/protocol.md, "Rooms").
export interface RoomSettings {
  // messages older than this are removed (a TTL index on MongoDB and a sweep, which FerretDB needs),
  // and reports this long after they were made (with the reported text they keep)
  retentionMs: number;
  // how often the retention sweep runs
  sweepIntervalMs: number;
  // room messages (chat, edit, delete, react) per user per second, on every instance together
  messagesPerSecond: number;
  // rooms one user may have made (public and private; direct messages are not counted)
  maxOwnedRooms: number;
  // a socket that shows no life (a frame or a pong) for this long no longer counts as present
  presenceTimeoutMs: number;
  // the newest public rooms in a room list may be this old (0: read for every list); a room created
  // or renamed is seen at once on every instance while the bus is up
  listCacheMs: number;
  // the lease of a room's streaming `@ai` reply (chat_ai_runs): renewed every quarter of it; a run not
  // renewed for this long is a dead (or paused) instance's, ended by a sweep every half of it
  aiLeaseMs: number;
}

export function loadRoomSettings(env: Env): RoomSettings {
  return {
    retentionMs: duration(env, 'ROOM_RETENTION', '90d', 1000),
    sweepIntervalMs: duration(env, 'ROOM_SWEEP_INTERVAL', '1h', TIMER_MIN_MS, TIMER_MAX_MS),
    messagesPerSecond: integer(env, 'ROOM_RATE_LIMIT_MESSAGES_PER_SECOND', 10, 1, 100_000),
    maxOwnedRooms: integer(env, 'ROOM_MAX_OWNED', 200, 1, 1_000_000),
    presenceTimeoutMs: duration(env, 'PRESENCE_TIMEOUT', '30s', 1000, TIMER_MAX_MS),
    listCacheMs: duration(env, 'ROOM_LIST_CACHE', '1s', 0, 60_000),
    aiLeaseMs: duration(env, 'ROOM_AI_LEASE', '20s', 2000, 3_600_000),
  };
}
