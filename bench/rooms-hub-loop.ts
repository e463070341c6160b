// chatbox's own fan-out loop (RoomHub.toRoom → SeqOrder → writeData) without the sockets' I/O: one
// room of HUB_LOOP_MEMBERS (1,000) subscribed connections whose socket is a stub that only counts
// what it is sent, HUB_LOOP_MESSAGES (2,000) room messages fanned out in seq order, one at a time.
// The system calls that dominate a real fan-out (bench/rooms-fanout-cpu.ts) are left out, so what is
// measured is the JavaScript per delivery that chatbox adds to ws's `send`, which a busy machine moves
// much less than a whole bench. In a server a fan-out finds its sockets' objects out of the caches
// (ws, the TCP stack, the store's driver ran between two messages), and what a loop costs then is
// mostly how many objects it touches per socket: between two fan-outs HUB_LOOP_EVICT_MB (32) of
// memory is read, untimed, and each fan-out is timed alone (wall time, so run it when the machine is
// quiet enough that the minimum over rounds means something).
//
//   npx tsc -p bench/tsconfig.rooms.json --outDir /tmp/b && ln -s $PWD/node_modules /tmp/b/ \
//     && node /tmp/b/bench/rooms-hub-loop.js
//
// HUB_LOOP_BUILDS=/tmp/a,/tmp/b runs this file of each build (each a `tsc` output of the rooms bench
// config, with node_modules linked) in child processes, ROUNDS times interleaved: an A/B of two
// commits' loops on one machine in one window. Prints µs per delivery.
import { randomUUID } from 'node:crypto';
import { InProcessBus, InProcessNetwork } from '../src/infra/bus/in-process.bus';
import type { Connection } from '../src/modules/realtime/connection';
import type { ParticipantsRepository } from '../src/modules/rooms/participants.repository';
import { RoomHub } from '../src/modules/rooms/room-hub';
import type { RoomMessagesRepository } from '../src/modules/rooms/room-messages.repository';
import type { RoomServerFrame } from '../src/protocol/rooms';
import { runAb } from './ab-builds';
import { sampleRoomFrame } from './room-sample';

const MEMBERS = Number(process.env.HUB_LOOP_MEMBERS ?? '1000');
const MESSAGES = Number(process.env.HUB_LOOP_MESSAGES ?? '2000');
const ROUNDS = Number(process.env.HUB_LOOP_ROUNDS ?? '5');
const EVICT_BYTES = Number(process.env.HUB_LOOP_EVICT_MB ?? '32') * 1024 * 1024;

const frame = (seq: number): RoomServerFrame => sampleRoomFrame('room-loop', seq);

// µs per delivery over MESSAGES fan-outs (after a warm-up of as many), each timed alone after the
// caches were flushed
function run(): number {
  const junk = new Float64Array(EVICT_BYTES / 8);
  let sink = 0;
  const evict = () => {
    for (let index = 0; index < junk.length; index += 8) sink += junk[index]++;
  };
  const hub = new RoomHub(
    new InProcessBus(new InProcessNetwork()),
    { noteStored: () => undefined, after: () => Promise.resolve([]) } as unknown as RoomMessagesRepository,
    { findMany: () => Promise.resolve(new Map()) } as unknown as ParticipantsRepository,
  );
  hub.onModuleInit();
  let sent = 0;
  let bytes = 0;
  for (let index = 0; index < MEMBERS; index++) {
    // ws's WebSocket as writeData uses it: open, nothing buffered, no TCP socket to cork
    const socket = {
      readyState: 1,
      bufferedAmount: 0,
      send(data: Buffer | string) {
        sent++;
        bytes += data.length;
      },
    };
    const connection = {
      id: randomUUID(),
      socket,
      principal: { userId: `u${index}`, roles: [], isAdmin: false, expiresAt: Date.now() + 3_600_000 },
      sessionId: '',
      alive: true,
      seenAt: Date.now(),
      pending: null,
    } as unknown as Connection;
    hub.subscribe(connection, 'room-loop');
    hub.ready(connection, 'room-loop', 0);
  }
  const frames = Array.from({ length: 2 * MESSAGES }, (_, index) => frame(index + 1));
  for (let index = 0; index < MESSAGES; index++) hub.toRoom('room-loop', frames[index]);
  let elapsed = 0;
  for (let index = MESSAGES; index < 2 * MESSAGES; index++) {
    if (EVICT_BYTES > 0) evict();
    const started = performance.now();
    hub.toRoom('room-loop', frames[index]);
    elapsed += performance.now() - started;
  }
  if (sink < 0) console.log(sink);
  if (sent !== 2 * MESSAGES * MEMBERS || bytes === 0)
    throw new Error(`sent ${sent} of ${2 * MESSAGES * MEMBERS}`);
  return (1000 * elapsed) / (MESSAGES * MEMBERS);
}

void runAb({
  script: 'rooms-hub-loop.js',
  childVariable: 'HUB_LOOP_CHILD',
  buildsVariable: 'HUB_LOOP_BUILDS',
  rounds: ROUNDS,
  measure: run,
  format: (micros) => `${micros.toFixed(3)} µs/delivery`,
});
