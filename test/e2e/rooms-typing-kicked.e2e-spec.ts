import { ParticipantsRepository } from '../../src/modules/rooms/participants.repository';
import { type RunningApp } from '../helpers/app';
import { api, createRoom, join, type RoomFrame, TwoInstances } from './rooms.helpers';

// Found by a rooms audit in session 39 (3 of 3 runs). docs/protocol.md, "Rooms": a kicked user hears nothing more of the room and is heard no more in it
// (typing included: a muted member's typing is refused MUTED, a blocked DM side's BLOCKED). A typing
// frame is checked against the socket's local subscription *before* the awaits (rate, membership
// read), and the membership read only refuses a mute: a participant whose state is `kicked` (or
// `banned`) passes, so a typing frame in flight at the kick is relayed to the room after the kick.
describe('rooms: typing of a kicked user (e2e)', () => {
  jest.setTimeout(60_000);
  let cluster: TwoInstances;
  let first: RunningApp;
  let second: RunningApp;
  beforeAll(async () => {
    cluster = await TwoInstances.start();
    ({ first, second } = cluster);
  });
  afterAll(async () => {
    await cluster?.close();
  });
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it('should not relay the typing of a user whose membership read says kicked (a slow read)', async () => {
    const owner = cluster.person();
    const victim = cluster.person();
    const watcher = cluster.person();
    const roomId = await createRoom(first, owner.token);
    const v = await cluster.socket(second, victim.token);
    const w1 = await cluster.socket(first, watcher.token);
    const w2 = await cluster.socket(second, owner.token);
    for (const client of [v, w1, w2]) await join(client, roomId);
    // the victim's membership reads on the instance holding their socket take 400 ms (a busy store):
    // the read itself happens after the wait, so it sees the kick
    const participants = second.app.get(ParticipantsRepository);
    const find = participants.find.bind(participants);
    const spy = jest.spyOn(participants, 'find').mockImplementation(async (room, user) => {
      if (user === victim.id) await sleep(400);
      return find(room, user);
    });
    try {
      v.send({ type: 'typing', room_id: roomId, metadata: { typing: true } });
      await sleep(50);
      expect(
        (await api(first, owner.token, 'POST', `/rooms/${roomId}/moderation/kick`, { user_id: victim.id }))
          .status,
      ).toBe(200);
      await sleep(1_000);
      expect((await find(roomId, victim.id))?.state).toBe('kicked');
      for (const client of [w1, w2]) {
        const frames = client.frames as RoomFrame[];
        const leaveAt = frames.findIndex((frame) => frame.type === 'leave' && frame.user_id === victim.id);
        expect(leaveAt).toBeGreaterThan(-1);
        // nothing of the kicked user after the kick's notice
        expect(
          frames.slice(leaveAt).filter((frame) => frame.type === 'typing' && frame.user_id === victim.id),
        ).toEqual([]);
      }
    } finally {
      spy.mockRestore();
    }
  });
});
