// The WebSocket envelope of CONTRACT §2 as the front ends see it, and a tolerant parser for
// server frames: anything that is not a JSON object with a string `type` is dropped, never thrown.
// The envelope and its types come from the protocol module the server uses too.
import { ENVELOPE_STRING_FIELDS, type Frame, type FrameError } from '../../src/protocol/frames';

export type { Frame, FrameError };
export type {
  ServerMessage,
  ErrorFrame,
  AckFrame,
  AiDeltaFrame,
  StoredEventFrame,
} from '../../src/protocol/frames';
// rooms and direct messages (docs/protocol.md, "Rooms"): the same module the server validates against
export type {
  RoomClientFrame,
  RoomServerFrame,
  RoomMessageFrame,
  PresenceStatus,
} from '../../src/protocol/rooms';
// where a reader stands in a stream of seqs: the server's delivery order and a room's resume point
export { SeqPrefix, type SeqGap } from '../../src/protocol/seq-prefix';
// what a reaction may be: one emoji (the server refuses anything else)
export { isReactionEmoji } from '../../src/protocol/reaction-emoji';

export interface ModelInfo {
  id: string;
  name: string;
}

const STRING_FIELDS = ENVELOPE_STRING_FIELDS;

export function parseFrame(text: string): Frame | null {
  return toFrame(parseJson(text));
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

// A parsed JSON value as an envelope frame; room fields (room_id, message_id, user_id) are dropped.
export function toFrame(value: unknown): Frame | null {
  if (!isRecord(value) || typeof value.type !== 'string') return null;
  const frame: Frame = { type: value.type };
  for (const field of STRING_FIELDS) {
    const fieldValue = value[field];
    if (typeof fieldValue === 'string') frame[field] = fieldValue;
  }
  if (typeof value.seq === 'number' && Number.isSafeInteger(value.seq) && value.seq >= 0)
    frame.seq = value.seq;
  if (isRecord(value.metadata)) frame.metadata = value.metadata;
  if (isRecord(value.error)) {
    const error = value.error;
    frame.error = {
      code: typeof error.code === 'string' ? error.code : 'INTERNAL',
      message: typeof error.message === 'string' ? error.message : '',
      recoverable: error.recoverable !== false,
    };
    if (typeof error.retry_after === 'number' && error.retry_after >= 0)
      frame.error.retry_after = error.retry_after;
  }
  return frame;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function metaString(frame: Frame, key: string): string | undefined {
  const value = frame.metadata?.[key];
  return typeof value === 'string' ? value : undefined;
}

export function metaNumber(frame: Frame, key: string): number | undefined {
  const value = frame.metadata?.[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

export function parseModels(value: unknown): ModelInfo[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((entry: unknown) =>
    isRecord(entry) && typeof entry.id === 'string'
      ? [{ id: entry.id, name: typeof entry.name === 'string' ? entry.name : entry.id }]
      : [],
  );
}
