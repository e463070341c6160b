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
import { RoomMembershipService } from './room-membership.service';
import { RoomPresence } from './room-presence';
import { invitationsKey, ownedRoomsKey, roomDocumentKey } from './room-locks';
import { RoomMessagesRepository } from './room-messages.repository';
import { RoomMessagesService, type Unread } from './room-messages.service';
import {
  canSee,
  dmRoomId,
  isDmOf,
  MAX_OPEN_INVITATIONS,
  plainDmRoomId,
  requireModerator,
} from './room-rules';
import type { ParticipantRecord, RoomKind, RoomRecord } from './room.types';
import { RoomsRepository } from './rooms.repository';
import { newId } from '../../common/ids';

const PUBLIC_LIST_LIMIT = 100;

export interface RoomSummary {
  room: RoomRecord;
  participant: ParticipantRecord | null;
  unread: Unread;
  // the member's read mark, where the list read it (a device that missed a `read` catches up)
  readSeq?: number;
}

const NONE_UNREAD: Unread = { count: 0, more: false };

// Rooms (ROOM-001..005): create, list and read them, direct messages, settings, and their members
// with presence. Who belongs to them (join, leave, invite, moderation) is RoomMembershipService's.
@Injectable()
export class RoomsService implements OnModuleInit {
  // the newest public rooms, shared by this instance's room lists (public-room-list.ts)
  private readonly publicRooms: PublicRoomList<RoomRecord[]>;
  // the members' presence, told to the rooms (room-presence.ts)
  private readonly roomPresence: RoomPresence;

