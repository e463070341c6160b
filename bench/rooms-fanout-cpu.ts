// The fan-out's CPU per delivery, chatbox's RoomHub against a bare `ws` loop, measured apart from
// the rest of the rooms bench (store, Redis, auth): on a machine shared with other work the
// deliveries/s of `bench:rooms` move with the load, the server's own CPU per delivery much less.
//
//   npx tsc -p bench/tsconfig.rooms.json && node .data/bench-rooms/build/bench/rooms-fanout-cpu.js
//
// A child process holds one room of FANOUT_CPU_MEMBERS (1,000) sockets and fans out
// FANOUT_CPU_MESSAGES (2,000) room messages (chatbox's frame shape, ~300 bytes) in bursts of B
// messages written in one turn of the event loop (B = 1: each message alone, as when the server keeps
// up; B = 4: as when inserts complete together while a fan-out runs), the next burst once every
// delivery of the last one has arrived at this process's sockets. The child's CPU (user + system,
// process.cpuUsage) over the messages divided by the deliveries, per variant, runs interleaved:
//   bare      — JSON.stringify once, socket.send(string) to each socket (bench/rooms-bare-server.ts)
//   hub       — RoomHub.toRoom as shipped (writeData corks every socket for the turn)
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { InProcessBus, InProcessNetwork } from '../src/infra/bus/in-process.bus';
import type { Connection } from '../src/modules/realtime/connection';
import type { ParticipantsRepository } from '../src/modules/rooms/participants.repository';
import { RoomHub } from '../src/modules/rooms/room-hub';
import type { RoomMessagesRepository } from '../src/modules/rooms/room-messages.repository';
import type { RoomServerFrame } from '../src/protocol/rooms';
import { sampleRoomFrame } from './room-sample';

const MEMBERS = Number(process.env.FANOUT_CPU_MEMBERS ?? '1000');
const MESSAGES = Number(process.env.FANOUT_CPU_MESSAGES ?? '2000');
const ROUNDS = Number(process.env.FANOUT_CPU_ROUNDS ?? '3');
const VARIANTS = (process.env.FANOUT_CPU_VARIANTS ?? 'bare,hub').split(',');
const BURSTS = (process.env.FANOUT_CPU_BURSTS ?? '1,4').split(',').map(Number);
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

type Variant = 'bare' | 'hub' | 'bare-cork' | 'bare-frame-cork';

const frame = (seq: number): RoomServerFrame => sampleRoomFrame('room-fanout', seq);

