import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import type { Principal } from '../../common/auth/principal';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { SETTINGS, type Settings } from '../../config/settings';
import { SESSION_LOCK } from '../../infra/lock/lock';
import type { WriteLock } from '../../infra/lock/write.lock';
import { PresenceService } from '../presence/presence.service';
import { BlocksRepository } from './blocks.repository';
import { ParticipantsRepository } from './participants.repository';
import { PublicRoomList } from './public-room-list';
import { RoomAiService } from './room-ai.service';
import { RoomHub } from './room-hub';
import { roomDocumentKey } from './room-locks';
import { RoomMessagesService, type Unread } from './room-messages.service';
import { canSee, dmRoomId, requireMember, requireModerator } from './room-rules';
import type {
  ParticipantRecord,
  ParticipantRole,
  ParticipantState,
  RoomKind,
  RoomRecord,
} from './room.types';
import { RoomsRepository } from './rooms.repository';
import { newId } from '../../common/ids';

const PUBLIC_LIST_LIMIT = 100;
const DEFAULT_MUTE_MS = 60 * 60 * 1000;
// a membership written over a state that changed meanwhile is checked again, this many times in all
const MOVE_ATTEMPTS = 5;
// open invitations a user may have at once: past them an invitation is refused (or, made with a
// room, skipped), so nobody fills another's room list (docs/protocol.md, "Rooms, direct messages,
// moderation"); the list shows at most this many
export const MAX_OPEN_INVITATIONS = 50;

export type ModerationAction = 'mute' | 'unmute' | 'kick' | 'ban' | 'unban';

export interface RoomSummary {
  room: RoomRecord;
  participant: ParticipantRecord | null;
  unread: Unread;
}

const NONE_UNREAD: Unread = { count: 0, more: false };

// Rooms and who belongs to them (ROOM-001..005): create, list, join, leave, invite, direct messages
// and moderation. Every change of membership writes a system message through the one record path.
@Injectable()
export class RoomsService implements OnModuleInit {
  // the newest public rooms, shared by this instance's room lists (public-room-list.ts)
  private readonly publicRooms: PublicRoomList<RoomRecord[]>;

  constructor(
    private readonly rooms: RoomsRepository,
    private readonly participants: ParticipantsRepository,
    private readonly blocks: BlocksRepository,
    private readonly messages: RoomMessagesService,
    private readonly hub: RoomHub,
    private readonly presence: PresenceService,
    private readonly ai: RoomAiService,
    // writes to one membership, one at a time on every instance (room-locks.ts)
    @Inject(SESSION_LOCK) private readonly lock: WriteLock,
    @Inject(SETTINGS) settings: Settings,
  ) {
    this.publicRooms = new PublicRoomList(settings.rooms.listCacheMs);
  }

  // presence changes of this instance's users go to their rooms (presence itself knows no rooms)
  onModuleInit(): void {
    this.hub.onPublicRoomsChanged(() => this.publicRooms.invalidate());
    this.presence.onChange(({ userId, status }) => {
      void this.participants
        .ofUser(userId, ['member'])
        .then((memberships) =>
          memberships.forEach((member) => this.hub.presence(member.room_id, userId, status)),
        )
        .catch(() => undefined);
    });
  }

  async create(
    principal: Principal,
    input: { name: string; kind: Exclude<RoomKind, 'dm'>; topic?: string; invite?: string[] },
  ): Promise<RoomRecord> {
    const room = {
      id: newId(),
      kind: input.kind,
      name: input.name,
      topic: input.topic ?? null,
      owner_id: principal.userId,
      created_at: new Date(),
    };
    await this.rooms.insert(room);
    if (room.kind === 'public') this.hub.publicRoomsChanged();
    await this.participants.put(room.id, principal.userId, { state: 'member', role: 'owner' });
    for (const userId of new Set(input.invite ?? []))
      if (userId !== principal.userId) {
        // one who blocked the creator, or has too many open invitations, is left out (silently: the
        // room is made for the others)
        if (await this.blocks.isBlocked(userId, principal.userId)) continue;
        if ((await this.participants.countInvited(userId)) >= MAX_OPEN_INVITATIONS) continue;
        await this.participants.put(room.id, userId, { state: 'invited' });
        this.hub.toUser(userId, { type: 'rooms_changed', room_id: room.id, metadata: { reason: 'invited' } });
      }
    return (await this.rooms.find(room.id)) as RoomRecord;
  }

