import type { PresenceService } from '../presence/presence.service';
import type { ParticipantsRepository } from './participants.repository';
import type { RoomHub } from './room-hub';

// Presence in rooms (PRESENCE-001..004): presence itself knows no rooms, so each change of this
// instance's users goes to their rooms here, and the members' statuses are read for a join. After
// the bus was away, each instance reads the last announcement of every member of the rooms it serves
// and tells its sockets the newer ones: an announcement published while another instance's
// subscription was down never reached it (only the newer pass, by the store's versions). Until the
// Redis audit of session 34 a member whose socket closed during an outage stayed online for good on
// the other instance's sockets (docs/protocol.md, "Presence").
export class RoomPresence {
  constructor(
    private readonly presence: PresenceService,
    private readonly participants: ParticipantsRepository,
    private readonly hub: RoomHub,
  ) {}

  start(): void {
    this.presence.onChange(({ userId, status, version }) => {
      void this.participants
        .ofUser(userId, ['member'])
        .then((memberships) =>
          memberships.forEach((member) => this.hub.presence(member.room_id, userId, status, version)),
        )
        .catch(() => undefined);
    });
    this.hub.onResynced(() => void this.refresh());
  }

  async onlineMembers(roomId: string): Promise<string[]> {
    const members = await this.participants.ofRoom(roomId, ['member']);
    const presence = await this.presence.statusOf(members.map((member) => member.user_id));
    return members
      .filter((member) => presence.get(member.user_id) !== 'offline')
      .map((member) => member.user_id);
  }

  // every room served here, one after another (a rare step: after an outage)
  private async refresh(): Promise<void> {
    for (const roomId of this.hub.roomsHere()) {
      const members = await this.participants.ofRoom(roomId, ['member']).catch(() => []);
      await Promise.all(
        members.map(async ({ user_id: userId }) => {
          const announced = await this.presence.announced(userId);
          if (announced) this.hub.presenceRefreshed(roomId, userId, announced.status, announced.version);
        }),
      );
    }
  }
}
