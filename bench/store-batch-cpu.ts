// The store's own CPU (from /proc; the machine's two cores are shared) per operation, one command
// each against coalesced into batches (docs/protocol.md, "Coalesced writes"), on the sessions
// collection with its 8 indexes and the current_sessions pointers:
//   connect — a new user's first open: the pointer claimed (findAndModify upsert) and the session
//             inserted, one by one; or, per batch, one find of the pointers by `_id: {$in}`, one
//             insertMany of the pointers, one of the sessions
//   append  — a small session's append (filter on _id + seq, $set, $inc, $push, $addToSet): one
//             updateOne each, or one unordered bulkWrite per batch
// Run: node bench/store-batch-cpu.ts MONGO_URL STORE_PID [connect|append|both] [BATCH=25]
// Point it at a store of its own (scripts/services/ferretdb.sh up DIR): it writes `batchbench*` databases.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { MongoClient, type Db, type Document } from 'mongodb';

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
const USERS = 400;
const ROUNDS = 3;

function storeCpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

// a new session as SessionsRepository inserts it: the schema's fields and defaults
function session(id: string, user: string, now: Date): Document {
  return {
    _id: id,
    user_id: user,
    name: 'New chat',
    model_id: 'demo',
    is_active: true,
    start_time: now,
    end_time: null,
    duration_ms: null,
    last_activity: now,
    last_message_at: null,
    message_count: 0,
    seq: 0,
    open_turn_seq: null,
    bytes: 0,
    prompt_tokens: 0,
    completion_tokens: 0,
    total_tokens: 0,
    response_count: 0,
    response_ms_total: 0,
    max_response_ms: 0,
    help_requested: false,
    help_requested_at: null,
    admin_assisted: false,
    assisting_admin_id: null,
    assisting_admin_name: null,
    takeovers: [],
    csat: [],
    takeover_started_at: null,
    takeover_lease_until: null,
    help_pending: false,
    help_response_count: 0,
    help_response_ms_total: 0,
    help_response_ms_max: 0,
    help_response_ms: [],
    provider_state: {},
    console: false,
    archived: false,
    deleted: false,
    deleted_at: null,
    search_tokens: [],
    title_tokens: [],
    feedback_up: 0,
    feedback_down: 0,
    messages: [],
  };
}

function append(seq: number): Document {
  return {
    $set: { seq: seq + 1, last_activity: new Date(), open_turn_seq: seq + 1 },
    $inc: { bytes: 200, message_count: 1 },
    $push: {
      messages: {
        id: randomUUID(),
        seq: seq + 1,
        type: 'user_message',
        sender: 'user',
        client_id: `c${seq}`,
        dedup: `user:c${seq}`,
        content: 'x'.repeat(200),
        timestamp: new Date(),
      },
    },
    $addToSet: { search_tokens: { $each: Array.from({ length: 20 }, (_, i) => `t${seq}-${i}`) } },
  };
}

async function measure(pid: number, work: () => Promise<void>): Promise<number> {
  const before = storeCpuSeconds(pid);
  await work();
  return ((storeCpuSeconds(pid) - before) * 1000) / USERS;
}

async function connects(db: Db, pid: number, batch: number): Promise<void> {
  const sessions = db.collection<Document>('sessions');
  const pointers = db.collection<Document>('current_sessions');
  for (const keys of SESSION_INDEXES) await sessions.createIndex(keys);
  await pointers.insertOne({ _id: 'warm' as never, session_id: 'warm', updated_at: new Date() });
  for (let round = 0; round < ROUNDS; round++) {
    const single = await measure(pid, async () => {
      for (let i = 0; i < USERS; i++) {
        const [user, id, now] = [randomUUID(), randomUUID(), new Date()];
        await pointers.findOneAndUpdate(
          { _id: user as never },
          { $setOnInsert: { session_id: id, updated_at: now } },
          { upsert: true, returnDocument: 'after' },
        );
        await sessions.insertOne(session(id, user, now));
      }
    });
    const batched = await measure(pid, async () => {
      for (let i = 0; i < USERS; i += batch) {
        const users = Array.from({ length: batch }, () => ({
          user: randomUUID(),
          id: randomUUID(),
          now: new Date(),
        }));
        await pointers.find({ _id: { $in: users.map((entry) => entry.user) } as never }).toArray();
        await pointers.insertMany(
          users.map((entry) => ({ _id: entry.user as never, session_id: entry.id, updated_at: entry.now })),
          { ordered: false },
        );
        await sessions.insertMany(
          users.map((entry) => session(entry.id, entry.user, entry.now)),
          { ordered: false },
        );
      }
    });
    console.log(
      `connect, round ${round + 1}: store CPU per new user one by one ${single.toFixed(3)} ms, in batches of ${batch} ${batched.toFixed(3)} ms`,
    );
  }
}

async function appends(db: Db, pid: number, batch: number): Promise<void> {
  const sessions = db.collection<Document>('sessions');
  for (const keys of SESSION_INDEXES) await sessions.createIndex(keys);
  const ids = Array.from({ length: USERS }, () => randomUUID());
  await sessions.insertMany(ids.map((id) => session(id, `u-${id}`, new Date())));
  for (let round = 0; round < ROUNDS; round++) {
    const single = await measure(pid, async () => {
      for (const id of ids) await sessions.updateOne({ _id: id as never, seq: 2 * round }, append(2 * round));
    });
    const batched = await measure(pid, async () => {
      for (let i = 0; i < USERS; i += batch) {
        const result = await sessions.bulkWrite(
          ids.slice(i, i + batch).map((id) => ({
            updateOne: { filter: { _id: id as never, seq: 2 * round + 1 }, update: append(2 * round + 1) },
          })),
          { ordered: false },
        );
        if (result.modifiedCount !== Math.min(batch, USERS - i)) throw new Error('an append did not apply');
      }
    });
    console.log(
      `append, round ${round + 1} (${2 * round + 2} messages): store CPU per append one by one ${single.toFixed(3)} ms, in bulks of ${batch} ${batched.toFixed(3)} ms`,
    );
  }
}

async function main(): Promise<void> {
  const [url, pidText, mode = 'both', batchText = '25'] = process.argv.slice(2);
  if (!url || !pidText)
    throw new Error('usage: node bench/store-batch-cpu.ts MONGO_URL STORE_PID [connect|append|both] [BATCH]');
  const [pid, batch] = [Number(pidText), Number(batchText)];
  const client = await MongoClient.connect(url);
  try {
    for (const [name, run] of [
      ['connect', connects],
      ['append', appends],
    ] as const) {
      if (mode !== 'both' && mode !== name) continue;
      const db = client.db(`batchbench${Date.now().toString(36)}`);
      try {
        await run(db, pid, batch);
      } finally {
        await db.dropDatabase();
      }
    }
  } finally {
    await client.close();
  }
}

void main();