  // The direct-message room of the pair, made on first use; both users are members (ROOM-003).
  async openDm(principal: Principal, otherUserId: string): Promise<RoomRecord> {
    if (otherUserId === principal.userId)
      throw new DomainException(ErrorCode.INVALID_MESSAGE, 'A direct message needs another user.');
    const id = dmRoomId(principal.userId, otherUserId);
    const existing = await this.rooms.find(id);
    // a room found before its creator (the other user, on another instance) has put the members is
    // not ready yet: this side puts them too
    if (existing && (await this.participants.find(id, principal.userId))) return existing;
    const users = [principal.userId, otherUserId].sort();
    // two first uses at once (on two instances) insert one room; both then put the same two members
    // (keyed upserts), so whichever returns first can write at once
    if (!existing)
      await this.rooms.insert({
        id,
        kind: 'dm',
        name: users.join(', '),
        topic: null,
        owner_id: principal.userId,
        dm_users: users,
        created_at: new Date(),
      });
    for (const userId of users) await this.participants.put(id, userId, { state: 'member', role: 'member' });
    // the other side's room list gains it (both sides, when both opened it at once)
    this.hub.toUser(otherUserId, { type: 'rooms_changed', room_id: id, metadata: { reason: 'dm' } });
    return (await this.rooms.find(id)) as RoomRecord;
  }

  // Public rooms anyone may see, and every room the user is in or invited to, with unread counts.
  async listFor(principal: Principal): Promise<RoomSummary[]> {
    // invitations are bounded (others make them): the newest MAX_OPEN_INVITATIONS
    const [memberships, invitations] = await Promise.all([
      this.participants.ofUser(principal.userId, ['member']),
      this.participants.invitationsOf(principal.userId, MAX_OPEN_INVITATIONS),
    ]);
    const mine = [...memberships, ...invitations];
    const byRoom = new Map(mine.map((participant) => [participant.room_id, participant]));
    const memberRooms = mine
      .filter((participant) => participant.state === 'member')
      .map((each) => each.room_id);
    // the rooms and the read marks side by side, then one count per room (and a look past its
    // window only when the room's last_seq does not lie past it)
    const [own, open, marks] = await Promise.all([
      this.rooms.findMany([...byRoom.keys()]),
      this.publicRooms.get(() => this.rooms.listByKind('public', PUBLIC_LIST_LIMIT)),
      this.messages.readMarksOf(principal.userId, memberRooms),
    ]);
    const unread = await this.messages.unread(
      principal.userId,
      memberRooms,
      new Map(own.map((room) => [room.id, room])),
      marks,
    );
    const rooms = new Map([...open, ...own].map((room) => [room.id, room]));
    return [...rooms.values()]
      .sort((a, b) => (b.last_message_at?.getTime() ?? 0) - (a.last_message_at?.getTime() ?? 0))
      .map((room) => ({
        room,
        participant: byRoom.get(room.id) ?? null,
        unread: unread.get(room.id) ?? NONE_UNREAD,
      }));
  }

  async get(principal: Principal, roomId: string): Promise<RoomSummary> {
    const [room, participant] = await Promise.all([
      this.rooms.find(roomId),
      this.participants.find(roomId, principal.userId),
    ]);
    if (!canSee(room, participant)) throw new DomainException(ErrorCode.NOT_FOUND, 'Room not found.');
    const unread =
      participant?.state === 'member'
        ? ((
            await this.messages.unread(principal.userId, [roomId], new Map([[roomId, room as RoomRecord]]))
          ).get(roomId) ?? NONE_UNREAD)
        : NONE_UNREAD;
    return { room, participant, unread };
  }

  // Public rooms: anyone not banned; private rooms: the invited; direct messages: their two users.
  // true when the user was not a member before (a system message says so). The membership is written
  // only over the state that was checked: a kick or ban in between is checked again.
  async join(principal: Principal, roomId: string): Promise<{ room: RoomRecord; joined: boolean }> {
    for (let attempt = 1; ; attempt++) {
      const [room, participant] = await Promise.all([
        this.rooms.find(roomId),
        this.participants.find(roomId, principal.userId),
      ]);
      if (!canSee(room, participant)) throw new DomainException(ErrorCode.NOT_FOUND, 'Room not found.');
      if (participant?.state === 'member') return { room, joined: false };
      if (participant?.state === 'banned') throw new DomainException(ErrorCode.BANNED);
      if (room.kind !== 'public' && participant?.state !== 'invited')
        throw new DomainException(ErrorCode.NOT_A_MEMBER, 'This room is by invitation only.');
      if (
        await this.move(
          roomId,
          principal.userId,
          participant?.state ?? null,
          'member',
          roleOnMove(participant),
        )
      ) {
        await this.messages.system(room, principal.userId, 'joined');
        return { room, joined: true };
      }
      if (attempt === MOVE_ATTEMPTS) throw membershipBusy();
    }
  }

