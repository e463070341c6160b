// The store's own CPU (from /proc; the machine's two cores are shared) per command for two of chatbox's
// hot commands on the sessions collection with its 8 indexes (src/modules/sessions/schemas/session.schema.ts):
//   findone — findOne({_id}) of a ~1.5 KB session head, 3 rounds of N after a warm-up
//   append  — one turn appended to a session already holding SIZE messages of ~700 characters (the
//             repository's update: filter on _id + seq, $set, $inc, $push, $addToSet); 20 sessions, 3 rounds
// Run: node bench/store-cmd-cpu.ts MONGO_URL STORE_PID [findone|append|both] [SIZE=500] [N=3000]
// Point it at a store of its own (scripts/services/ferretdb.sh up DIR): it writes `cmdbench*` databases.
import { readFileSync } from 'node:fs';
import { MongoClient, type Collection, type Document } from 'mongodb';

interface SessionDoc {
  _id: string;
}

const SESSION_INDEXES: Document[] = [
  { user_id: 1, last_activity: -1 },
  { is_active: 1, last_activity: 1 },
  { start_time: -1 },
  { user_id: 1, start_time: -1 },
  { last_activity: -1 },
  { duration_ms: -1 },
  { is_active: 1, start_time: -1 },
  { admin_assisted: 1, start_time: -1 },
];

function storeCpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function turn(seq: number): Document {
  const role = seq % 2 === 0 ? 'assistant' : 'user';
  return {
    seq,
    role,
    content: `${role} turn ${seq}:\n${'lorem "ipsum" dolor <sit> & amet,\n'.repeat(20)}`.slice(0, 700),
    timestamp: new Date(),
    dedup: `d-${seq}`,
    metadata: { model: 'fake', tokens: 123 },
  };
}

async function sessionsWithIndexes(client: MongoClient, name: string): Promise<Collection<SessionDoc>> {
  const sessions = client.db(name).collection<SessionDoc>('sessions');
  for (const keys of SESSION_INDEXES) await sessions.createIndex(keys);
  return sessions;
}

async function findOne(client: MongoClient, pid: number, n: number): Promise<void> {
  const db = `cmdbench_find_${Date.now()}`;
  const sessions = await sessionsWithIndexes(client, db);
  const ids = Array.from({ length: 200 }, (_, i) => `s${i}`);
  const now = new Date();
  await sessions.insertMany(
    ids.map((id) => ({
      _id: id,
      user_id: `u-${id}`,
      name: 'New chat',
      is_active: true,
      start_time: now,
      last_activity: now,
      duration_ms: null,
      admin_assisted: false,
      seq: 1,
      message_count: 1,
      search_tokens: Array.from({ length: 30 }, (_, i) => `tok${i}`),
      messages: [{ id: 'm1', seq: 1, type: 'user_message', content: 'hello '.repeat(40), timestamp: now }],
    })),
  );
  for (const id of ids) await sessions.findOne({ _id: id });
  const out: string[] = [];
  for (let round = 0; round < 3; round++) {
    const before = storeCpuSeconds(pid);
    for (let i = 0; i < n; i++) await sessions.findOne({ _id: ids[i % ids.length] });
    out.push((((storeCpuSeconds(pid) - before) * 1000) / n).toFixed(3));
  }
  console.log(`findone: store CPU per findOne({_id}) ms ${out.join(' ')}`);
  await client.db(db).dropDatabase();
}

async function append(client: MongoClient, pid: number, size: number): Promise<void> {
  const db = `cmdbench_append_${Date.now()}`;
  const sessions = await sessionsWithIndexes(client, db);
  const ids = Array.from({ length: 20 }, (_, i) => `s${i}`);
  for (const id of ids) {
    const now = new Date();
    await sessions.insertOne({
      _id: id,
      user_id: 'u1',
      seq: size,
      bytes: 700 * size,
      message_count: size,
      is_active: true,
      start_time: now,
      duration_ms: null,
      admin_assisted: false,
      last_activity: now,
      messages: Array.from({ length: size }, (_, i) => turn(i + 1)),
      search_tokens: ['t1', 't2'],
    } as SessionDoc & Document);
  }
  const out: string[] = [];
  for (let round = 0; round < 3; round++) {
    const before = storeCpuSeconds(pid);
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
    out.push((((storeCpuSeconds(pid) - before) * 1000) / ids.length).toFixed(2));
  }
  console.log(
    `append: store CPU per append to a session of ${size} messages (8 indexes) ms ${out.join(' ')}`,
  );
  await client.db(db).dropDatabase();
}

async function main(): Promise<void> {
  const [url, pidText, what = 'both', sizeText = '500', nText = '3000'] = process.argv.slice(2);
  const pid = Number(pidText);
  if (!url || !Number.isInteger(pid))
    throw new Error('usage: store-cmd-cpu.ts MONGO_URL STORE_PID [findone|append|both] [SIZE] [N]');
  const client = await MongoClient.connect(url);
  try {
    if (what === 'findone' || what === 'both') await findOne(client, pid, Number(nText));
    if (what === 'append' || what === 'both') await append(client, pid, Number(sizeText));
  } finally {
    await client.close();
  }
}

void main();
