import { createHash, randomUUID } from 'node:crypto';

// A random id (UUID v4), stored flat. Node's randomUUID() writes its 36 characters as 20 pieces
// joined one by one, which V8 keeps as a chain of concatenated strings: ~490 bytes of heap for as
// long as the id lives (a connection's, a cached message's), against ~66 for the same text flat
// (measured: 100,000 ids kept, heap after GC; bench/README.md, "Session 23"). Matching a string
// against a pattern makes V8 flatten it in place, and the next GC drops the chain.
export function newId(): string {
  const id = randomUUID();
  UUID.test(id);
  return id;
}

const UUID = /^[0-9a-f]{8}-/;

// An id that is the same for the same parts, shaped as a UUID (version 5's bits, a SHA-256 digest):
// what a client's resend must find again, by `_id` (docs/protocol.md, "Session library": a
// new_session's session is named by the user and the command's client_id).
export function derivedId(...parts: string[]): string {
  const hex = createHash('sha256').update(parts.join('\u0000')).digest('hex');
  const variant = ((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
