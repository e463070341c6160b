// The history phase's store: `rooms` public rooms of 10 members and `messages` messages spread evenly
// over them, written directly into the store in chatbox's document shapes (the schemas of
// src/modules/rooms/schemas, content encrypted with ContentCipher like a real message) in big
// unordered batches: the record path would take hours for a million. A seeded database is kept and
// reused by the next run of the same size (a `bench_seed` document marks it complete and holds its
// encryption key); BENCH_ROOMS_RESEED=1 seeds it again.
import { randomBytes, randomUUID } from 'node:crypto';
import mongoose from 'mongoose';
import { ContentCipher } from '../src/common/crypto/content-cipher';
import { Participant, ParticipantSchema } from '../src/modules/rooms/schemas/participant.schema';
import { RoomMessage, RoomMessageSchema } from '../src/modules/rooms/schemas/room-message.schema';
import { Room, RoomSchema } from '../src/modules/rooms/schemas/room.schema';
import { participantId } from '../src/modules/rooms/room.types';
import { typedText } from './rooms-load';

export const MEMBERS_PER_ROOM = 10;
const BATCH = 5000;
const DAY_MS = 86_400_000;
// 3: the store build indexes a message's seq and a room's dates as their SQL values
// (pushdown-seq.patch); an older seed keeps the old index expressions, so it is seeded again
const SEED_FORMAT = 3;

export interface SeededStore {
  database: string;
  // base64, the ENCRYPTION_KEY the content was written with
  key: string;
  rooms: string[];
  // room → its members' user ids
  members: Map<string, string[]>;
  // users: each a member of MEMBERS_PER_ROOM rooms
  users: string[];
  messages: number;
  // how long seeding took (0 when reused)
  seededMs: number;
}

interface SeedMark {
  _id: string;
  format: number;
  key: string;
  rooms: number;
  messages: number;
  done_at: Date;
}

// Room i's members: users (i + j·⌈rooms/10⌉) mod users, j < 10; with as many users as rooms, each
// user is in 10 rooms, as a member of a busy workspace would be.
function layout(roomCount: number): { rooms: string[]; members: Map<string, string[]>; users: string[] } {
  const userCount = Math.max(MEMBERS_PER_ROOM, roomCount);
  const stride = Math.ceil(userCount / MEMBERS_PER_ROOM);
  const users = Array.from({ length: userCount }, (_, index) => `seed-user-${index}`);
  const rooms = Array.from({ length: roomCount }, (_, index) => `seed-room-${index}`);
  const members = new Map<string, string[]>();
  rooms.forEach((room, index) =>
    members.set(
      room,
      Array.from({ length: MEMBERS_PER_ROOM }, (_, j) => users[(index + j * stride) % userCount]),
    ),
  );
  return { rooms, members, users };
}