async function child(variant: Variant): Promise<void> {
  const hub = new RoomHub(
    new InProcessBus(new InProcessNetwork()),
    { noteStored: () => undefined, after: () => Promise.resolve([]) } as unknown as RoomMessagesRepository,
    { findMany: () => Promise.resolve(new Map()) } as unknown as ParticipantsRepository,
  );
  hub.onModuleInit();
  const sockets: WebSocket[] = [];
  const transports: import('node:net').Socket[] = [];
  const server = createServer();
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  wss.on('connection', (socket, request) => {
    sockets.push(socket);
    transports.push(request.socket);
    const connection: Connection = {
      id: randomUUID(),
      socket,
      principal: {
        userId: `u${sockets.length}`,
        roles: [],
        isAdmin: false,
        expiresAt: Date.now() + 3_600_000,
      },
      sessionId: '',
      alive: true,
      seenAt: Date.now(),
      pending: null,
    };
    hub.subscribe(connection, 'room-fanout');
    hub.ready(connection, 'room-fanout', 0);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  let seq = 0;
  let started: NodeJS.CpuUsage | undefined;
  const send = (burst: number): void => {
    for (let i = 0; i < burst; i++) {
      const next = frame(++seq);
      if (variant === 'bare') {
        const data = JSON.stringify(next);
        for (const socket of sockets)
          if (socket.readyState === WebSocket.OPEN && socket.bufferedAmount <= MAX_BUFFERED_BYTES)
            socket.send(data);
      } else if (variant === 'bare-cork' || variant === 'bare-frame-cork') {
        const data = Buffer.from(JSON.stringify(next));
        // ws's own framing (WebSocket.Sender.frame, untyped in @types/ws), once for every socket
        const framed = Buffer.concat(
          (
            WebSocket as unknown as { Sender: { frame(data: Buffer, options: object): Buffer[] } }
          ).Sender.frame(data, { fin: true, opcode: 1, mask: false, readOnly: true, rsv1: false }),
        );
        if (i === 0) {
          for (const transport of transports) transport.cork();
          setImmediate(() => {
            for (const transport of transports) transport.uncork();
          });
        }
        for (let k = 0; k < sockets.length; k++) {
          const socket = sockets[k];
          if (socket.readyState !== WebSocket.OPEN || socket.bufferedAmount > MAX_BUFFERED_BYTES) continue;
          if (variant === 'bare-cork') socket.send(data, { binary: false });
          else transports[k].write(framed);
        }
      } else hub.toRoom('room-fanout', next);
    }
  };
  process.on('message', (message: { k: string; burst?: number }) => {
    if (message.k === 'start') started = process.cpuUsage();
    if (message.k === 'burst') send(message.burst ?? 1);
    if (message.k === 'stop') {
      const used = process.cpuUsage(started);
      process.send?.({ k: 'cpu', micros: used.user + used.system, user: used.user, system: used.system });
    }
  });
  // a normal exit when stopped, so `node --cpu-prof` writes the child's profile too
  process.on('SIGTERM', () => process.exit(0));
  process.send?.({ k: 'ready', port: (server.address() as AddressInfo).port });
}

interface Result {
  variant: string;
  burst: number;
  microsPerDelivery: number;
  systemShare: number;
}

async function measure(variant: Variant, burst: number): Promise<Result> {
  const worker = fork(__filename, [], { env: { ...process.env, FANOUT_CPU_CHILD: variant } });
  const port = await new Promise<number>((resolve) =>
    worker.once('message', (message: { port: number }) => resolve(message.port)),
  );
  let received = 0;
  let waiting: (() => void) | undefined;
  let expected = 0;
  const clients = await Promise.all(
    Array.from(
      { length: MEMBERS },
      () =>
        new Promise<WebSocket>((resolve, reject) => {
          const socket = new WebSocket(`ws://127.0.0.1:${port}/`, {
            skipUTF8Validation: true,
            perMessageDeflate: false,
          });
          socket.on('message', () => {
            if (++received === expected) waiting?.();
          });
          socket.once('open', () => resolve(socket));
          socket.once('error', reject);
        }),
    ),
  );
  const round = (count: number): Promise<void> =>
    new Promise((resolve) => {
      expected = received + count * MEMBERS;
      waiting = resolve;
      worker.send({ k: 'burst', burst: count });
    });
  // warm-up, not timed
  for (let sent = 0; sent < 200; sent += burst) await round(burst);
  worker.send({ k: 'start' });
  for (let sent = 0; sent < MESSAGES; sent += burst) await round(burst);
  const cpu = await new Promise<{ micros: number; system: number }>((resolve) => {
    worker.once('message', resolve);
    worker.send({ k: 'stop' });
  });
  for (const client of clients) client.terminate();
  worker.kill();
  const deliveries = Math.ceil(MESSAGES / burst) * burst * MEMBERS;
  return { variant, burst, microsPerDelivery: cpu.micros / deliveries, systemShare: cpu.system / cpu.micros };
}

async function main(): Promise<void> {
  const results: Result[] = [];
  for (let round = 0; round < ROUNDS; round++)
    for (const burst of BURSTS)
      for (const variant of VARIANTS) {
        const result = await measure(variant as Variant, burst);
        results.push(result);
        console.log(
          `round ${round + 1} burst ${burst} ${variant.padEnd(8)} ${result.microsPerDelivery.toFixed(2)} µs/delivery (${(100 * result.systemShare).toFixed(0)}% system)`,
        );
      }
  console.log(
    '\nµs of server CPU per delivery (min–max over rounds), and deliveries per CPU-second vs bare:',
  );
  for (const burst of BURSTS) {
    const bare = results
      .filter((r) => r.variant === 'bare' && r.burst === burst)
      .map((r) => r.microsPerDelivery);
    for (const variant of VARIANTS) {
      const values = results
        .filter((r) => r.variant === variant && r.burst === burst)
        .map((r) => r.microsPerDelivery);
      const ratio = (Math.min(...bare) / Math.min(...values)).toFixed(2);
      console.log(
        `burst ${burst} ${variant.padEnd(8)} ${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)} µs` +
          (bare.length > 0 ? `  (${ratio}× bare, best against best)` : ''),
      );
    }
  }
}

const role = process.env.FANOUT_CPU_CHILD;
if (role) void child(role as Variant);
else void main();
