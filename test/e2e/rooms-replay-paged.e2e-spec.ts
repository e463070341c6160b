import { getModelToken } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import type { ContentCipher } from '../../src/common/crypto/content-cipher';
import { ROOM_CIPHER, RoomMessagesRepository } from '../../src/modules/rooms/room-messages.repository';
import { RoomMessagesService } from '../../src/modules/rooms/room-messages.service';
import { REPLAY_PAGE } from '../../src/modules/rooms/room-message-reads';
import { REPLAY_HELD_MESSAGES } from '../../src/modules/rooms/room-replays';
import { Room } from '../../src/modules/rooms/schemas/room.schema';
import { RoomMessage } from '../../src/modules/rooms/schemas/room-message.schema';
import type { RunningApp } from '../helpers/app';
import type { TestClient } from '../helpers/ws-client';
import {
  api,
  chatsIn,
  createRoom,
  join,
  say,
  type RoomFrame,
  type TwoInstances,
  waitUntil,
  withTwoInstances,
} from './rooms.helpers';

// 4,000 CJK characters: 12 KB a message, so two thousand fill far more than a socket takes unread
const CONTENT = '字'.repeat(4_000);
const SEEDED = 2_000;

// Writes `count` messages of `senderId` after the room's newest straight to the store, as the server
// writes them (encrypted with its key), and moves the room's last_seq to the last; the seqs written.
async function seed(app: RunningApp, roomId: string, senderId: string, count: number): Promise<number[]> {
  const messages = app.app.get<Model<RoomMessage>>(getModelToken(RoomMessage.name));
  const newest = await messages.findOne({ room_id: roomId }).sort({ seq: -1 }).lean();
  const from = (newest?.seq ?? 0) + 1;
  const content = app.app.get<ContentCipher>(ROOM_CIPHER).encrypt(CONTENT);
  const at = new Date();
  const seqs = Array.from({ length: count }, (_, index) => from + index);
  await messages.collection.insertMany(
    seqs.map((seq) => ({
      _id: `${roomId}-seeded-${seq}`,
      room_id: roomId,
      seq,
      sender_id: senderId,
      kind: 'text',
      dedup_key: `${roomId}|#seeded-${seq}`,
      created_at: at,
      edited_at: null,
      deleted_at: null,
      deleted_by: null,
      content,
    })) as never[],
  );
  await app.app
    .get<Model<Room>>(getModelToken(Room.name))
    .updateOne({ _id: roomId }, { $max: { last_seq: seqs[seqs.length - 1], last_message_at: at } });
  return seqs;
}

// The replay's page reads on an instance (RoomMessagesService.replay): how many, and the most
// messages one returned.
function countReads(app: RunningApp): { count: number; largest: number } {
  const service = app.app.get(RoomMessagesService);
  const replay = service.replay.bind(service);
  const reads = { count: 0, largest: 0 };
  service.replay = async (...args) => {
    reads.count++;
    const page = await replay(...args);
    reads.largest = Math.max(reads.largest, page.length);
    return page;
  };
  return reads;
}

// until the count has not moved for `quietMs`: the replay waits for its socket
async function settled(reads: { count: number }, quietMs = 400): Promise<void> {
  for (;;) {
    const before = reads.count;
    await new Promise((resolve) => setTimeout(resolve, quietMs));
    if (reads.count === before) return;
  }
}

