import { createHash } from 'node:crypto';
import { compositeKey } from '../../common/composite-key';
import type { ContentCipher } from '../../common/crypto/content-cipher';
import { withFileName } from '../../common/crypto/file-names';
import { readable } from '../../common/crypto/readable-content';
import type { RoomMessage } from './schemas/room-message.schema';
import type { NewRoomMessage, RoomMessageRecord } from './room.types';

// The stored message documents of chat_messages and the records RoomMessagesRepository returns of them.

// The record of a message just stored: its content and metadata are the ones given (decrypting what
// was just encrypted would cost a decipher per message for the same string).
export function storedRecord(
  cipher: ContentCipher,
  document: RoomMessage,
  content: string | undefined,
  metadata: Record<string, unknown> | undefined,
): RoomMessageRecord {
  const record = toRecord(cipher, { ...document, content: undefined, metadata });
  if (content !== undefined) record.content = content;
  return record;
}

export function toRecord(cipher: ContentCipher, message: RoomMessage): RoomMessageRecord {
  const record: RoomMessageRecord = {
    id: message._id,
    room_id: message.room_id,
    seq: message.seq,
    sender_id: message.sender_id,
    kind: message.kind === 'system' ? 'system' : 'text',
    created_at: message.created_at,
    edited_at: message.edited_at ?? null,
    deleted_at: message.deleted_at ?? null,
  };
  if (message.client_id !== undefined) record.client_id = message.client_id;
  const place = { room_id: message.room_id, message_id: message._id };
  // what cannot be decrypted (a key no longer listed) is shown as unreadable: the text empty,
  // `metadata.unreadable` true (readable-content.ts); the room still joins and reads
  let unreadable = false;
  if (message.content !== undefined && !message.deleted_at) {
    const content = readable(cipher, message.content, { field: 'content', ...place });
    record.content = content ?? '';
    unreadable = content === null;
  }
  if (message.file_id !== undefined) record.file_id = message.file_id;
  if (message.reply_to !== undefined) record.reply_to = message.reply_to;
  // the file's name, encrypted since the privacy audit fix (a plain one is from before)
  if (message.metadata !== undefined) record.metadata = withFileName(message.metadata, cipher, place);
  if (unreadable) record.metadata = { ...record.metadata, unreadable: true };
  if (typeof message.change === 'number') record.change = message.change;
  return record;
}

// A message sent with a client_id has an id derived from (room, sender, client_id): a resend finds the
// stored copy by `_id`, the one lookup every store does without scanning.
export function messageIdOf(dedupKey: string): string {
  return createHash('sha256').update(dedupKey).digest('base64url').slice(0, 32);
}

// `room|sender|client_id`, escaped (compositeKey): sender `u` with client_id `x|1` and sender `u|x`
// with client_id `1` were one key, and the second message was acked as a resend of the first and
// never stored. A key whose sender holds neither `|` nor `\` is the plain join it always was.
export function dedupKeyOf(roomId: string, senderId: string, clientId: string): string {
  return compositeKey([roomId, senderId, clientId]);
}

// the stored message is the one this sender sent with this client_id in this room
export function sentAs(
  stored: Pick<RoomMessage, 'room_id' | 'sender_id' | 'client_id'>,
  input: Pick<NewRoomMessage, 'room_id' | 'sender_id' | 'client_id'>,
): boolean {
  return (
    stored.room_id === input.room_id &&
    stored.sender_id === input.sender_id &&
    stored.client_id === input.client_id
  );
}

// What mongoose's `minimize` (on by default) makes of a Mixed path such as `metadata` when a document
// is saved: undefined values and empty objects are dropped at every depth, an object left empty is
// not stored at all; objects directly inside arrays are kept even when empty. Other values are kept
// as they are.
export function minimized(value: unknown, inArray = false): unknown {
  if (Array.isArray(value)) return value.map((item) => minimized(item, true));
  if (typeof value !== 'object' || value === null) return value;
  const prototype = Object.getPrototypeOf(value) as unknown;
  if (prototype !== Object.prototype && prototype !== null) return value;
  const result: Record<string, unknown> = {};
  let kept = false;
  for (const [key, item] of Object.entries(value)) {
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') continue;
    const copy = minimized(item);
    if (copy === undefined) continue;
    result[key] = copy;
    kept = true;
  }
  return kept || inArray ? result : undefined;
}
