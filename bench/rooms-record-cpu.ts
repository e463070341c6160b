// The room record path's Node CPU per stored message: RoomMessagesRepository.append (the insert at
// the room's next seq, encryption, the id derived from the client_id) against a real store, one
// append at a time into one room, as a room's writers on one instance take turns. Only this process's
// CPU (user + system) is counted: the store's own is not, so a busy machine moves it little.
//
//   eval "$(bash scripts/services/ferretdb.sh up /tmp/svc/ferretdb)"      # TEST_MONGODB_URL
//   npx tsc -p bench/tsconfig.rooms.json --outDir /tmp/b && ln -s $PWD/node_modules /tmp/b/ \
//     && RECORD_CPU_URL=$TEST_MONGODB_URL node /tmp/b/bench/rooms-record-cpu.js
//
// RECORD_CPU_MESSAGES (2,000; a warm-up of 200 before), RECORD_CPU_ROUNDS (5). RECORD_CPU_BUILDS=/tmp/a,/tmp/b
// runs this file of each build in child processes, rounds interleaved: an A/B of two commits.
// RECORD_CPU_OP=member measures instead the two reads every message sent makes before its insert
// (RoomMessagesService.memberOf: RoomsRepository.find beside ParticipantsRepository.find).
import { randomBytes } from 'node:crypto';
import mongoose from 'mongoose';
import { ContentCipher } from '../src/common/crypto/content-cipher';
import type { Settings } from '../src/config/settings';
import { ParticipantsRepository } from '../src/modules/rooms/participants.repository';
import { RoomMessagesRepository } from '../src/modules/rooms/room-messages.repository';
import { RoomsRepository } from '../src/modules/rooms/rooms.repository';
import { Participant, ParticipantSchema } from '../src/modules/rooms/schemas/participant.schema';
import { RoomMessage, RoomMessageSchema } from '../src/modules/rooms/schemas/room-message.schema';
import { Room, RoomSchema } from '../src/modules/rooms/schemas/room.schema';
import { runAb } from './ab-builds';

const STORE_URL = process.env.RECORD_CPU_URL ?? process.env.TEST_MONGODB_URL ?? 'mongodb://127.0.0.1:27017';
const MESSAGES = Number(process.env.RECORD_CPU_MESSAGES ?? '2000');
const ROUNDS = Number(process.env.RECORD_CPU_ROUNDS ?? '5');
const WARMUP = 200;
const OP = process.env.RECORD_CPU_OP === 'member' ? 'member' : 'append';

// µs of this process's CPU per membership check (the room and the sender's participant, read together)
async function member(connection: mongoose.Connection): Promise<number> {
  const rooms = new RoomsRepository(connection.model(Room.name, RoomSchema));
  const participants = new ParticipantsRepository(connection.model(Participant.name, ParticipantSchema));
  const roomId = `room-${randomBytes(6).toString('hex')}`;
  await rooms.insert({
    id: roomId,
    kind: 'public',
    name: 'bench',
    topic: null,
    owner_id: 'u0',
    created_at: new Date(),
  });
  await participants.put(roomId, 'u0', { state: 'member' });
  const check = async () => {
    const [room, participant] = await Promise.all([rooms.find(roomId), participants.find(roomId, 'u0')]);
    if (!room || participant?.state !== 'member') throw new Error('not a member');
  };
  for (let index = 0; index < WARMUP; index++) await check();
  const started = process.cpuUsage();
  for (let index = 0; index < MESSAGES; index++) await check();
  const used = process.cpuUsage(started);
  await connection.close();
  return (used.user + used.system) / MESSAGES;
}

async function run(): Promise<number> {
  const connection = await mongoose.createConnection(STORE_URL, { dbName: 'bench_record_cpu' }).asPromise();
  if (OP === 'member') return member(connection);
  const model = connection.model(RoomMessage.name, RoomMessageSchema);
  const repository = new RoomMessagesRepository(model, new ContentCipher(randomBytes(32)), {
    rooms: { retentionMs: 30 * 86_400_000 },
  } as unknown as Settings);
  await repository.onModuleInit();
  const roomId = `room-${randomBytes(6).toString('hex')}`;
  const append = (index: number) =>
    repository.append({
      room_id: roomId,
      sender_id: `user-${index % 60}`,
      kind: 'text',
      client_id: `${Date.now()}000.0.${index % 60}.${index}`,
      content: 'a message of about the length people type in a room, sixty-ish',
    });
  for (let index = 0; index < WARMUP; index++) await append(index);
  const started = process.cpuUsage();
  for (let index = WARMUP; index < WARMUP + MESSAGES; index++) {
    const { message } = await append(index);
    if (message.seq !== index + 1) throw new Error(`seq ${message.seq} for the ${index + 1}th message`);
  }
  const used = process.cpuUsage(started);
  await model.deleteMany({ room_id: roomId });
  await connection.close();
  return (used.user + used.system) / MESSAGES;
}

void runAb({
  script: 'rooms-record-cpu.js',
  childVariable: 'RECORD_CPU_CHILD',
  buildsVariable: 'RECORD_CPU_BUILDS',
  rounds: ROUNDS,
  measure: run,
  format: (micros) => `${micros.toFixed(1)} µs of Node CPU per ${OP}`,
});
