import { randomUUID } from 'node:crypto';

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
