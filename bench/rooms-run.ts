// `npm run bench:rooms`: people chatting in rooms on two instances sharing one store and one Redis
// (issue 14). Distinct users, each in a few rooms, each sending at its own pace on the instance it
// is connected to; every message is received by every other member on both instances. Prints the ack
// latency (stored → acked), the delivery latency (sent → seen by another member on the other
// instance), throughput, and checks every room's seqs are 1..n once. Needs TEST_MONGODB_URL (FerretDB
// or MongoDB) and TEST_REDIS_URL, as printed by scripts/services/{ferretdb,redis}.sh.
import { RoomMessagesRepository } from '../src/modules/rooms/room-messages.repository';
import { startApp, type RunningApp } from '../test/helpers/app';
import { mongoUri } from '../test/helpers/env';
import { userToken } from '../test/helpers/tokens';
import { TestClient, type Frame } from '../test/helpers/ws-client';
import { format, summarize } from './stats';

function whole(name: string, fallback: number): number {
  const raw = process.env[name];
  return raw && /^\d+$/.test(raw) ? Number(raw) : fallback;
}

const USERS = whole('BENCH_ROOMS_USERS', 40);
const ROOMS = whole('BENCH_ROOMS_ROOMS', 8);
const ROOMS_PER_USER = whole('BENCH_ROOMS_PER_USER', 2);
const SECONDS = whole('BENCH_ROOMS_SECONDS', 15);
// each user's pace: one message every 500..1500 ms
const MEAN_GAP_MS = whole('BENCH_ROOMS_GAP_MS', 1000);

type RoomFrame = Frame & { room_id?: string; message_id?: string; user_id?: string };

async function main(): Promise<void> {
  const shared = {
    MONGODB_URI: mongoUri(`bench_rooms_${Date.now()}`),
    REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
    LOG_LEVEL: 'error',
    ROOM_RATE_LIMIT_MESSAGES_PER_SECOND: '100',
  };
  const apps: RunningApp[] = [await startApp(shared), await startApp(shared)];
  const api = async (app: RunningApp, token: string, path: string, body: unknown) => {
    const response = await fetch(`${app.httpUrl}/api/v1/chat${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return (await response.json()) as { id: string };
  };
  const users = Array.from({ length: USERS }, (_, index) => ({
    id: `bench-user-${index}`,
    token: userToken(`bench-user-${index}`),
    app: apps[index % 2],
  }));
  const roomIds: string[] = [];
  for (let index = 0; index < ROOMS; index++)
    roomIds.push(
      (await api(apps[0], users[0].token, '/rooms', { name: `bench ${index}`, kind: 'public' })).id,
    );
  const sentAt = new Map<string, { at: number; instance: number }>();
  const delivery: number[] = [];
  const acks: number[] = [];
  const clients = await Promise.all(
    users.map(async (user, index) => {
      const client = await TestClient.connect(
        `${user.app.httpUrl.replace('http', 'ws')}/ws/chat?token=${user.token}`,
      );
      await client.nextOfType('connection_status');
      const instance = index % 2;
      client.socket.on('message', (data) => {
        const frame = JSON.parse(data.toString()) as RoomFrame;
        const sent = frame.type === 'chat' && frame.client_id ? sentAt.get(frame.client_id) : undefined;
        // sent on the other instance: the bus was crossed
        if (sent && sent.instance !== instance) delivery.push(performance.now() - sent.at);
      });
      const rooms = Array.from({ length: ROOMS_PER_USER }, (_, k) => roomIds[(index + k * 3) % ROOMS]);
      for (const roomId of new Set(rooms)) {
        client.send({ type: 'join', room_id: roomId, client_id: `join-${roomId}` });
        await client.next((frame) => frame.client_id === `join-${roomId}`, 10_000);
      }
      return { client, rooms: [...new Set(rooms)], instance, user };
    }),
  );
  console.log(
    `[rooms] ${USERS} users on 2 instances, ${ROOMS} rooms, ${ROOMS_PER_USER} rooms each, ${SECONDS}s`,
  );
  const started = performance.now();
  const end = Date.now() + SECONDS * 1000;
  let sent = 0;
  let refused = 0;
  await Promise.all(
    clients.map(async ({ client, rooms, instance, user }) => {
      for (let k = 0; Date.now() < end; k++) {
        await new Promise((resolve) => setTimeout(resolve, MEAN_GAP_MS * (0.5 + Math.random())));
        const clientId = `${user.id}-${k}`;
        const roomId = rooms[k % rooms.length];
        const at = performance.now();
        sentAt.set(clientId, { at, instance });
        client.send({
          type: 'chat',
          room_id: roomId,
          client_id: clientId,
          content: `message ${k} from ${user.id}`,
        });
        const answer = await client.next(
          (frame) => frame.client_id === clientId && frame.type !== 'chat',
          30_000,
        );
        if (answer.type === 'ack') acks.push(performance.now() - at);
        else refused++;
        sent++;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  await new Promise((resolve) => setTimeout(resolve, 1000));
  // every room: seqs 1..n, once each, in the store
  let gaps = 0;
  for (const roomId of roomIds) {
    const response = await fetch(`${apps[1].httpUrl}/api/v1/chat/rooms/${roomId}/messages?limit=100`, {
      headers: { authorization: `Bearer ${users[0].token}` },
    });
    const page = (await response.json()) as { items: Array<{ seq: number }> };
    const seqs = page.items.map((item) => item.seq);
    for (let index = 1; index < seqs.length; index++) if (seqs[index] !== seqs[index - 1] + 1) gaps++;
  }
  const ack = summarize(acks);
  const cross = summarize(delivery);
  console.log(
    `[rooms] messages sent ${sent} (${format(sent / elapsed)}/s), refused ${refused}, seq gaps ${gaps}`,
  );
  console.log(`[rooms] ack latency ms: p50 ${format(ack.p50)} p99 ${format(ack.p99)} max ${format(ack.max)}`);
  console.log(
    `[rooms] cross-instance delivery ms (${cross.count} deliveries): p50 ${format(cross.p50)} p99 ${format(cross.p99)} max ${format(cross.max)}`,
  );
  const conflicts = apps.map((app) => app.app.get(RoomMessagesRepository).conflicts);
  console.log(`[rooms] seq conflicts (insert retried) per instance: ${conflicts.join(', ')}`);
  for (const { client } of clients) client.socket.terminate();
  for (const app of apps) await app.close();
  process.exit(gaps === 0 && refused === 0 ? 0 : 1);
}

void main();
