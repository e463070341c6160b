import { startApp, type RunningApp } from '../helpers/app';
import { mongoUri } from '../helpers/env';
import { uniqueUser, userToken } from '../helpers/tokens';
import { TestClient } from '../helpers/ws-client';
import { api, chatsIn, createRoom, join, roomsSocket, say, waitUntil, type RoomFrame } from './rooms.helpers';

// Rooms on two instances sharing one store and one Redis (issue 14): real sockets, real HTTP.
describe('rooms across two instances (e2e)', () => {
  jest.setTimeout(60_000);
  let first: RunningApp;
  let second: RunningApp;
  const open: TestClient[] = [];

  beforeAll(async () => {
    const shared = {
      MONGODB_URI: mongoUri(),
      REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
      ROOM_RATE_LIMIT_MESSAGES_PER_SECOND: '1000',
      PRESENCE_TIMEOUT: '3s',
    };
    first = await startApp(shared);
    second = await startApp(shared);
  });
  afterAll(async () => {
    for (const client of open) client.socket.terminate();
    await first?.close();
    await second?.close();
  });

  const person = () => {
    const id = uniqueUser();
    return { id, token: userToken(id) };
  };
  const socket = async (app: RunningApp, token: string) => {
    const client = await roomsSocket(app, token);
    open.push(client);
    return client;
  };

  it('should deliver messages to members on both instances with their per-room seq, acked to the sender', async () => {
    const alice = person();
    const bob = person();
    const roomId = await createRoom(first, alice.token);
    const a = await socket(first, alice.token);
    const b = await socket(second, bob.token);
    await join(a, roomId);
    const joined = await join(b, roomId);
    expect(joined.seq).toBe(1);
    const ack = await say(a, roomId, 'hello bob', 'm1');
    expect(ack).toMatchObject({ type: 'ack', room_id: roomId, seq: 2, client_id: 'm1' });
    expect(ack.message_id).toEqual(expect.any(String));
    const received = (await b.next(
      (frame) => frame.type === 'chat' && frame.client_id === 'm1',
    )) as RoomFrame;
    expect(received).toMatchObject({
      room_id: roomId,
      seq: 2,
      user_id: alice.id,
      content: 'hello bob',
      message_id: ack.message_id,
      metadata: { kind: 'text' },
    });
    // the sender gets the ack, not an echo
    expect(chatsIn(a, roomId).some((frame) => frame.client_id === 'm1')).toBe(false);
  });

  it('should number concurrent messages from both instances 1..n with no gap or duplicate', async () => {
    const owner = person();
    const roomId = await createRoom(first, owner.token);
    const senders = await Promise.all(
      Array.from({ length: 6 }, async (_, index) => {
        const who = person();
        const client = await socket(index % 2 === 0 ? first : second, who.token);
        await join(client, roomId);
        return client;
      }),
    );
    const watcher = await socket(second, owner.token);
    const start = (await join(watcher, roomId)).seq as number;
    const perSender = 15;
    const acks = (
      await Promise.all(
        senders.map((client, index) =>
          Promise.all(
            Array.from({ length: perSender }, (_, k) =>
              say(client, roomId, `from ${index}: ${k}`, `s${index}-${k}`),
            ),
          ),
        ),
      )
    ).flat();
    expect(acks.every((ack) => ack.type === 'ack')).toBe(true);
    const total = senders.length * perSender;
    const seqs = acks.map((ack) => ack.seq as number).sort((x, y) => x - y);
    expect(seqs).toEqual(Array.from({ length: total }, (_, index) => start + 1 + index));
    // the watcher sees every one once, in seq order
    await waitUntil(
      () => chatsIn(watcher, roomId).filter((frame) => (frame.seq as number) > start).length >= total,
    );
    const seen = chatsIn(watcher, roomId)
      .map((frame) => frame.seq as number)
      .filter((seq) => seq > start);
    expect(seen).toEqual(Array.from({ length: total }, (_, index) => start + 1 + index));
    // and the store holds exactly those
    const history = await api<{ items: RoomFrame[] }>(
      first,
      owner.token,
      'GET',
      `/rooms/${roomId}/messages?limit=100`,
    );
    const stored = history.body.items.map((item) => item.seq as number);
    expect(stored).toEqual([...new Set(stored)].sort((x, y) => x - y));
    expect(stored[stored.length - 1]).toBe(start + total);
  });

  it('should store a resend with the same client_id once and give it the first ack', async () => {
    const alice = person();
    const roomId = await createRoom(first, alice.token);
    const a = await socket(first, alice.token);
    await join(a, roomId);
    const once = await say(a, roomId, 'only once', 'dup-1');
    const again = await socket(second, alice.token);
    await join(again, roomId);
    const twice = await say(again, roomId, 'only once', 'dup-1');
    expect(twice).toMatchObject({ message_id: once.message_id, seq: once.seq });
    const history = await api<{ items: RoomFrame[] }>(
      second,
      alice.token,
      'GET',
      `/rooms/${roomId}/messages`,
    );
    expect(history.body.items.filter((item) => item.client_id === 'dup-1')).toHaveLength(1);
  });
});