export async function seedStore(
  baseUrl: string,
  roomCount: number,
  messageCount: number,
  log: (text: string) => void,
  reseed = false,
): Promise<SeededStore> {
  const database = `bench_rooms_seed_${roomCount}r_${messageCount}m`;
  const { rooms, members, users } = layout(roomCount);
  const connection = await mongoose
    .createConnection(`${baseUrl.replace(/\/+$/, '')}/${database}`, { serverSelectionTimeoutMS: 10_000 })
    .asPromise();
  try {
    const marks = connection.collection<SeedMark>('bench_seed');
    const mark = await marks.findOne({ _id: 'seed' });
    if (!reseed && mark && mark.format === SEED_FORMAT && mark.messages === messageCount) {
      log(`reusing the seeded store ${database} (${messageCount.toLocaleString('en-US')} messages)`);
      return { database, key: mark.key, rooms, members, users, messages: messageCount, seededMs: 0 };
    }
    log(`seeding ${database}: ${roomCount} rooms, ${messageCount.toLocaleString('en-US')} messages`);
    const started = performance.now();
    await connection.dropDatabase();
    const key = randomBytes(32);
    const cipher = new ContentCipher(key);
    const roomModel = connection.model(Room.name, RoomSchema);
    const participantModel = connection.model(Participant.name, ParticipantSchema);
    const messageModel = connection.model(RoomMessage.name, RoomMessageSchema);
    // chatbox's own indexes first (inserting into indexed collections is what production does)
    await Promise.all([
      roomModel.createIndexes(),
      participantModel.createIndexes(),
      messageModel.createIndexes(),
    ]);
    // the driver's collections, typed with the schemas' documents (string `_id`s)
    const db = connection.db!;
    const roomStore = db.collection<Room>(roomModel.collection.collectionName);
    const participantStore = db.collection<Participant>(participantModel.collection.collectionName);
    const messageStore = db.collection<RoomMessage>(messageModel.collection.collectionName);
    const now = Date.now();
    const perRoom = Math.floor(messageCount / roomCount);
    const extra = messageCount - perRoom * roomCount;
    const countOf = (index: number): number => perRoom + (index < extra ? 1 : 0);
    // messages of the last 30 days, a room's in time order
    const spanMs = 30 * DAY_MS;
    const roomDocs: Room[] = rooms.map((id, index) => ({
      _id: id,
      kind: 'public',
      name: `seeded room ${index}`,
      topic: null,
      owner_id: members.get(id)![0],
      created_at: new Date(now - spanMs - DAY_MS),
      last_seq: countOf(index),
      last_message_at: new Date(now - Math.floor(Math.random() * DAY_MS)),
    }));
    await roomStore.insertMany(roomDocs, { ordered: false });
    const participantDocs: Participant[] = [];
    for (const room of rooms)
      members.get(room)!.forEach((user, j) =>
        participantDocs.push({
          _id: participantId(room, user),
          room_id: room,
          user_id: user,
          role: j === 0 ? 'owner' : 'member',
          state: 'member',
          muted_until: null,
          updated_at: new Date(now - spanMs),
        }),
      );
    for (let at = 0; at < participantDocs.length; at += BATCH)
      await participantStore.insertMany(participantDocs.slice(at, at + BATCH), { ordered: false });
    // rooms round-robin, so every batch touches many rooms, as live traffic does
    let batch: RoomMessage[] = [];
    let written = 0;
    let lastLog = performance.now();
    for (let seq = 1; written < messageCount; seq++) {
      for (let index = 0; index < roomCount && written < messageCount; index++) {
        if (seq > countOf(index)) continue;
        const room = rooms[index];
        const id = randomUUID();
        const roomMembers = members.get(room)!;
        batch.push({
          _id: id,
          room_id: room,
          seq,
          sender_id: roomMembers[(seq + index) % roomMembers.length],
          kind: 'text',
          dedup_key: `${room}|#${id}`,
          content: cipher.encrypt(typedText(20 + ((seq * 31 + index) % 180))),
          created_at: new Date(now - spanMs + Math.floor((spanMs * seq) / (countOf(index) + 1))),
          edited_at: null,
          deleted_at: null,
          deleted_by: null,
        });
        written++;
        if (batch.length === BATCH) {
          await messageStore.insertMany(batch, { ordered: false });
          batch = [];
          if (performance.now() - lastLog > 10_000) {
            lastLog = performance.now();
            const rate = written / ((lastLog - started) / 1000);
            log(
              `  ${written.toLocaleString('en-US')} messages (${Math.round(rate).toLocaleString('en-US')}/s)`,
            );
          }
        }
      }
    }
    if (batch.length > 0) await messageStore.insertMany(batch, { ordered: false });
    const seededMs = performance.now() - started;
    await marks.insertOne({
      _id: 'seed',
      format: SEED_FORMAT,
      key: key.toString('base64'),
      rooms: roomCount,
      messages: messageCount,
      done_at: new Date(),
    });
    log(`seeded in ${(seededMs / 1000).toFixed(1)} s`);
    return { database, key: key.toString('base64'), rooms, members, users, messages: messageCount, seededMs };
  } finally {
    await connection.close();
  }
}
