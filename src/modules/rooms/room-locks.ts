// Writes to one room message (edits, deletes), one reaction or one membership take that key's lock
// on every instance (SESSION_LOCK: Redis, or the store's own while Redis is away): FerretDB 1.24
// applies a compare-and-set as an unlocked read-modify-write (docs/protocol.md, "The store"). The
// lock keeps a key whose write was given up on, and refuses one not had in time (write.lock.ts).
// The room's own document (its settings, activity time and highest seq): on FerretDB a rename and a
// note of the activity that read the room before it would otherwise write the old name back.
export function roomDocumentKey(roomId: string): string {
  return `room:${roomId}`;
}

// One room message: its edits and deletes (room-message-changes.ts) and key rotation's rewrite of it.
export function roomMessageKey(messageId: string): string {
  return `room-message:${messageId}`;
}
