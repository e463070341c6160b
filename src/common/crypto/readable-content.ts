import { Logger } from '@nestjs/common';
import type { ContentCipher } from './content-cipher';

// Content that cannot be decrypted (written with a key that neither ENCRYPTION_KEY nor
// ENCRYPTION_KEY_PREVIOUS lists any more: the previous key emptied before the rotation passes were
// done, or mistyped; or a damaged value) is shown as unreadable, the same way everywhere
// (docs/protocol.md, "Content at rest"): the text empty, its record flagged `unreadable: true`, the
// rest of the record as it is. The stored value stays as it was: no writer reads it back as text,
// and the key-rotation passes rewrite stored ciphertext only (ContentCipher.reencrypt throws on it:
// the pass counts it failed), so it becomes readable again once its key is listed. Until the
// key-rotation audit of session 42 one such value failed every read of what held it: the session
// (and every new message in it: INTERNAL), the room's join and history, the session's notes, with
// only "unknown encryption key or bad format" logged.

const logger = new Logger('crypto');

// the records logged already (once each per process): a session read a hundred times logs once
const LOGGED_MAX = 10_000;
const logged = new Set<string>();

// what names the record in the log: the field and the record's ids (`session_id`, `message_id`, …)
export interface ContentPlace {
  field: string;
  [id: string]: string | undefined;
}

// The text, or null (and `decrypt_failed` logged, once per record) when it cannot be decrypted.
export function readable(cipher: ContentCipher, stored: string, place: ContentPlace): string | null {
  try {
    return cipher.decrypt(stored);
  } catch (error) {
    logUnreadable(stored, place, error);
    return null;
  }
}

function logUnreadable(stored: string, place: ContentPlace, error: unknown): void {
  const key = JSON.stringify(place);
  if (logged.has(key)) return;
  if (logged.size >= LOGGED_MAX) logged.clear();
  logged.add(key);
  logger.error(
    { event: 'decrypt_failed', ...place, ...keyIdField(stored), error: String(error) },
    `${place.field} cannot be decrypted: is the key that wrote it missing from ENCRYPTION_KEY_PREVIOUS?`,
  );
}

// the key id only from a well-formed value (three parts): never a piece of anything else
export function keyIdField(stored: string): { key_id?: string } {
  const [keyId, , body] = stored.split('.');
  return body !== undefined ? { key_id: keyId.slice(0, 8) } : {};
}
