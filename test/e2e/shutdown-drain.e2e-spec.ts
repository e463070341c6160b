import { getJson, type SessionBody } from '../helpers/app';
import { testEnv } from '../helpers/env';
import { startAppProcess, stopInstances, type AppProcess } from '../helpers/process';
import { RedisServer } from '../helpers/redis-server';
import { uniqueUser, userToken } from '../helpers/tokens';
import { sessionSocket, TestClient, type Frame } from '../helpers/ws-client';

// A graceful stop (SIGTERM) drains (docs/protocol.md, "Graceful shutdown"): the replies streaming at
// SIGTERM, chat and room @ai alike, run to their end within SHUTDOWN_GRACE; a reply queued behind
// one of them is not started on the stopping instance, and its turn is left (its reply lease let go
// at once) to the instance the user comes back to, which answers it. A deploy audit found each
// session's second turn, queued behind the reply in flight, started during the drain and cut a few
// hundred ms later (stored `interrupted`: 3 of 8 turns), the one not cut waiting ~10 s for the
// stopped instance's lease to lapse, and a room @ai reply cut at once.

// ~30 words at 50 ms: a reply streams ~1.5 s
const MODELS = JSON.stringify([{ id: 'demo', name: 'Demo', type: 'demo', delay_ms: 50 }]);
// the demo reply's last words: a reply that got them is whole
const WHOLE = 'talk to a real model.';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const acked = (client: TestClient, clientId: string) =>
  client.next((frame) => frame.type === 'ack' && frame.client_id === clientId, 10_000);
const piece = (clientId?: string) => (frame: Frame) =>
  frame.type === 'ai_response' &&
  frame.metadata?.done === false &&
  (clientId === undefined || frame.client_id === clientId);

interface Device {
  token: string;
  sessionId: string;
  client: TestClient;
  // the socket it resumed on once the stopping instance closed it
  resumed?: TestClient;
}

