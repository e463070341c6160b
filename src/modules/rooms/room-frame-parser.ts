import { ErrorCode } from '../../common/errors/error-code';
import { codePointLength } from '../../common/code-points';
import { untrustedJsonProblem } from '../../common/untrusted-json';
import { isReactionEmoji } from '../../protocol/reaction-emoji';
import { isRoomClientType, ROOM_ENVELOPE_FIELDS, type RoomClientFrame } from '../../protocol/rooms';

export type RoomParseResult =
  | { ok: true; frame: RoomClientFrame }
  | { ok: false; code: ErrorCode; message: string; client_id?: string; room_id?: string };

const FIELDS: ReadonlySet<string> = new Set(ROOM_ENVELOPE_FIELDS);
const ID_MAX = 128;
const STRING_FIELDS = ['timestamp', 'user_id', 'room_id', 'message_id', 'content', 'client_id', 'file_id'];
const NEEDS_ROOM = new Set(['chat', 'join', 'leave', 'edit', 'delete', 'react', 'typing', 'read', 'ai_stop']);
const NEEDS_MESSAGE = new Set(['edit', 'delete', 'react', 'ai_stop']);

// A parsed JSON value → a valid room frame or a protocol error. Total: never throws, whatever the
// input (docs/protocol.md, "Input limits": depth, entries and prototype keys are checked first).
export function validateRoomFrame(data: unknown, maxMessageLength: number): RoomParseResult {
  if (typeof data !== 'object' || data === null || Array.isArray(data))
    return { ok: false, code: ErrorCode.INVALID_MESSAGE, message: 'Each frame must be one JSON object.' };
  const record = data as Record<string, unknown>;
  const clientId = shortString(record.client_id);
  const roomId = shortString(record.room_id);
  const fail = (code: ErrorCode, message: string): RoomParseResult => ({
    ok: false,
    code,
    message,
    ...(clientId !== undefined ? { client_id: clientId } : {}),
    ...(roomId !== undefined ? { room_id: roomId } : {}),
  });
  const problem = untrustedJsonProblem(record);
  if (problem !== undefined) return fail(ErrorCode.INVALID_MESSAGE, problem);
  if (!isRoomClientType(record.type))
    return fail(ErrorCode.INVALID_MESSAGE, 'Unknown or missing message type.');
  const unknown = Object.keys(record).find((key) => !FIELDS.has(key));
  if (unknown !== undefined)
    return fail(ErrorCode.INVALID_MESSAGE, `Field "${unknown.slice(0, 40)}" is not allowed.`);
  for (const field of STRING_FIELDS) {
    const value = record[field];
    if (value === undefined) continue;
    if (typeof value !== 'string')
      return fail(ErrorCode.INVALID_MESSAGE, `Field "${field}" must be a string.`);
    if (field !== 'content' && value.length > ID_MAX)
      return fail(ErrorCode.INVALID_MESSAGE, `Field "${field}" is too long.`);
  }
  for (const field of ['seq', 'last_seq']) {
    const value = record[field];
    if (value !== undefined && !(Number.isSafeInteger(value) && (value as number) >= 0))
      return fail(ErrorCode.INVALID_MESSAGE, `Field "${field}" must be a whole number.`);
  }
  const metadata = record.metadata;
  if (
    metadata !== undefined &&
    (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))
  )
    return fail(ErrorCode.INVALID_MESSAGE, 'Field "metadata" must be an object.');
  const meta = (metadata ?? {}) as Record<string, unknown>;
  const type = record.type;
  if (NEEDS_ROOM.has(type) && !roomId) return fail(ErrorCode.INVALID_MESSAGE, 'Field "room_id" is required.');
  if (NEEDS_MESSAGE.has(type) && !record.message_id)
    return fail(ErrorCode.INVALID_MESSAGE, 'Field "message_id" is required.');
  const content = record.content as string | undefined;
  switch (type) {
    case 'chat':
    case 'edit': {
      const text = content?.trim() ?? '';
      if (text.length === 0 && !(type === 'chat' && record.file_id))
        return fail(ErrorCode.INVALID_MESSAGE, 'Field "content" is required.');
      if (content !== undefined && codePointLength(content, maxMessageLength) > maxMessageLength)
        return fail(ErrorCode.MESSAGE_TOO_LONG, `Messages are limited to ${maxMessageLength} characters.`);
      if (meta.reply_to !== undefined && (typeof meta.reply_to !== 'string' || meta.reply_to.length > ID_MAX))
        return fail(ErrorCode.INVALID_MESSAGE, 'Field "metadata.reply_to" must be a message id.');
      break;
    }
    case 'react':
      // one emoji, nothing else: no words in front of the room by way of a reaction
      if (!content || !isReactionEmoji(content))
        return fail(ErrorCode.INVALID_MESSAGE, 'Field "content" must be one emoji.');
      if (meta.remove !== undefined && typeof meta.remove !== 'boolean')
        return fail(ErrorCode.INVALID_MESSAGE, 'Field "metadata.remove" must be true or false.');
      break;
    case 'typing':
      if (typeof meta.typing !== 'boolean')
        return fail(ErrorCode.INVALID_MESSAGE, 'Field "metadata.typing" must be true or false.');
      break;
    case 'read':
      if (record.seq === undefined) return fail(ErrorCode.INVALID_MESSAGE, 'Field "seq" is required.');
      break;
    case 'heartbeat':
      if (meta.status !== undefined && meta.status !== 'online' && meta.status !== 'away')
        return fail(ErrorCode.INVALID_MESSAGE, 'Field "metadata.status" must be online or away.');
      break;
  }
  // the checks above are exactly what RoomClientFrame promises per type
  return { ok: true, frame: record as unknown as RoomClientFrame };
}

function shortString(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 && value.length <= ID_MAX ? value : undefined;
}
