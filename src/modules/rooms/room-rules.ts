import { createHash } from 'node:crypto';
import { compositeKey, plainKey } from '../../common/composite-key';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import type { Principal } from '../../common/auth/principal';
import type { BlocksRepository } from './blocks.repository';
import type { ParticipantRecord, RoomMessageRecord, RoomRecord } from './room.types';

// The one room of two users, whoever opens it first: its id is derived from the pair, so two first
// messages racing on two instances insert the same `_id` and the store keeps one (ROOM-003). The
// pair is joined with NUL, escaped (compositeKey): plainly joined, ("a\0b", "c") and ("a", "b\0c")
// were one room, and the second pair was let into the first pair's. A pair whose first id (in sort
// order) holds neither NUL nor `\` has the id it always had; plainDmRoomId is the one the others
// had before (RoomsService.openDm still finds their room there).
export function dmRoomId(userA: string, userB: string): string {
  return dmIdOf(compositeKey([...pairOf(userA, userB)], '\u0000'));
}

export function plainDmRoomId(userA: string, userB: string): string {
  return dmIdOf(plainKey([...pairOf(userA, userB)], '\u0000'));
}

// the room's members are exactly this pair
export function isDmOf(room: Pick<RoomRecord, 'kind' | 'dm_users'>, userA: string, userB: string): boolean {
  const [first, second] = pairOf(userA, userB);
  return (
    room.kind === 'dm' &&
    room.dm_users?.length === 2 &&
    room.dm_users[0] === first &&
    room.dm_users[1] === second
  );
}

function pairOf(userA: string, userB: string): [string, string] {
  return userA < userB ? [userA, userB] : [userB, userA];
}

// a direct message's room id, as dmRoomId makes it (no other room's id starts so: rooms get newId())
export function isDmRoomId(roomId: string): boolean {
  return roomId.startsWith('dm_');
}

function dmIdOf(key: string): string {
  return `dm_${createHash('sha256').update(key).digest('base64url').slice(0, 32)}`;
}

// The client_ids of a message's newest edits, and of a reaction's newest operations, kept to know a
// copy that comes again (a resend after a cut socket) when its first instance handles it late.
export const CLIENT_IDS_KEPT = 20;

// open invitations a user may have at once: past them an invitation is refused (or, made with a
// room, skipped), so nobody fills another's room list (docs/protocol.md, "Rooms, direct messages,
// moderation"); the list shows at most this many
export const MAX_OPEN_INVITATIONS = 50;

// A person's own message: never the model's. An AI reply's sender is `ai`, and a person whose token
// says `sub: "ai"` stays a person (docs/protocol.md, "@ai in a room"): metadata.ai, which no client
// sets, tells them apart. Until the second rooms audit such a person edited and deleted the AI's
// replies as their own (the edit kept metadata.ai, so clients showed the new words as the model's).
export function isOwnMessage(
  message: Pick<RoomMessageRecord, 'sender_id' | 'metadata'>,
  userId: string,
): boolean {
  return message.sender_id === userId && message.metadata?.ai === undefined;
}

export function isModerator(participant: ParticipantRecord | null): boolean {
  return (
    participant?.state === 'member' && (participant.role === 'owner' || participant.role === 'moderator')
  );
}

// Who may see that a room exists: anyone for a public room; for the others, whoever was ever asked
// in (invited, member, left, kicked, banned). Everyone else gets NOT_FOUND, so ids leak nothing.
export function canSee(room: RoomRecord | null, participant: ParticipantRecord | null): room is RoomRecord {
  return room !== null && (room.kind === 'public' || participant !== null);
}

// The checks before a member reads or writes the room (ROOM-004): refused with a clear code.
export function requireMember(
  room: RoomRecord | null,
  participant: ParticipantRecord | null,
): asserts participant is ParticipantRecord {
  if (!canSee(room, participant)) throw new DomainException(ErrorCode.NOT_FOUND, 'Room not found.');
  if (participant?.state === 'banned') throw new DomainException(ErrorCode.BANNED);
  if (participant?.state !== 'member') throw new DomainException(ErrorCode.NOT_A_MEMBER);
}

