import type { PresenceStatus } from '../../protocol/rooms';
import type { PresenceChange, PresenceService } from '../presence/presence.service';
import type { BlocksRepository } from './blocks.repository';
import type { ParticipantsRepository } from './participants.repository';
import type { RoomHub } from './room-hub';
import { dmRoomId, isDmRoomId, plainDmRoomId } from './room-rules';
import { PRESENCE_COALESCE_MS } from './room-presence-pace';

// how often one user's changes are read and sent to their rooms, at most (a room's frames are paced
// as often: PRESENCE_COALESCE_MS)
export const USER_PRESENCE_MS = PRESENCE_COALESCE_MS;

// Presence in rooms (PRESENCE-001..004): presence itself knows no rooms, so each change of this
// instance's users goes to their rooms here, and the members' statuses are read for a join. After
// the bus was away, each instance reads the last announcement of every member of the rooms it serves
// and tells its sockets the newer ones: an announcement published while another instance's
// subscription was down never reached it (only the newer pass, by the store's versions). Until the
// Redis audit of session 34 a member whose socket closed during an outage stayed online for good on
// the other instance's sockets (docs/protocol.md, "Presence").
// No presence crosses a block in a direct message, either way, as no read receipt does: until a
// presence audit in session 40 the blocked user watched the blocker come and go there (live frames,
// the join's `metadata.online`, the participants read; test/e2e/rooms-presence-blocks.e2e-spec.ts).
export class RoomPresence {
  // users whose change went out less than USER_PRESENCE_MS ago, with the newest change since
  private readonly announcing = new Map<string, { latest?: PresenceChange }>();

  constructor(
    private readonly presence: PresenceService,
    private readonly participants: ParticipantsRepository,
    private readonly hub: RoomHub,
    private readonly blocks: Pick<BlocksRepository, 'counterparts' | 'isBlockedEitherWay'>,
  ) {}

  start(): void {
    this.presence.onChange((change) => this.changed(change));
    this.hub.onResynced(() => void this.refresh());
    // checked again as the room's frame goes out: a block may have come since the change was noted
    this.hub.screenPresence(async (roomId, userId) => !(await this.hiddenDms(userId, [roomId])).has(roomId));
  }

  // A user's change goes to their rooms at once, then at most once per USER_PRESENCE_MS with the
  // newest status while they change again: each time, one read of their memberships and one bus
  // message for all the rooms (RoomHub.presenceInRooms). Each room's frames keep their own pace
  // (PRESENCE-004), so what a room sees is the same; what one user's changes cost is bounded, however
  // many rooms they are in (docs/protocol.md, "Presence").
  private changed(change: PresenceChange): void {
    const waiting = this.announcing.get(change.userId);
    if (waiting) {
      waiting.latest = change;
      return;
    }
    this.announcing.set(change.userId, {});
    void this.announce(change);
  }

  private async announce({ userId, status, version }: PresenceChange): Promise<void> {
    try {
      const memberships = await this.participants.ofUser(userId, ['member']);
      const roomIds = memberships.map((member) => member.room_id);
      const hidden = await this.hiddenDms(userId, roomIds);
      // Read last: a newer announcement of the user was made while the reads took their time (on
      // another instance; this instance's own wait in `announcing`): this one is older and not sent.
      // An older one in flight is then at most this read's time old when a newer one is noted, so the
      // rooms keep a member's version only PRESENCE_FORGET_MS after their offline
      // (RoomPresencePace). Unreadable (the store away): sent, as before.
      const newest = await this.presence.announced(userId);
      if (newest && newest.version > version) return;
      this.hub.presenceInRooms(
        roomIds.filter((roomId) => !hidden.has(roomId)),
        userId,
        status,
        version,
      );
    } catch {
      // the store or the blocks unreadable: this change is not shown (a newer one may be)
    } finally {
      const timer = setTimeout(() => {
        const next = this.announcing.get(userId)?.latest;
        this.announcing.delete(userId);
        if (next) this.changed(next);
      }, USER_PRESENCE_MS);
      timer.unref();
    }
  }

  // A member who joined: the room's others see their last announcement, numbered as it was, so it
  // cannot undo a newer one (unless the room is a direct message across a block).
  // (The announcement is read last, just before it goes: no older one stays in flight for long.)
  async joined(roomId: string, userId: string): Promise<void> {
    if ((await this.hiddenDms(userId, [roomId])).has(roomId)) return;
    const announced = await this.presence.announced(userId);
    if (!announced) return;
    this.hub.presence(roomId, userId, announced.status, announced.version);
  }

  // A block between the two was lifted (their direct message exists): both users' status now is
  // announced again, with versions above any the room was told, so both sides' sockets settle on the
  // truth (docs/protocol.md, "Presence"). The changes made while the block hid them never went to the
  // room: until the DMs audit of session 41 each side's live socket kept the last status it was told
  // before the block (offline for one who came online meanwhile, online for one who left), while the
  // participants read said otherwise, for good (3 of 3 rounds each way). Still hidden (the other side
  // blocked them too): nothing goes there (start).
  async unblocked(userA: string, userB: string): Promise<void> {
    await Promise.all([userA, userB].map((userId) => this.presence.announceAgain(userId)));
  }

  // The members' presence as `viewerId` may see it: in a direct message across a block the other
  // side is offline to them.
  async statusesFor(
    roomId: string,
    memberIds: string[],
    viewerId?: string,
  ): Promise<Map<string, PresenceStatus>> {
    const presence = await this.presence.statusOf(memberIds);
    if (viewerId !== undefined && (await this.hiddenDms(viewerId, [roomId])).has(roomId))
      for (const memberId of memberIds) if (memberId !== viewerId) presence.set(memberId, 'offline');
    return presence;
  }

  async onlineMembers(roomId: string, viewerId?: string): Promise<string[]> {
    const members = await this.participants.ofRoom(roomId, ['member']);
    const ids = members.map((member) => member.user_id);
    const presence = await this.statusesFor(roomId, ids, viewerId);
    return ids.filter((id) => (presence.get(id) ?? 'offline') !== 'offline');
  }

  // Of `roomIds`, the direct messages of `userId` with someone they blocked or were blocked by (read
  // only when there is a direct message among them): the pair's room ids, both forms (room-rules.ts).
  private async hiddenDms(userId: string, roomIds: string[]): Promise<Set<string>> {
    if (!roomIds.some(isDmRoomId)) return new Set();
    const across = await this.blocks.counterparts(userId);
    return new Set(across.flatMap((other) => [dmRoomId(userId, other), plainDmRoomId(userId, other)]));
  }

  // every room served here, one after another (a rare step: after an outage)
  private async refresh(): Promise<void> {
    for (const roomId of this.hub.roomsHere()) {
      const members = await this.participants.ofRoom(roomId, ['member']).catch(() => []);
      if (
        isDmRoomId(roomId) &&
        members.length === 2 &&
        (await this.blocks.isBlockedEitherWay(members[0].user_id, members[1].user_id).catch(() => true))
      )
        continue;
      await Promise.all(
        members.map(async ({ user_id: userId }) => {
          const announced = await this.presence.announced(userId);
          if (announced) this.hub.presenceRefreshed(roomId, userId, announced.status, announced.version);
        }),
      );
    }
  }
}