  constructor(
    private readonly rooms: RoomsRepository,
    private readonly participants: ParticipantsRepository,
    private readonly blocks: BlocksRepository,
    private readonly messages: RoomMessagesService,
    // the rooms' newest message times (withActivity)
    private readonly stored: RoomMessagesRepository,
    private readonly hub: RoomHub,
    // who belongs to the pair's room when a direct message is opened (its membership writes)
    private readonly membership: RoomMembershipService,
    private readonly presence: PresenceService,
    private readonly ai: RoomAiService,
    // writes to the room's own document, one at a time on every instance (room-locks.ts)
    @Inject(SESSION_LOCK) private readonly lock: WriteLock,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {
    this.publicRooms = new PublicRoomList(settings.rooms.listCacheMs);
    this.roomPresence = new RoomPresence(presence, participants, hub, blocks);
  }

  // presence changes of this instance's users go to their rooms (RoomPresence)
  onModuleInit(): void {
    this.hub.onPublicRoomsChanged(() => this.publicRooms.invalidate());
    this.roomPresence.start();
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
    // At most ROOM_MAX_OWNED made by one user, counted and made under the user's own lock
    // (docs/protocol.md, "Rooms"). Until the quota audit of session 41 nothing bounded it: one user
    // made 3,000 public rooms at the REST budget, and every rare-word search of the public rooms
    // (which reads each one's key) slowed for everyone, 4.6 to 43 ms at p50.
    const max = this.settings.rooms.maxOwnedRooms;
    await this.lock.run(ownedRoomsKey(principal.userId), async () => {
      if ((await this.rooms.countOwned(principal.userId)) >= max)
        throw new DomainException(
          ErrorCode.FORBIDDEN,
          `You have made ${max} rooms, the most one user may make.`,
        );
      await this.rooms.insert(room);
    });
    if (room.kind === 'public') this.hub.publicRoomsChanged();
    await this.participants.put(room.id, principal.userId, {
      state: 'member',
      role: 'owner',
      admin: principal.isAdmin,
    });
    for (const userId of new Set(input.invite ?? []))
      if (userId !== principal.userId) {
        // one who blocked the creator, or has too many open invitations, is left out (silently: the
        // room is made for the others)
        if (await this.blocks.isBlocked(userId, principal.userId)) continue;
        // counted and written under the invitee's invitations lock, as an invitation to a room made
        // before (RoomMembershipService.invite)
        const invited = await this.lock.run(invitationsKey(userId), async () => {
          if ((await this.participants.countInvited(userId)) >= MAX_OPEN_INVITATIONS) return false;
          await this.participants.put(room.id, userId, { state: 'invited' });
          return true;
        });
        if (invited) this.hub.toUser(userId, room.id, 'invited');
      }
    return (await this.rooms.find(room.id)) as RoomRecord;
  }

  // The direct-message room of the pair, made on first use; both users are members (ROOM-003). Not
  // made when the other user blocked this one (BLOCKED, as their messages are): it would land in the
  // blocker's list all the same. One made before the block stays theirs (its history readable).
  async openDm(principal: Principal, otherUserId: string): Promise<RoomRecord> {
    if (otherUserId === '' || otherUserId === principal.userId)
      throw new DomainException(ErrorCode.INVALID_MESSAGE, 'A direct message needs another user.');
    const { id, existing } = await this.dmOf(principal.userId, otherUserId);
    // a room found before its creator (the other user, on another instance) has put the members is
    // not ready yet: this side puts them too
    const mine = existing ? await this.participants.find(id, principal.userId) : null;
    if (existing && mine?.state === 'member') return existing;
    // Kicked from it, or gone: opening it again brings the opener back (a kick is not a ban, and the
    // pair has no other room); banned, they stay out until unbanned. Until the second rooms audit
    // fix a kick, or a ban lifted, shut the user out of the pair's conversation for good: every
    // open answered the room without them, and a direct message takes no invitation
    // (docs/protocol.md, "Moderation").
    if (mine?.state === 'banned') throw new DomainException(ErrorCode.BANNED);
    if (await this.blocks.isBlocked(otherUserId, principal.userId))
      throw new DomainException(ErrorCode.BLOCKED);
    const users = [principal.userId, otherUserId].sort();
    // two first uses at once (on two instances) insert one room; both then make the two members
    // (one unique insert each), so whichever returns first can write at once
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
    await this.membership.enterDm(principal, id, otherUserId, mine?.state ?? null);
    if (existing && mine) {
      this.hub.toUser(principal.userId, id, 'dm');
      return existing;
    }
    // the other side's room list gains it (both sides, when both opened it at once)
    this.hub.toUser(otherUserId, id, 'dm');
    return (await this.rooms.find(id)) as RoomRecord;
  }

  // The pair's room id (dmRoomId) and the room there, if any. A pair that had another id before ids
  // were escaped (plainDmRoomId: an id holds NUL or `\`) keeps its room there. A room there of
  // another pair (one stored under a plain id that is this pair's escaped one) is never taken as
  // this pair's: refused.
  private async dmOf(userA: string, userB: string): Promise<{ id: string; existing: RoomRecord | null }> {
    const id = dmRoomId(userA, userB);
    const plain = plainDmRoomId(userA, userB);
    if (plain !== id) {
      const before = await this.rooms.find(plain);
      if (before && isDmOf(before, userA, userB)) return { id: plain, existing: before };
    }
    const existing = await this.rooms.find(id);
    if (existing && !(existing.dm_users === undefined || isDmOf(existing, userA, userB)))
      throw new DomainException(ErrorCode.INVALID_MESSAGE, 'This direct message cannot be opened.');
    return { id, existing };
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
    const [read, open, marks] = await Promise.all([
      this.rooms.findMany([...byRoom.keys()]),
      // shared for ROOM_LIST_CACHE, with their newest message times as of the read
      this.publicRooms.get(async () =>
        this.withActivity(await this.rooms.listByKind('public', PUBLIC_LIST_LIMIT)),
      ),
      this.messages.readMarksOf(principal.userId, memberRooms),
    ]);
    const [own, unread] = await Promise.all([
      this.withActivity(read),
      this.messages.unread(
        principal.userId,
        memberRooms,
        new Map(read.map((room) => [room.id, room])),
        marks,
      ),
    ]);
    const rooms = new Map([...open, ...own].map((room) => [room.id, room]));
    return [...rooms.values()]
      .sort((a, b) => (b.last_message_at?.getTime() ?? 0) - (a.last_message_at?.getTime() ?? 0))
      .map((room) => ({
        room,
        participant: byRoom.get(room.id) ?? null,
        unread: unread.get(room.id) ?? NONE_UNREAD,
        readSeq: marks.get(room.id) ?? 0,
      }));
  }

  // One room as the list shows it: a public room to anyone; a private room or direct message to its
  // members, the invited (their list shows it) and admins. One who left or was removed gets NOT_FOUND,
  // as one never asked in does: its name, topic and settings (renamed since, perhaps) are not theirs.
  async get(principal: Principal, roomId: string): Promise<RoomSummary> {
    const [room, participant] = await Promise.all([
      this.rooms.find(roomId),
      this.participants.find(roomId, principal.userId),
    ]);
    const current = participant?.state === 'member' || participant?.state === 'invited';
    if (!room || (room.kind !== 'public' && !current && !principal.isAdmin))
      throw new DomainException(ErrorCode.NOT_FOUND, 'Room not found.');
    const [[active], unread] = await Promise.all([
      this.withActivity([room]),
      participant?.state === 'member'
        ? this.messages
            .unread(principal.userId, [roomId], new Map([[roomId, room]]))
            .then((counts) => counts.get(roomId) ?? NONE_UNREAD)
        : NONE_UNREAD,
    ]);
    return { room: active, participant, unread };
  }

  // The rooms with their real last activity: the noted `last_message_at` is written at most once a
  // minute (a write fewer per message), so the newest message's time after it is read beside them
  // (RoomMessagesRepository.newestTimes: from the noted seq up, usually one message a room). A list
  // ordered by it is ordered by what was said last (docs/protocol.md, "REST", GET /rooms).
  private async withActivity(rooms: RoomRecord[]): Promise<RoomRecord[]> {
    if (rooms.length === 0) return rooms;
    const newest = await this.stored.newestTimes(
      rooms.map((room) => ({ roomId: room.id, floor: room.last_seq })),
    );
    return rooms.map((room) => {
      const at = newest.get(room.id);
      return at && (!room.last_message_at || at > room.last_message_at)
        ? { ...room, last_message_at: at }
        : room;
    });
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
    const presence = await this.roomPresence.statusesFor(
      roomId,
      members.map((member) => member.user_id),
      principal.isAdmin ? undefined : principal.userId,
    );
    return members.map((member) => ({ ...member, presence: presence.get(member.user_id) ?? 'offline' }));
  }

  // the online members as `viewerId` may see them (RoomPresence.onlineMembers)
  onlineMembers(roomId: string, viewerId?: string): Promise<string[]> {
    return this.roomPresence.onlineMembers(roomId, viewerId);
  }

  // A block between the pair was lifted: their direct message, if they have one, is told both users'
  // status now (RoomPresence.unblocked). Best effort: the unblock stands whatever the store says.
  async unblocked(userA: string, userB: string): Promise<void> {
    const dm = await this.dmOf(userA, userB).catch(() => null);
    if (dm?.existing) await this.roomPresence.unblocked(userA, userB);
  }

  // a member joined a room on a socket: the others see their presence (RoomPresence.joined)
  announceJoined(roomId: string, userId: string): Promise<void> {
    return this.roomPresence.joined(roomId, userId);
  }

  adminList(skip: number, limit: number) {
    return this.rooms.listAll(skip, limit);
  }
}