export function requireCanWrite(participant: ParticipantRecord, now = new Date()): void {
  if (participant.muted_until && participant.muted_until > now)
    throw new DomainException(ErrorCode.MUTED, 'You are muted in this room.', {
      retryAfterMs: participant.muted_until.getTime() - now.getTime(),
    });
}

// In a direct message: BLOCKED when the other user blocked the writer (their messages, edits and
// reactions). Nothing to check in any other room.
export async function requireNotBlocked(
  blocks: Pick<BlocksRepository, 'isBlocked'>,
  room: RoomRecord,
  writerId: string,
): Promise<void> {
  if (room.kind !== 'dm') return;
  const other = room.dm_users?.find((userId) => userId !== writerId);
  if (other !== undefined && (await blocks.isBlocked(other, writerId)))
    throw new DomainException(ErrorCode.BLOCKED);
}

// Room owners and moderators moderate their room; chatbox admins moderate every room (ROOM-005).
export function requireModerator(principal: Principal, participant: ParticipantRecord | null): void {
  if (!principal.isAdmin && !isModerator(participant))
    // recoverable: a refused moderation keeps the socket open
    throw new DomainException(
      ErrorCode.FORBIDDEN,
      'Only the room owner, its moderators and admins may do that.',
      {
        recoverable: true,
      },
    );
}

// Who outranks whom in a room (ROOM-005): a plain member, a moderator, the owner, a chatbox admin.
export type RoomRank = 'member' | 'moderator' | 'owner' | 'admin';
const RANK_ORDER: Record<RoomRank, number> = { member: 0, moderator: 1, owner: 2, admin: 3 };

// The actor's rank: an admin in every room; the owner or a moderator while a member; else a member.
export function actorRank(
  principal: Pick<Principal, 'isAdmin'>,
  participant: ParticipantRecord | null,
): RoomRank {
  if (principal.isAdmin) return 'admin';
  return isModerator(participant) ? (participant as ParticipantRecord).role : 'member';
}

// The target's rank: an admin when their token said so the last time they joined or made a room,
// anywhere (ParticipantsRepository.adminAsLastSeen); else their role in the room, whatever their
// state (an owner who left is the owner still).
export function targetRank(participant: ParticipantRecord | null, admin: boolean): RoomRank {
  if (admin) return 'admin';
  return participant?.role ?? 'member';
}

// Why `actor` may not moderate `target` (mute, unmute, kick, ban, unban, naming a moderator), or null:
// nobody acts on themself (a moderator lifting the mute an admin set on them: rooms audit, t15); a
// moderator acts on plain members, the owner on moderators and members, admins on anyone but
// themselves; a room's owner and moderators never on an admin (docs/protocol.md, "Rooms, direct
// messages, moderation").
export function moderationRefusal(
  actor: { userId: string; rank: RoomRank },
  target: { userId: string; rank: RoomRank },
): string | null {
  if (actor.userId === target.userId) return 'You cannot moderate yourself.';
  if (actor.rank === 'member') return 'Only the room owner, its moderators and admins may do that.';
  if (actor.rank === 'admin') return null;
  if (target.rank === 'admin') return "A chatbox admin cannot be moderated by a room's owner or moderators.";
  if (target.rank === 'owner') return 'The owner cannot be moderated.';
  if (RANK_ORDER[actor.rank] <= RANK_ORDER[target.rank])
    return 'Moderators moderate members only; the owner or an admin moderates a moderator.';
  return null;
}

// FORBIDDEN (recoverable: the socket stays open) unless `actor` may moderate `target`.
export function requireMayModerate(
  actor: { userId: string; rank: RoomRank },
  target: { userId: string; rank: RoomRank },
): void {
  const refusal = moderationRefusal(actor, target);
  if (refusal !== null) throw new DomainException(ErrorCode.FORBIDDEN, refusal, { recoverable: true });
}
