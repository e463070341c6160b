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

  // Found by the DMs black-box audit in session 41 (its messages: 10 of 10 rounds; edits and reactions
  // share the gap). In a direct message the check before the write read the membership and the mute
  // again, not the block: an edit or a reaction checked before the other side's block was written
  // after it, acked, and sent to the blocker live.
  it("should refuse a direct message's edit and reaction checked before the other side's block", async () => {
    const alice = cluster.person();
    const bob = cluster.person();
    const a = await cluster.socket(second, alice.token);
    const hello = await say(a, `@${bob.id}`, 'hello', 'dm-1');
    const dm = String(hello.room_id);
    const b = await cluster.socket(first, bob.token);
    await join(b, dm);
    const a2 = await cluster.socket(second, alice.token);
    const messageId = String(hello.message_id);
    const restore = slowReadsOf(messageId);
    try {
      a.send({
        type: 'edit',
        room_id: dm,
        message_id: messageId,
        content: 'after the block',
        client_id: 'e1',
      });
      // from another socket: one socket's frames are handled one at a time
      a2.send({ type: 'react', room_id: dm, message_id: messageId, content: '💩', client_id: 'r1' });
      await sleep(100);
      expect((await api(first, bob.token, 'POST', '/blocks', { user_id: alice.id })).status).toBe(200);
      const heard = b.frames.length;
      const answers = await Promise.all(
        [a, a2].map(async (client, index) => {
          const id = index === 0 ? 'e1' : 'r1';
          const answer = (await client.next((frame) => frame.client_id === id, 5_000)) as RoomFrame;
          return answer.error?.code ?? answer.type;
        }),
      );
      await sleep(500);
      const stored = (
        await api<{ items: RoomFrame[] }>(first, bob.token, 'GET', `/rooms/${dm}/messages`)
      ).body.items.find((item) => item.message_id === messageId);
      expect({
        answers,
        stored: [stored?.content, stored?.metadata?.reactions],
        heard: (b.frames.slice(heard) as RoomFrame[]).filter((frame) => frame.user_id === alice.id).length,
      }).toEqual({ answers: ['BLOCKED', 'BLOCKED'], stored: ['hello', undefined], heard: 0 });
    } finally {
      restore();
    }
  });
});