// A join's replay after last_seq is read and sent a page at a time, each page once the socket took
// the last, and live frames of the room wait meanwhile (docs/protocol.md, "Join replays"). The
// client must still get every message after last_seq once and in order, then the live ones, with no
// gap and none twice, whichever instance they were written on.
describe('rooms: a join replayed in pages while the room goes on (e2e)', () => {
  jest.setTimeout(60_000);
  let cluster: TwoInstances;
  withTwoInstances((started) => (cluster = started));

  async function setting(): Promise<{
    roomId: string;
    writer: TestClient;
    writerId: string;
    readerToken: string;
    seeded: number[];
  }> {
    const { first, second } = cluster;
    const writer = cluster.person();
    const reader = cluster.person();
    const roomId = await createRoom(first, writer.token);
    // the reader is a member before the room's messages (its join adds none)
    expect((await api(second, reader.token, 'POST', `/rooms/${roomId}/join`)).status).toBe(200);
    const seeded = await seed(first, roomId, writer.id, SEEDED);
    const writerSocket = await cluster.socket(first, writer.token);
    await join(writerSocket, roomId);
    return { roomId, writer: writerSocket, writerId: writer.id, readerToken: reader.token, seeded };
  }

  it('should give a slow reader every replayed and live message once, in order, the live ones written on another instance', async () => {
    const { second } = cluster;
    const { roomId, writer, readerToken, seeded } = await setting();
    const head = seeded[seeded.length - 1];
    const reads = countReads(second);
    const reader = await cluster.socket(second, readerToken);
    // the reader takes nothing: the replay must wait for it after a few pages
    reader.socket.pause();
    reader.send({ type: 'join', room_id: roomId, last_seq: 0, client_id: 'slow-join' });
    await waitUntil(() => reads.count > 0);
    await settled(reads);
    const readWhilePaused = reads.count;
    // far fewer pages than the room holds were read
    expect(readWhilePaused).toBeLessThan(SEEDED / REPLAY_PAGE);

    // the room goes on meanwhile, on the other instance: more messages than a replaying socket keeps
    // (the rest are read from the store), and edits of a message already sent and of one not yet
    // (sent at once, acked in order: the reader's replay waits at most 10 s for it to read)
    const count = REPLAY_HELD_MESSAGES + 50;
    for (let index = 0; index < count; index++)
      writer.send({ type: 'chat', room_id: roomId, content: `live ${index}`, client_id: `live-${index}` });
    const acks: RoomFrame[] = [];
    for (let index = 0; index < count; index++)
      acks.push((await writer.next((frame) => frame.client_id === `live-${index}`)) as RoomFrame);
    expect(acks.map((ack) => ack.type)).toEqual(Array.from({ length: count }, () => 'ack'));
    const live = acks.map((ack) => ack.seq as number);
    expect(live[0]).toBe(head + 1);
    const edited = [
      `${roomId}-seeded-${seeded[4]}`,
      `${roomId}-seeded-${seeded[SEEDED - 5]}`,
      acks[10].message_id as string,
    ];
    for (const messageId of edited)
      writer.send({
        type: 'edit',
        room_id: roomId,
        message_id: messageId,
        content: 'edited',
        client_id: `edit-${messageId}`,
      });
    for (const messageId of edited)
      expect(await writer.next((frame) => frame.client_id === `edit-${messageId}`)).toMatchObject({
        type: 'ack',
      });

    reader.socket.resume();
    const joined = (await reader.next(
      (frame) => frame.type === 'join' && frame.client_id === 'slow-join',
      30_000,
    )) as RoomFrame;
    const last = live[live.length - 1];
    await waitUntil(() => chatsIn(reader, roomId).some((frame) => frame.seq === last), 20_000);
    // every message once, in seq order: the replay and then what came live, with no gap
    const seqs = chatsIn(reader, roomId).map((frame) => frame.seq);
    expect(seqs).toEqual(Array.from({ length: last }, (_, index) => index + 1));
    // the join stands where the replay ended; everything after it came after it
    const joinAt = reader.frames.indexOf(joined);
    const replayed = reader.frames
      .slice(0, joinAt)
      .filter((frame) => frame.type === 'chat' && (frame as RoomFrame).room_id === roomId);
    expect(joined.seq).toBe(replayed[replayed.length - 1].seq);
    expect(joined.metadata?.replayed).toBe(replayed.length);
    expect(replayed.length).toBeGreaterThanOrEqual(SEEDED);
    expect(reads.count).toBeGreaterThan(readWhilePaused);
    // a page at a time (before, the whole room after last_seq in one read)
    expect(reads.largest).toBe(REPLAY_PAGE);
    // each edit after its message (the client drops a change of a message it does not hold)
    const frames = reader.frames as RoomFrame[];
    await waitUntil(() =>
      edited.every((id) => frames.some((frame) => frame.type === 'edit' && frame.message_id === id)),
    );
    for (const id of edited) {
      const message = frames.findIndex((frame) => frame.type === 'chat' && frame.message_id === id);
      const edit = frames.findIndex((frame) => frame.type === 'edit' && frame.message_id === id);
      expect(message).toBeGreaterThanOrEqual(0);
      expect(edit).toBeGreaterThan(message);
    }
  });

  it('should stop reading a replay once its socket closed', async () => {
    const { second } = cluster;
    const { roomId, readerToken } = await setting();
    const reads = countReads(second);
    const reader = await cluster.socket(second, readerToken);
    reader.socket.pause();
    reader.send({ type: 'join', room_id: roomId, last_seq: 0 });
    await waitUntil(() => reads.count > 0);
    await settled(reads);
    const before = reads.count;
    reader.socket.terminate();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(reads.count).toBe(before);
    expect(before).toBeLessThan(SEEDED / REPLAY_PAGE);
    expect(reads.largest).toBe(REPLAY_PAGE);
  });

  it('should stand a join of a room retention emptied at its last_seq, and send the next message without a gap read', async () => {
    const { first, second } = cluster;
    const writer = cluster.person();
    const member = cluster.person();
    const newcomer = cluster.person();
    const roomId = await createRoom(first, writer.token);
    expect((await api(second, member.token, 'POST', `/rooms/${roomId}/join`)).status).toBe(200);
    const seeded = await seed(first, roomId, writer.id, 5);
    const head = seeded[seeded.length - 1];
    // retention removed every message (the room's last_seq stays)
    await first.app.get<Model<RoomMessage>>(getModelToken(RoomMessage.name)).deleteMany({ room_id: roomId });
    const repository = second.app.get(RoomMessagesRepository);
    const after = repository.after.bind(repository);
    // the store's reads after a seq below the head: a socket standing below it reading the gap
    const gapReads: number[] = [];
    repository.after = (room, seq, limit) => {
      if (room === roomId && seq < head) gapReads.push(seq);
      return after(room, seq, limit);
    };

    const resumed = await cluster.socket(second, member.token);
    const resumedJoin = await join(resumed, roomId, head);
    expect(resumedJoin.seq).toBe(head);
    // a first join of a member (the newcomer's join writes its own message, head + 1)
    const fresh = await cluster.socket(second, newcomer.token);
    const freshJoin = await join(fresh, roomId);
    expect(freshJoin.seq).toBe(head + 1);
    await waitUntil(() => chatsIn(resumed, roomId).some((frame) => frame.seq === head + 1));

    const writerSocket = await cluster.socket(first, writer.token);
    await join(writerSocket, roomId);
    const ack = await say(writerSocket, roomId, 'after the sweep', 'after-sweep');
    for (const client of [resumed, fresh])
      await waitUntil(() => chatsIn(client, roomId).some((frame) => frame.message_id === ack.message_id));
    // they came straight: no socket stood below them, so none read the store for a gap (after 250 ms)
    expect(gapReads).toEqual([]);
    expect(chatsIn(resumed, roomId).map((frame) => frame.seq)).toEqual([head + 1, head + 2]);
  });
});