  // A member leaves; an invited user declines the invitation the same way (it leaves their list; they
  // never joined, so nothing is said in the room).
  async leave(principal: Principal, roomId: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const [room, participant] = await Promise.all([
        this.rooms.find(roomId),
        this.participants.find(roomId, principal.userId),
      ]);
      if (canSee(room, participant) && participant?.state === 'invited') {
        if (await this.move(roomId, principal.userId, 'invited', 'left')) return;
        if (attempt === MOVE_ATTEMPTS) throw membershipBusy();
        continue;
      }
      requireMember(room, participant);
      const left = room as RoomRecord;
      if (left.kind === 'dm')
        throw new DomainException(ErrorCode.INVALID_MESSAGE, 'A direct message cannot be left.');
      if (await this.move(roomId, principal.userId, 'member', 'left', roleOnMove(participant))) {
        // the user's own choice: an instance the revoke misses reads memberships again when the bus
        // is back (RoomHub's resync)
        void this.hub.revoke(roomId, principal.userId);
        await this.messages.system(left, principal.userId, 'left');
        return;
      }
      if (attempt === MOVE_ATTEMPTS) throw membershipBusy();
    }
  }

  // Members invite to public rooms; owners and moderators (and admins) to private ones.
  async invite(principal: Principal, roomId: string, userId: string): Promise<void> {
    const [room, participant, target] = await Promise.all([
      this.rooms.find(roomId),
      this.participants.find(roomId, principal.userId),
      this.participants.find(roomId, userId),
    ]);
    if (!principal.isAdmin) requireMember(room, participant);
    if (!room || room.kind === 'dm') throw new DomainException(ErrorCode.NOT_FOUND, 'Room not found.');
    if (room.kind === 'private') requireModerator(principal, participant);
    if (target?.state === 'member' || target?.state === 'banned') return;
    // the invitee blocked the inviter: skipped, answered as if made, as a block is not told
    if (await this.blocks.isBlocked(userId, principal.userId)) return;
    if (target?.state !== 'invited' && (await this.participants.countInvited(userId)) >= MAX_OPEN_INVITATIONS)
      throw new DomainException(
        ErrorCode.FORBIDDEN,
        'This user has too many open invitations; they must accept or decline some first.',
        { recoverable: true },
      );
    // written over the state checked only: a ban in between stands
    for (let attempt = 1, state: ParticipantState | null = target?.state ?? null; ; attempt++) {
      if (state === 'member' || state === 'banned') return;
      if (await this.move(roomId, userId, state, 'invited')) break;
      if (attempt === MOVE_ATTEMPTS) throw membershipBusy();
      state = (await this.participants.find(roomId, userId))?.state ?? null;
    }
    this.hub.toUser(userId, { type: 'rooms_changed', room_id: roomId, metadata: { reason: 'invited' } });
  }

  async moderate(
    principal: Principal,
    roomId: string,
    action: ModerationAction,
    userId: string,
    durationMs = DEFAULT_MUTE_MS,
  ): Promise<void> {
    const [room, actor, target] = await Promise.all([
      this.rooms.find(roomId),
      this.participants.find(roomId, principal.userId),
      this.participants.find(roomId, userId),
    ]);
    if (!room || (!principal.isAdmin && !canSee(room, actor)))
      throw new DomainException(ErrorCode.NOT_FOUND, 'Room not found.');
    requireModerator(principal, actor);
    if (target?.role === 'owner' && !principal.isAdmin)
      throw new DomainException(ErrorCode.FORBIDDEN, 'The owner cannot be moderated.', { recoverable: true });
    if (!target && action !== 'ban') throw new DomainException(ErrorCode.NOT_FOUND, 'No such participant.');
    switch (action) {
      case 'mute':
      case 'unmute': {
        const until = action === 'mute' ? new Date(Date.now() + durationMs) : null;
        await this.lock.run(memberKey(roomId, userId), () =>
          this.participants.setMute(roomId, userId, until),
        );
        break;
      }
      case 'kick':
      case 'ban': {
        // a moderator (or an owner an admin removed) loses the role for good: back in, they are a
        // member until named again (docs/protocol.md, "Rooms, direct messages, moderation")
        await this.lock.run(memberKey(roomId, userId), () =>
          this.participants.put(roomId, userId, {
            state: action === 'kick' ? 'kicked' : 'banned',
            role: 'member',
          }),
        );
        // the user's open sockets are told why the room goes quiet (the room sees it too)
        this.hub.toRoom(roomId, {
          type: 'leave',
          room_id: roomId,
          user_id: userId,
          metadata: { reason: action === 'kick' ? 'kicked' : 'banned' },
        });
        // what the room says next no longer reaches the user, on any instance
        const told = await this.hub.revoke(roomId, userId);
        this.hub.toUser(userId, { type: 'rooms_changed', room_id: roomId, metadata: { reason: 'removed' } });
        // acked only once the other instances could be told (the user is out of the store already:
        // no read, write or join passes; the moderator sends it again)
        if (!told)
          throw new DomainException(ErrorCode.INTERNAL, 'The other instances could not be told; try again.');
        break;
      }
      case 'unban':
        if (target?.state !== 'banned' || !(await this.move(roomId, userId, 'banned', 'left'))) return;
        break;
    }
    await this.messages.system(room, principal.userId, action, userId);
  }

  // A membership written over the state checked (ParticipantsRepository.move), under its lock.
  private move(
    roomId: string,
    userId: string,
    from: ParticipantState | null,
    to: ParticipantState,
    role?: ParticipantRole,
  ): Promise<boolean> {
    return this.lock.run(memberKey(roomId, userId), () =>
      this.participants.move(roomId, userId, from, to, role),
    );
  }

  async setRole(principal: Principal, roomId: string, userId: string, moderator: boolean): Promise<void> {
    const [room, actor, target] = await Promise.all([
      this.rooms.find(roomId),
      this.participants.find(roomId, principal.userId),
      this.participants.find(roomId, userId),
    ]);
    if (!room || (!principal.isAdmin && !canSee(room, actor)))
      throw new DomainException(ErrorCode.NOT_FOUND, 'Room not found.');
    if (!principal.isAdmin && actor?.role !== 'owner')
      throw new DomainException(ErrorCode.FORBIDDEN, 'Only the owner names moderators.', {
        recoverable: true,
      });
    if (target?.state !== 'member' || target.role === 'owner')
      throw new DomainException(ErrorCode.NOT_FOUND, 'No such member.');
    await this.lock.run(memberKey(roomId, userId), () =>
      this.participants.setRole(roomId, userId, moderator ? 'moderator' : 'member'),
    );
  }

  async updateSettings(
    principal: Principal,
    roomId: string,
    changes: { name?: string; topic?: string; ai_model?: string | null },
  ) {
    // a change of nothing is a client's mistake, as for a session's PATCH, not a 200 that did nothing
    if (changes.name === undefined && changes.topic === undefined && changes.ai_model === undefined)
      throw new DomainException(ErrorCode.INVALID_MESSAGE, 'Give name, topic or ai_model.');
    const [room, actor] = await Promise.all([
      this.rooms.find(roomId),
      this.participants.find(roomId, principal.userId),
    ]);
    if (!room || (!principal.isAdmin && !canSee(room, actor)))
      throw new DomainException(ErrorCode.NOT_FOUND, 'Room not found.');
    requireModerator(principal, actor);
    if (changes.ai_model !== undefined) this.ai.validateModel(changes.ai_model);
    await this.lock.run(roomDocumentKey(roomId), () => this.rooms.update(roomId, changes));
    if (room.kind === 'public') this.hub.publicRoomsChanged();
    return (await this.rooms.find(roomId)) as RoomRecord;
  }

  // Members with their presence (PRESENCE-002); members only, and admins (moderation).
  async participantsOf(principal: Principal, roomId: string) {
    if (!principal.isAdmin) await this.messages.memberOf(roomId, principal.userId);
    const members = await this.participants.ofRoom(roomId, ['member']);
    const presence = await this.presence.statusOf(members.map((member) => member.user_id));
    return members.map((member) => ({ ...member, presence: presence.get(member.user_id) ?? 'offline' }));
  }

  async onlineMembers(roomId: string): Promise<string[]> {
    const members = await this.participants.ofRoom(roomId, ['member']);
    const presence = await this.presence.statusOf(members.map((member) => member.user_id));
    return members
      .filter((member) => presence.get(member.user_id) !== 'offline')
      .map((member) => member.user_id);
  }

  adminList(skip: number, limit: number) {
    return this.rooms.listAll(skip, limit);
  }
}

// the membership kept changing under a join, leave or invitation (other devices, moderators): try again
function membershipBusy(): DomainException {
  return new DomainException(ErrorCode.INTERNAL, 'Membership changed meanwhile; try again.');
}

// A join or leave keeps the owner's role and makes anyone else a member: moderators are named for the
// time they stay (named again by the owner after they come back), and one kicked or banned before
// kicks and bans took the role comes back a member too. An owner's role is taken only by a kick or
// ban, which changes the state too: the move's compare on the state catches a read gone stale.
function roleOnMove(participant: ParticipantRecord | null): ParticipantRole | undefined {
  return participant?.role === 'owner' ? undefined : 'member';
}

function memberKey(roomId: string, userId: string): string {
  return `room-member:${roomId}|${userId}`;
}
