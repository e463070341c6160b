import type { ContentCipher } from './content-cipher';
import { readable, type ContentPlace } from './readable-content';

// A user's file name at rest is encrypted like message content (docs/protocol.md, "Uploads and
// files"): stored as `encrypted_name` in the file's record and in a message's `metadata.file`, and
// shown as `name`. Records written before the privacy audit fix hold a plain `name`, read as it is
// (no migration step). Another field rather than ciphertext in `name`: a plain name is never taken
// for ciphertext, and a reader that does not decrypt finds no name instead of ciphertext.

export interface StoredName {
  name?: unknown;
  encrypted_name?: unknown;
}

// the name of a record in either form ('' when it has none, or when it cannot be decrypted:
// readable-content.ts; `place` names the record in that log line)
export function nameOf(
  stored: StoredName,
  cipher: ContentCipher,
  place: Omit<ContentPlace, 'field'> = {},
): string {
  if (typeof stored.encrypted_name === 'string')
    return readable(cipher, stored.encrypted_name, { field: 'file_name', ...place }) ?? '';
  return typeof stored.name === 'string' ? stored.name : '';
}

// A message's metadata as stored: `file.name` encrypted (`file.encrypted_name`); anything else, and
// metadata without a file name, as it is.
export function withEncryptedFileName(
  metadata: Record<string, unknown> | undefined,
  cipher: ContentCipher,
): Record<string, unknown> | undefined {
  const file = fileOf(metadata);
  if (!file || typeof file.name !== 'string') return metadata;
  const { name, ...rest } = file;
  return { ...metadata, file: { encrypted_name: cipher.encrypt(name as string), ...rest } };
}

// A stored message's metadata as clients see it: `file.name` decrypted; a plain one (written before)
// as it is. One that cannot be decrypted (readable-content.ts) is shown as unreadable: the name
// empty, `unreadable` true; `place` names the message in that log line.
export function withFileName(
  metadata: Record<string, unknown> | undefined,
  cipher: ContentCipher,
  place: Omit<ContentPlace, 'field'> = {},
): Record<string, unknown> | undefined {
  const file = fileOf(metadata);
  if (!file || typeof file.encrypted_name !== 'string') return metadata;
  const { encrypted_name: encrypted, ...rest } = file;
  const name = readable(cipher, encrypted as string, { field: 'file_name', ...place });
  if (name === null) return { ...metadata, file: { name: '', ...rest }, unreadable: true };
  return { ...metadata, file: { name, ...rest } };
}

// the encrypted file name a stored message's metadata holds (key rotation rewrites it)
export function encryptedFileName(metadata: Record<string, unknown> | undefined): string | undefined {
  const name = fileOf(metadata)?.encrypted_name;
  return typeof name === 'string' ? name : undefined;
}

function fileOf(metadata: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  const file = metadata?.file;
  return typeof file === 'object' && file !== null && !Array.isArray(file)
    ? (file as Record<string, unknown>)
    : undefined;
}
