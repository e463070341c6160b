import { compositeKey } from '../../common/composite-key';
import { participantId } from './room.types';

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

// One membership (room-membership.service.ts): joins, leaves, invitations, moderation, a direct
// message opened again.
export function memberKey(roomId: string, userId: string): string {
  return `room-member:${participantId(roomId, userId)}`;
}

// A user's open invitations, counted against MAX_OPEN_INVITATIONS and then written under it: two
// inviters at once each counted the others' invitations out (a rooms audit: 55–60 of 50).
export function invitationsKey(userId: string): string {
  return `room-invitations:${userId}`;
}

// One user's reactions on one message, counted against MAX_REACTIONS_PER_USER and then written under
// it: ten emoji at once from ten sockets each counted the others out (a rooms audit: 29 of 20).
export function reactionsOfKey(messageId: string, userId: string): string {
  return `room-reactions:${compositeKey([messageId, userId])}`;
}

// The rooms one user made, counted against ROOM_MAX_OWNED and then one more made under it: creates
// at once from several sockets or instances would each count the others out.
export function ownedRoomsKey(userId: string): string {
  return `room-owned:${userId}`;
}
