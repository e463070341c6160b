import { type RunningApp } from '../helpers/app';
import type { TestClient } from '../helpers/ws-client';
import { createRoom, join, say, type RoomFrame, TwoInstances, waitUntil } from './rooms.helpers';

// Found by a rooms audit in session 39 (16–17 of 20 rounds, 4 of 4 runs). A reaction racing a delete of the same message on the other instance. Once the delete is
// acked, no reader may get a live `react` frame for that message after its `delete` frame, and the
// reaction must not be acked as applied to a message that was already deleted.
describe('rooms: a reaction racing a delete of its message (e2e)', () => {
  jest.setTimeout(180_000);
  let cluster: TwoInstances;
  let first: RunningApp;
  let second: RunningApp;

  beforeAll(async () => {
    cluster = await TwoInstances.start();
    ({ first, second } = cluster);
  });
  afterAll(() => cluster?.close());

  const answer = (client: TestClient, clientId: string) =>
    client.next(
      (frame) => frame.client_id === clientId && (frame.type === 'ack' || frame.type === 'error'),
      10_000,
    ) as Promise<RoomFrame>;

  it('should send no react frame for a message after its delete frame', async () => {
    const alice = cluster.person();
    const bob = cluster.person();
    const carol = cluster.person();
    const roomId = await createRoom(first, alice.token);
    const a = await cluster.socket(first, alice.token);
    const b = await cluster.socket(second, bob.token);
    const readers = [await cluster.socket(first, carol.token), await cluster.socket(second, carol.token)];
    await join(a, roomId);
    await join(b, roomId);
    for (const reader of readers) await join(reader, roomId);

    const rounds = 20;
    const late: string[] = [];
    let reactAckedAfterDelete = 0;
    for (let round = 0; round < rounds; round++) {
      const sent = await say(a, roomId, `message ${round}`, `m-${round}`);
      const messageId = sent.message_id as string;
      await waitUntil(() =>
        readers.every((reader) =>
          (reader.frames as RoomFrame[]).some((f) => f.type === 'chat' && f.message_id === messageId),
        ),
      );
      // the delete on the first instance, the reaction on the second, at the same moment (the
      // reaction's frame a hair later, so it usually finds the message still live when it reads it)
      a.send({ type: 'delete', room_id: roomId, message_id: messageId, client_id: `d-${round}` });
      await new Promise((resolve) => setTimeout(resolve, round % 4));
      b.send({
        type: 'react',
        room_id: roomId,
        message_id: messageId,
        content: '👍',
        client_id: `r-${round}`,
      });
      const [deleted, reacted] = await Promise.all([answer(a, `d-${round}`), answer(b, `r-${round}`)]);
      expect(deleted.type).toBe('ack');
      await new Promise((resolve) => setTimeout(resolve, 150));
      for (const [index, reader] of readers.entries()) {
        const frames = (reader.frames as RoomFrame[]).filter((f) => f.message_id === messageId);
        const del = frames.findIndex((f) => f.type === 'delete');
        const afterDelete = frames.slice(del + 1).filter((f) => f.type === 'react' || f.type === 'edit');
        if (del >= 0 && afterDelete.length > 0)
          late.push(
            `round ${round} reader ${index}: delete (change ${String(frames[del].metadata?.change)}) then ` +
              afterDelete.map((f) => `${f.type} (change ${String(f.metadata?.change)})`).join(', '),
          );
      }
      // bob's own socket saw the delete before its reaction was acked?
      const bFrames = b.frames as RoomFrame[];
      const delAt = bFrames.findIndex((f) => f.type === 'delete' && f.message_id === messageId);
      const reactAckAt = bFrames.indexOf(reacted);
      if (reacted.type === 'ack' && delAt >= 0 && delAt < reactAckAt) reactAckedAfterDelete++;
    }
    expect({ late, reactAckedAfterDelete }).toEqual({ late: [], reactAckedAfterDelete: 0 });
  });
});
