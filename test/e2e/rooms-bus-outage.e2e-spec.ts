import { startApp, type RunningApp } from '../helpers/app';
import { mongoUri } from '../helpers/env';
import { RedisServer } from '../helpers/redis-server';
import { uniqueUser, userToken } from '../helpers/tokens';
import { chatsIn, createRoom, join, roomsSocket, say, waitUntil } from './rooms.helpers';

// Redis (the bus between instances) dies while people write in a room on the other instance: once it
// is back, every subscriber catches up from the store, once and in seq order.
describe('rooms across a Redis outage (e2e)', () => {
  jest.setTimeout(60_000);
  let redis: RedisServer;
  let first: RunningApp;
  let second: RunningApp;

  beforeAll(async () => {
    redis = await RedisServer.start();
    const shared = { MONGODB_URI: mongoUri(), REDIS_URL: redis.url };
    first = await startApp(shared);
    second = await startApp(shared);
  });
  afterAll(async () => {
    await first?.close();
    await second?.close();
    await redis?.kill();
  });

  it('should deliver what was written while the bus was away, once and in order, when it is back', async () => {
    const alice = userToken(uniqueUser());
    const bob = userToken(uniqueUser());
    const roomId = await createRoom(first, alice);
    const a = await roomsSocket(first, alice);
    const b = await roomsSocket(second, bob);
    await join(a, roomId);
    const start = (await join(b, roomId)).seq as number;
    await say(a, roomId, 'before', 'before');
    await b.next((frame) => frame.type === 'chat' && frame.client_id === 'before');
    await redis.kill();
    // stored and acked on the first instance; nothing reaches the second meanwhile
    for (let index = 0; index < 5; index++)
      expect((await say(a, roomId, `during ${index}`, `d${index}`)).type).toBe('ack');
    await redis.restart();
    await waitUntil(
      () => chatsIn(b, roomId).filter((frame) => (frame.seq as number) > start).length >= 6,
      20_000,
    );
    const seqs = chatsIn(b, roomId)
      .map((frame) => frame.seq as number)
      .filter((seq) => seq > start);
    expect(seqs).toEqual([start + 1, start + 2, start + 3, start + 4, start + 5, start + 6]);
    a.socket.terminate();
    b.socket.terminate();
  });
});
