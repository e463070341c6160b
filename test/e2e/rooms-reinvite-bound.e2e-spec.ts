import { ParticipantsRepository } from '../../src/modules/rooms/participants.repository';
import type { RunningApp } from '../helpers/app';
import { api, createRoom, TwoInstances } from './rooms.helpers';

// Found by a bounds audit in session 39 (51–54 of 50, 12 of 12 rounds, 3 of 3 runs). docs/protocol.md, "Rooms, direct messages, moderation": "A user has at most 50 open invitations
// ... counted and the new one written under the invitee's lock". An invitation again to a room that
// invites the user already skips the count (the state read before the lock); when the user declines
// that one meanwhile and another inviter fills the place, the re-invitation is written as a new one.
describe('rooms: open invitations with re-invitations and declines at once (e2e)', () => {
  jest.setTimeout(300_000);
  let cluster: TwoInstances;
  let first: RunningApp;
  let second: RunningApp;
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  beforeAll(async () => {
    // the default REST write budget (10 a second per user): every owner writes once or twice
    cluster = await TwoInstances.start({ ROOM_RATE_LIMIT_MESSAGES_PER_SECOND: '10' });
    ({ first, second } = cluster);
  });
  afterAll(() => cluster?.close());

  it('should never leave a user with more than 50 open invitations', async () => {
    const victim = cluster.person();
    const open = () => first.app.get(ParticipantsRepository).countInvited(victim.id);
    const owners = new Map<string, { id: string; token: string }>();
    const invitedRooms: Array<{ roomId: string; owner: { id: string; token: string } }> = [];
    for (let index = 0; index < 50; index++) {
      const owner = cluster.person();
      const roomId = await createRoom(first, owner.token, 'private', [victim.id]);
      owners.set(roomId, owner);
      invitedRooms.push({ roomId, owner });
    }
    expect(await open()).toBe(50);
    const counts: number[] = [];
    const rounds: Array<Record<string, unknown>> = [];
    const K = 5;
    for (let round = 0; round < 12; round++) {
      const again = invitedRooms.splice(0, K);
      const fresh: Array<{ roomId: string; owner: { id: string; token: string } }> = [];
      for (let index = 0; index < K; index++) {
        const owner = cluster.person();
        const roomId = await createRoom(second, owner.token, 'private');
        owners.set(roomId, owner);
        fresh.push({ roomId, owner });
      }
      const app = (index: number) => (index % 2 === 0 ? first : second);
      const statuses = await Promise.all([
        ...again.map(({ roomId, owner }, index) =>
          api(app(index), owner.token, 'POST', `/rooms/${roomId}/invite`, { user_id: victim.id }),
        ),
        ...again.map(({ roomId }, index) =>
          api(app(index + 1), victim.token, 'POST', `/rooms/${roomId}/leave`),
        ),
        ...fresh.map(({ roomId, owner }, index) =>
          api(app(index), owner.token, 'POST', `/rooms/${roomId}/invite`, { user_id: victim.id }),
        ),
      ]).then((answers) => answers.map((answer) => answer.status));
      const now = await open();
      counts.push(now);
      rounds.push({
        open: now,
        reinvite: statuses.slice(0, K),
        decline: statuses.slice(K, 2 * K),
        fresh: statuses.slice(2 * K),
      });
      // back to 50 open for the next round: the victim declines what passed the bound
      const participants = first.app.get(ParticipantsRepository);
      const mine = await participants.invitationsOf(victim.id, 100);
      invitedRooms.length = 0;
      for (const record of mine)
        invitedRooms.push({
          roomId: record.room_id,
          owner: owners.get(record.room_id) as { id: string; token: string },
        });
      await pause(1100);
      let extra = now - 50;
      for (const record of mine) {
        if (extra <= 0) break;
        await api(first, victim.token, 'POST', `/rooms/${record.room_id}/leave`);
        invitedRooms.splice(
          invitedRooms.findIndex((entry) => entry.roomId === record.room_id),
          1,
        );
        extra--;
      }
      await pause(1100);
    }
    expect({ over: counts.filter((count) => count > 50), rounds }).toEqual({ over: [], rounds });
  });
});
