import { ParticipantsRepository } from '../../src/modules/rooms/participants.repository';
import { authHeaders, startApp, type RunningApp } from '../helpers/app';
import { mongoUri } from '../helpers/env';
import { uniqueUser, userToken } from '../helpers/tokens';
import { TestClient, type Frame } from '../helpers/ws-client';

// Rooms over real HTTP and real sockets (/ws/chat), as a client does.
export interface RoomFrame extends Frame {
  room_id?: string;
  message_id?: string;
  user_id?: string;
  last_seq?: number;
}

export async function roomsSocket(app: RunningApp, token: string): Promise<TestClient> {
  const client = await TestClient.connect(`${app.httpUrl.replace('http', 'ws')}/ws/chat?token=${token}`);
  await client.nextOfType('connection_status');
  return client;
}

export async function api<T = unknown>(
  app: RunningApp,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T; headers: Headers }> {
  const response = await fetch(`${app.httpUrl}/api/v1/chat${path}`, {
    method,
    headers: { ...authHeaders(token), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  return {
    status: response.status,
    body: (text ? JSON.parse(text) : undefined) as T,
    headers: response.headers,
  };
}

export async function createRoom(
  app: RunningApp,
  token: string,
  kind: 'public' | 'private' = 'public',
  invite: string[] = [],
): Promise<string> {
  const created = await api<{ id: string }>(app, token, 'POST', '/rooms', {
    name: `room ${kind}`,
    kind,
    invite,
  });
  if (created.status !== 201)
    throw new Error(`create room: HTTP ${created.status} ${JSON.stringify(created.body)}`);
  return created.body.id;
}

export async function join(client: TestClient, roomId: string, lastSeq?: number): Promise<RoomFrame> {
  const clientId = `join-${Math.random().toString(36).slice(2)}`;
  client.send({
    type: 'join',
    room_id: roomId,
    client_id: clientId,
    ...(lastSeq !== undefined ? { last_seq: lastSeq } : {}),
  });
  const frame = (await client.next(
    (candidate) =>
      candidate.client_id === clientId && (candidate.type === 'join' || candidate.type === 'error'),
  )) as RoomFrame;
  if (frame.type === 'error') throw new Error(`join refused: ${JSON.stringify(frame.error)}`);
  return frame;
}

export async function say(
  client: TestClient,
  roomId: string,
  content: string,
  clientId: string,
): Promise<RoomFrame> {
  client.send({ type: 'chat', room_id: roomId, content, client_id: clientId });
  return (await client.next(
    (frame) => frame.client_id === clientId && (frame.type === 'ack' || frame.type === 'error'),
  )) as RoomFrame;
}

// chat frames of one room a client received, in arrival order
export function chatsIn(client: TestClient, roomId: string): RoomFrame[] {
  return (client.frames as RoomFrame[]).filter((frame) => frame.type === 'chat' && frame.room_id === roomId);
}

export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

// Two instances sharing one store (a database of their own) and one Redis, and the people and
// sockets a test makes on them (closed with the instances).
export class TwoInstances {
  private readonly open: TestClient[] = [];

  private constructor(
    readonly first: RunningApp,
    readonly second: RunningApp,
  ) {}

  static async start(env: Record<string, string> = {}): Promise<TwoInstances> {
    const shared = {
      MONGODB_URI: mongoUri(),
      REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
      ROOM_RATE_LIMIT_MESSAGES_PER_SECOND: '1000',
      ...env,
    };
    return new TwoInstances(await startApp(shared), await startApp(shared));
  }

  person(): { id: string; token: string } {
    const id = uniqueUser();
    return { id, token: userToken(id) };
  }

  async socket(app: RunningApp, token: string): Promise<TestClient> {
    return this.track(await roomsSocket(app, token));
  }

  // a socket opened another way, closed with the instances too
  track(client: TestClient): TestClient {
    this.open.push(client);
    return client;
  }

  async close(): Promise<void> {
    for (const client of this.open) client.socket.terminate();
    await this.first.close();
    await this.second.close();
  }
}

// Two instances for the enclosing describe: started before its tests (`use` receives them), closed
// after them.
export function withTwoInstances(use: (cluster: TwoInstances) => void, env?: Record<string, string>): void {
  let cluster: TwoInstances | undefined;
  beforeAll(async () => {
    cluster = await TwoInstances.start(env);
    use(cluster);
  });
  afterAll(async () => {
    await cluster?.close();
  });
}

type AsyncMethod = (...args: never[]) => Promise<unknown>;

// The next call of `target[method]` that `matches` is held until `release()`: made first and its
// answer held (`after`: what it read is stale by its return, a check that a write in between makes
// old), or held before it is made (`before`). `held` resolves once it is; every other call, and every
// later one, goes through.
export function holdNextCall<T extends Record<K, AsyncMethod>, K extends keyof T & string>(
  target: T,
  method: K,
  matches: (...args: Parameters<T[K]>) => boolean,
  when: 'before' | 'after' = 'after',
): { held: Promise<void>; release: () => void } {
  const original = target[method].bind(target) as unknown as (...args: Parameters<T[K]>) => Promise<unknown>;
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let held: () => void = () => undefined;
  const heldPromise = new Promise<void>((resolve) => (held = resolve));
  target[method] = (async (...args: Parameters<T[K]>) => {
    if (!matches(...args)) return original(...args);
    target[method] = original as unknown as T[K];
    const read: unknown = when === 'after' ? await original(...args) : undefined;
    held();
    await gate;
    return when === 'after' ? read : original(...args);
  }) as unknown as T[K];
  return { held: heldPromise, release };
}

// `app`'s next read of `userId`'s membership of the room, made, then held until `release()`.
export function holdNextRead(
  app: RunningApp,
  roomId: string,
  userId: string,
): { held: Promise<void>; release: () => void } {
  return holdNextCall(
    app.app.get(ParticipantsRepository),
    'find',
    (room, user) => room === roomId && user === userId,
  );
}
