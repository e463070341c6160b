// The store's own CPU (read from /proc, not wall time: the machine's two cores are shared) for the two
// reads and writes FerretDB's per-document JSON decode and encode bound (bench/README.md, "Session 12"):
//   page    — a room's newest 100 messages (chat_messages, 10 rooms of 1,000, 400 pages after 20 warm-up)
//   append  — one AI-session turn appended to a session document that already holds 10 or 500 messages
//             of ~700 characters (the repository's append: filter on _id + seq, $set, $inc, $push,
//             $addToSet); 40 sessions of each size, 2 appends to each, measured
// Run: node bench/store-json-cpu.ts MONGO_URL STORE_PID [page|append|both]   (Node 24 strips the types)
// Point it at a store of its own (scripts/services/ferretdb.sh up DIR): it writes the `sjbench` database.
import { readFileSync } from 'node:fs';
import { MongoClient, type Collection, type Document } from 'mongodb';

// a session as this bench writes it: its other fields are free-form
interface SessionDoc {
  _id: string;
}

function storeCpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function seedRooms(messages: Collection): Promise<void> {
  if ((await messages.estimatedDocumentCount()) > 0) return;
  await messages.createIndex({ room_id: 1, seq: 1 }, { unique: true });
  for (let r = 0; r < 10; r++) {
    const docs: Document[] = [];
    for (let s = 1; s <= 1000; s++)
      docs.push({
        _id: `r${r}-${s}`,
        room_id: `room-${r}`,
        seq: s,
        sender_id: `u${s % 7}`,
        kind: 'text',
        dedup_key: `room-${r}|u|c${s}`,
        client_id: `c${s}`,
        content: 'x'.repeat(120),
        created_at: new Date(),
        edited_at: null,
        deleted_at: null,
        deleted_by: null,
        metadata: { kind: 'text' },
      });
    await messages.insertMany(docs);
  }
}

async function page(client: MongoClient, pid: number): Promise<void> {
  const messages = client.db('sjbench').collection('chat_messages');
  await seedRooms(messages);
  const read = (i: number): Promise<Document[]> =>
    messages
      .find({ room_id: `room-${i % 10}` })
      .sort({ seq: -1 })
      .limit(100)
      .toArray();
  for (let i = 0; i < 20; i++) await read(i);
  const n = 400;
  const before = storeCpuSeconds(pid);
  for (let i = 0; i < n; i++) await read(i);
  const ms = ((storeCpuSeconds(pid) - before) * 1000) / n;
  console.log(`page: store CPU per page of 100 messages ${ms.toFixed(2)} ms`);
}

function turn(seq: number): Document {
  const role = seq % 2 === 0 ? 'assistant' : 'user';
  return {
    seq,
    role,
    // an AI reply's text: newlines, quotes, a <tag> and & (stored as JSON escapes)
    content: `${role} turn ${seq}:\n${'lorem "ipsum" dolor <sit> & amet,\n'.repeat(20)}`.slice(0, 700),
    timestamp: new Date(),
    dedup: `d-${seq}`,
    metadata: { model: 'fake', tokens: 123 },
  };
}

// one append per session (each holding `size` messages), round-robin, `rounds` times; the store's CPU per append
async function appendRound(
  sessions: Collection<SessionDoc>,
  ids: string[],
  pid: number,
  size: number,
  rounds: number,
): Promise<number> {
  const before = storeCpuSeconds(pid);
  for (let round = 0; round < rounds; round++)
    for (const id of ids) {
      const seq = size + round;
      const message = turn(seq + 1);
      const result = await sessions.updateOne(
        { _id: id, seq },
        {
          $set: { seq: seq + 1, last_activity: message.timestamp, last_message_at: message.timestamp },
          $inc: { bytes: 700, message_count: 1 },
          $push: { messages: message },
          $addToSet: { search_tokens: { $each: [`t${seq % 50}`] } },
        },
      );
      if (result.modifiedCount !== 1) throw new Error(`append ${seq} to ${id} did not apply`);
    }
  return ((storeCpuSeconds(pid) - before) * 1000) / (ids.length * rounds);
}

async function append(client: MongoClient, pid: number): Promise<void> {
  const sessions = client.db('sjbench').collection<SessionDoc>('sessions');
  const result: string[] = [];
  for (const size of [10, 500]) {
    // 40 sessions written at `size` messages (one insert each), then 2 appends to each measured
    const ids = Array.from({ length: 40 }, (_, i) => `s-${size}-${i}-${Date.now()}`);
    for (const id of ids) {
      const now = new Date();
      const doc: SessionDoc & Document = {
        _id: id,
        user_id: 'u1',
        seq: size,
        bytes: 700 * size,
        message_count: size,
        is_active: true,
        created_at: now,
        last_activity: now,
        messages: Array.from({ length: size }, (_, i) => turn(i + 1)),
        search_tokens: ['t1', 't2'],
      };
      await sessions.insertOne(doc);
    }
    const ms = await appendRound(sessions, ids, pid, size, 2);
    result.push(`${size} messages ${ms.toFixed(2)} ms`);
    await sessions.deleteMany({ _id: { $in: ids } });
  }
  console.log(`append: store CPU per append to a session of ${result.join(', ')}`);
}

async function main(): Promise<void> {
  const [url, pidText, what = 'both'] = process.argv.slice(2);
  const pid = Number(pidText);
  if (!url || !Number.isInteger(pid))
    throw new Error('usage: store-json-cpu.ts MONGO_URL STORE_PID [page|append|both]');
  const client = await MongoClient.connect(url);
  try {
    if (what === 'page' || what === 'both') await page(client, pid);
    if (what === 'append' || what === 'both') await append(client, pid);
  } finally {
    await client.close();
  }
}

void main();
