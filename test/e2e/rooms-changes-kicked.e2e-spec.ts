import { RoomMessagesRepository } from '../../src/modules/rooms/room-messages.repository';
import { type RunningApp } from '../helpers/app';
import { api, createRoom, join, say, type RoomFrame, TwoInstances } from './rooms.helpers';

// Found by a rooms audit in session 40 (3 of 3 runs). An edit or a reaction checks the member (member, not muted) once, then reads the
// message and writes under the message's lock. A kick, ban or mute that lands in between stands for a
// new message (checked again before its insert: docs/protocol.md, "Rooms, direct messages,
// moderation"), but not for an edit or a reaction: it is written after the kick and sent to the room
// after the kick's notice. The repro holds the instance's read of the message (a busy store) so the
// kick lands between the check and the write.
describe('rooms: an edit or a reaction of a member kicked or muted meanwhile (e2e)', () => {
  jest.setTimeout(60_000);
  let cluster: TwoInstances;
  let first: RunningApp;
  let second: RunningApp;
  beforeAll(async () => {
    cluster = await TwoInstances.start();
    ({ first, second } = cluster);
  });
  afterAll(() => cluster?.close());
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  // the second instance's reads of message `messageId` take 400 ms from now on
  function slowReadsOf(messageId: string): () => void {
    const repository = second.app.get(RoomMessagesRepository);
    const find = repository.find.bind(repository);
    const spy = jest.spyOn(repository, 'find').mockImplementation(async (room, id) => {
      if (id === messageId) await sleep(400);
      return find(room, id);
    });
    return () => spy.mockRestore();
  }

  async function setup() {
    const owner = cluster.person();
    const victim = cluster.person();
    const roomId = await createRoom(first, owner.token);
    const v = await cluster.socket(second, victim.token);
    const w = await cluster.socket(first, owner.token);
    await join(v, roomId);
    await join(w, roomId);
    const sent = await say(v, roomId, 'an ordinary message', 'orig');
    return { owner, victim, roomId, v, w, messageId: sent.message_id as string };
  }

  for (const action of ['kick', 'mute'] as const)
    it(`should refuse an edit whose membership was checked before a ${action} that landed before its write`, async () => {
      const { owner, victim, roomId, v, w, messageId } = await setup();
      const restore = slowReadsOf(messageId);
      try {
        v.send({
          type: 'edit',
          room_id: roomId,
          message_id: messageId,
          content: 'ABUSE after moderation',
          client_id: 'e1',
        });
        await sleep(100);
        const moderated = await api(first, owner.token, 'POST', `/rooms/${roomId}/moderation/${action}`, {
          user_id: victim.id,
        });
        expect(moderated.status).toBe(200);
        const answer = (await v.next((frame) => frame.client_id === 'e1', 5_000)) as RoomFrame;
        await sleep(500);
        const stored = (
          await api<{ items: RoomFrame[] }>(first, owner.token, 'GET', `/rooms/${roomId}/messages`)
        ).body.items.find((item) => item.message_id === messageId);
        const edits = (w.frames as RoomFrame[]).filter(
          (frame) => frame.type === 'edit' && frame.message_id === messageId,
        );
        expect({ answer: answer.type, stored: stored?.content, editsSeen: edits.length }).toEqual({
          answer: 'error',
          stored: 'an ordinary message',
          editsSeen: 0,
        });
      } finally {
        restore();
      }
    });

  it('should refuse a reaction whose membership was checked before a kick that landed before its write', async () => {
    const { owner, victim, roomId, v, w, messageId } = await setup();
    const restore = slowReadsOf(messageId);
    try {
      v.send({ type: 'react', room_id: roomId, message_id: messageId, content: '💩', client_id: 'r1' });
      await sleep(100);
      expect(
        (await api(first, owner.token, 'POST', `/rooms/${roomId}/moderation/kick`, { user_id: victim.id }))
          .status,
      ).toBe(200);
      const answer = (await v.next((frame) => frame.client_id === 'r1', 5_000)) as RoomFrame;
      await sleep(500);
      const frames = w.frames as RoomFrame[];
      const leaveAt = frames.findIndex((frame) => frame.type === 'leave' && frame.user_id === victim.id);
      const after = frames
        .slice(leaveAt)
        .filter((frame) => frame.type === 'react' && frame.user_id === victim.id);
      expect({ answer: answer.type, reactsAfterKick: after.length }).toEqual({
        answer: 'error',
        reactsAfterKick: 0,
      });
    } finally {
      restore();
    }
  });
});