async function rest<T>(port: number, token: string, method: string, path: string, body?: unknown) {
  const response = await fetch(`http://127.0.0.1:${port}/api/v1/chat${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  return (await response.json()) as T;
}

// A room whose owner's socket on `port` has joined it, and the owner's token
async function roomOn(port: number): Promise<{ roomId: string; token: string; owner: TestClient }> {
  const token = userToken(uniqueUser());
  const { id: roomId } = await rest<{ id: string }>(port, token, 'POST', '/rooms', {
    name: 'drain',
    kind: 'public',
  });
  const owner = await roomSocket(port, token, roomId);
  return { roomId, token, owner };
}

async function roomSocket(port: number, token: string, roomId: string): Promise<TestClient> {
  const client = await TestClient.connect(`ws://127.0.0.1:${port}/ws/chat?token=${token}`);
  await client.nextOfType('connection_status');
  client.send({ type: 'join', room_id: roomId, client_id: 'join' });
  await client.next((frame) => frame.type === 'join' && frame.client_id === 'join');
  return client;
}

// Sessions on `port`, each with m1 sent and m2 sent on m1's ack (queued behind m1's reply), 600 ms
// apart: the first ones' m1 replies end while the last one's still streams
async function pipelined(port: number, count: number): Promise<Device[]> {
  const devices: Device[] = [];
  for (let index = 0; index < count; index++) {
    if (index > 0) await sleep(600);
    const token = userToken(uniqueUser());
    const { client, sessionId } = await sessionSocket(port, token);
    client.send({ type: 'user_message', client_id: 'm1', content: 'first question' });
    await acked(client, 'm1');
    client.send({ type: 'user_message', client_id: 'm2', content: 'second question' });
    await acked(client, 'm2');
    devices.push({ token, sessionId, client });
  }
  return devices;
}

const lastSeq = (client: TestClient) =>
  Math.max(0, ...client.frames.map((frame) => (typeof frame.seq === 'number' ? frame.seq : 0)));

async function resume(port: number, device: Device): Promise<void> {
  const query = `&session_id=${device.sessionId}&last_seq=${lastSeq(device.client)}`;
  device.resumed = (await sessionSocket(port, device.token, query)).client;
}

// Each session's log once both turns have a reply (or the deadline passed)
async function answered(port: number, devices: Device[]): Promise<SessionBody[]> {
  const read = (device: Device) =>
    getJson<SessionBody>(`http://127.0.0.1:${port}/chat/sessions/${device.sessionId}`, device.token);
  const deadline = Date.now() + 20_000;
  for (;;) {
    const sessions = await Promise.all(devices.map(read));
    const done = sessions.every(
      (session) => session.messages.filter((message) => message.type === 'ai_response').length >= 2,
    );
    if (done || Date.now() > deadline) {
      // a second reply to a turn would be streaming by now
      await sleep(1_500);
      return Promise.all(devices.map(read));
    }
    await sleep(300);
  }
}

// Each turn answered once, whole, in order; no device told of an error
function expectEachTurnAnsweredOnce(sessions: SessionBody[], devices: Device[]): void {
  for (const session of sessions)
    expect(
      session.messages.map(
        (message) =>
          `${message.type}/${String(message.client_id)}` +
          (message.metadata?.interrupted ? ' INTERRUPTED' : '') +
          (message.type === 'ai_response' && !String(message.content).endsWith(WHOLE) ? ' PART' : ''),
      ),
    ).toEqual(['user_message/m1', 'user_message/m2', 'ai_response/m1', 'ai_response/m2']);
  const errors = devices.flatMap((device) =>
    [...device.client.frames, ...(device.resumed?.frames ?? [])].filter((frame) => frame.type === 'error'),
  );
  expect(errors).toEqual([]);
}

// the room's AI messages as stored
async function aiOutcomes(port: number, token: string, roomId: string): Promise<string[]> {
  const page = await rest<{ items: Array<{ content?: string; metadata?: { ai?: { outcome: string } } }> }>(
    port,
    token,
    'GET',
    `/rooms/${roomId}/messages?limit=50`,
  );
  return page.items
    .filter((item) => item.metadata?.ai)
    .map((item) => `${item.metadata!.ai!.outcome}${item.content?.endsWith(WHOLE) ? '' : ' PART'}`);
}

// the stop's log: nothing read or written after the store client closed, no reply failed
function expectCleanStop(app: AppProcess): void {
  expect(app.output()).not.toMatch(/reply_failed|reply_store_failed|room_ai_failed|ClientClosed/);
}

describe('a graceful stop drains the replies in flight (e2e)', () => {
  jest.setTimeout(60_000);

  it('should finish the replies streaming at SIGTERM and leave the queued turns to the restarted instance (one instance)', async () => {
    const env = testEnv({ LLM_PROVIDERS: MODELS, SHUTDOWN_GRACE: '10s' });
    let app = await startAppProcess(env);
    try {
      const room = await roomOn(app.port);
      const devices = await pipelined(app.port, 2);
      room.owner.send({ type: 'chat', room_id: room.roomId, client_id: 'ask', content: '@ai say something' });
      await room.owner.next((frame) => frame.type === 'ai_stream' && frame.metadata?.phase === 'delta');
      await devices[1].client.next(piece('m1'), 10_000);
      app.child.kill('SIGTERM');
      expect(await app.exited).toBe(0);
      expectCleanStop(app);
      app = await startAppProcess(env, app.port);
      for (const device of devices) await resume(app.port, device);
      expectEachTurnAnsweredOnce(await answered(app.port, devices), devices);
      // the room's reply ran to its end during the drain, and was stored whole
      expect(await aiOutcomes(app.port, room.token, room.roomId)).toEqual(['complete']);
    } finally {
      await stopInstances([app]);
    }
  });

  it('should finish the replies streaming at SIGTERM and let the other instance answer the queued turns at once (two instances)', async () => {
    const redis = await RedisServer.start();
    const env = testEnv({ LLM_PROVIDERS: MODELS, SHUTDOWN_GRACE: '10s', REDIS_URL: redis.url });
    const [stopping, staying] = await Promise.all([startAppProcess(env), startAppProcess(env)]);
    try {
      const room = await roomOn(stopping.port);
      const member = userToken(uniqueUser());
      await rest(staying.port, member, 'POST', `/rooms/${room.roomId}/join`);
      const watcher = await roomSocket(staying.port, member, room.roomId);
      const devices = await pipelined(stopping.port, 2);
      room.owner.send({ type: 'chat', room_id: room.roomId, client_id: 'ask', content: '@ai say something' });
      await watcher.next((frame) => frame.type === 'ai_stream' && frame.metadata?.phase === 'delta');
      await devices[1].client.next(piece('m1'), 10_000);
      const exited = stopping.exited.then((code) => ({ code, at: performance.now() }));
      stopping.child.kill('SIGTERM');
      // each device comes back on the other instance as soon as it is told to go
      await Promise.all(
        devices.map(async (device) => {
          await device.client.closed;
          await resume(staying.port, device);
        }),
      );
      const exit = await exited;
      expect(exit.code).toBe(0);
      expectCleanStop(stopping);
      // the room's reply ran to its end: every member elsewhere saw it end whole
      const end = await watcher.next(
        (frame) => frame.type === 'ai_stream' && frame.metadata?.phase === 'end',
        15_000,
      );
      expect(end.metadata?.outcome).toBe('complete');
      expectEachTurnAnsweredOnce(await answered(staying.port, devices), devices);
      expect(await aiOutcomes(staying.port, room.token, room.roomId)).toEqual(['complete']);
      // m2's reply began on the other instance within a turn watch's round of the stop, not once the
      // stopped instance's lease lapsed (10 s)
      const began = devices.map((device) => {
        const first = device.resumed!.frames.find(piece('m2'));
        return first ? Math.round(device.resumed!.receivedAt(first) - exit.at) : Infinity;
      });
      console.log(`queued turns: m2's reply began ${began.join(', ')} ms after the stopped instance exited`);
      for (const ms of began) expect(ms).toBeLessThan(6_000);
      watcher.socket.terminate();
    } finally {
      await stopInstances([stopping, staying], redis);
    }
  });
});
