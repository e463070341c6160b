// The store's own CPU (from /proc; the machine's two cores are shared) per command for two of chatbox's
// hot commands on the sessions collection with its 8 indexes (src/modules/sessions/schemas/session.schema.ts):
//   findone — findOne({_id}) of a ~1.5 KB session head, 3 rounds of N after a warm-up
//   append  — one turn appended to a session already holding SIZE messages of ~700 characters (the
//             repository's update: filter on _id + seq, $set, $inc, $push, $addToSet); 20 sessions, 3 rounds
//   connect — a new user's first open, one command each (the pointer's findAndModify upsert, the
//             session's insert) against coalesced (docs/protocol.md, "Coalesced writes"): per batch
//             one find of the pointers by `_id: {$in}`, one insertMany of them, one of the sessions
//   bulk    — a small session's append, one updateOne each against one unordered bulkWrite per batch
//   long    — a turn of prose appended to a session of SIZE turns of prose, on the collection's whole
//             index set (LONG_INDEXES, the schema's 13), with the session's search tokens as chatbox
//             keeps them (the blind index's, src/common/crypto/blind-index.ts: the union of every
//             message's) against the same appends without the tokens index, and without tokens at all:
//             what the search index costs a long session's append
// Run: node bench/store-cmd-cpu.ts MONGO_URL STORE_PID [findone|append|both] [SIZE=500] [N=3000]
//      node bench/store-cmd-cpu.ts MONGO_URL STORE_PID connect|bulk [BATCH=25]
//      node bench/store-cmd-cpu.ts MONGO_URL STORE_PID long [TURNS=250]
// Point it at a store of its own (scripts/services/ferretdb.sh up DIR): it writes `cmdbench*` databases.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { MongoClient, type Collection, type Db, type Document } from 'mongodb';
import { BlindIndex } from '../src/common/crypto/blind-index.ts';
import { prose } from './prose.ts';
import { LONG_INDEXES, SESSION_INDEXES } from './session-indexes.ts';

interface SessionDoc {
  _id: string;
}

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

// Three rounds of one append to each session (its seq `size + round` before), the store's CPU per
// append in each round (ms).
async function appendRounds(
  pid: number,
  sessions: Collection<SessionDoc>,
  ids: string[],
  size: number,
  update: (seq: number) => Document,
  digits = 2,
): Promise<string[]> {
  const out: string[] = [];
  for (let round = 0; round < 3; round++) {
    const before = storeCpuSeconds(pid);
    for (const id of ids) {
      const seq = size + round;
      const result = await sessions.updateOne({ _id: id, seq } as Document, update(seq));
      if (result.modifiedCount !== 1) throw new Error(`append ${seq} to ${id} did not apply`);
    }
    out.push((((storeCpuSeconds(pid) - before) * 1000) / ids.length).toFixed(digits));
  }
  return out;
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
  const out = await appendRounds(pid, sessions, ids, size, (seq) => {
    const message = turn(seq + 1);
    return {
      $set: { seq: seq + 1, last_activity: message.timestamp, last_message_at: message.timestamp },
      $inc: { bytes: 700, message_count: 1 },
      $push: { messages: message },
      $addToSet: { search_tokens: { $each: [`t${seq % 50}`] } },
    };
  });
  console.log(
    `append: store CPU per append to a session of ${size} messages (8 indexes) ms ${out.join(' ')}`,
  );
  await client.db(db).dropDatabase();
}

const USERS = 400;
const ROUNDS = 3;

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

function smallAppend(seq: number): Document {
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

async function bulkAppends(db: Db, pid: number, batch: number): Promise<void> {
  const sessions = db.collection<Document>('sessions');
  for (const keys of SESSION_INDEXES) await sessions.createIndex(keys);
  const ids = Array.from({ length: USERS }, () => randomUUID());
  await sessions.insertMany(ids.map((id) => session(id, `u-${id}`, new Date())));
  for (let round = 0; round < ROUNDS; round++) {
    const single = await measure(pid, async () => {
      for (const id of ids)
        await sessions.updateOne({ _id: id as never, seq: 2 * round }, smallAppend(2 * round));
    });
    const batched = await measure(pid, async () => {
      for (let i = 0; i < USERS; i += batch) {
        const result = await sessions.bulkWrite(
          ids.slice(i, i + batch).map((id) => ({
            updateOne: {
              filter: { _id: id as never, seq: 2 * round + 1 },
              update: smallAppend(2 * round + 1),
            },
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

// A session of `turns` turns of prose (a question of ~150 characters, a reply of ~700, as the bench's
// long phase sends them), 10 sessions, 3 rounds of one more turn each, per variant.
async function longAppends(client: MongoClient, pid: number, turns: number): Promise<void> {
  const index = new BlindIndex(Buffer.alloc(32, 7));
  const message = (seq: number) => {
    const user = seq % 2 === 1;
    return {
      id: randomUUID(),
      seq,
      type: user ? 'user_message' : 'ai_response',
      content: prose(seq * 7919, user ? 150 : 700),
      timestamp: new Date(),
    };
  };
  const size = turns * 2;
  for (const variant of ['tokens', 'no tokens index', 'no tokens'] as const) {
    const db = client.db(`cmdbench_long_${Date.now()}`);
    const sessions = db.collection<SessionDoc>('sessions');
    for (const keys of variant === 'tokens' ? LONG_INDEXES : LONG_INDEXES.slice(0, -1))
      await sessions.createIndex(keys);
    const ids = Array.from({ length: 10 }, (_, i) => `s${i}`);
    let tokens = 0;
    for (const id of ids) {
      const messages = Array.from({ length: size }, (_, i) => message(i + 1));
      const search =
        variant === 'no tokens' ? [] : [...new Set(messages.flatMap((m) => index.tokensOf(m.content)))];
      tokens = search.length;
      // the schema's whole document (as a connect inserts it), grown to `size` messages
      await sessions.insertOne({
        ...session(id, `u-${id}`, new Date()),
        seq: size,
        message_count: size,
        messages,
        search_tokens: search,
      } as unknown as SessionDoc & Document);
    }
    const out = await appendRounds(
      pid,
      sessions,
      ids,
      size,
      (seq) => {
        const next = message(seq + 1);
        const update: Document = {
          $set: { seq: seq + 1, last_activity: next.timestamp, last_message_at: next.timestamp },
          $inc: { message_count: 1 },
          $push: { messages: next },
        };
        if (variant !== 'no tokens')
          update.$addToSet = { search_tokens: { $each: index.tokensOf(next.content) } };
        return update;
      },
      1,
    );
    console.log(
      `long, ${turns} turns, ${variant} (${tokens} tokens a session): store CPU per append ms ${out.join(' ')}`,
    );
    await db.dropDatabase();
  }
}

async function main(): Promise<void> {
  const [url, pidText, what = 'both', sizeText = '500', nText = '3000'] = process.argv.slice(2);
  const pid = Number(pidText);
  if (!url || !Number.isInteger(pid))
    throw new Error(
      'usage: store-cmd-cpu.ts MONGO_URL STORE_PID [findone|append|both|connect|bulk|long] [SIZE|BATCH|TURNS] [N]',
    );
  const client = await MongoClient.connect(url);
  try {
    if (what === 'long') return await longAppends(client, pid, Number(sizeText === '500' ? '250' : sizeText));
    if (what === 'connect' || what === 'bulk') {
      const db = client.db(`cmdbench_${what}_${Date.now()}`);
      const batch = Number(sizeText === '500' ? '25' : sizeText);
      await (what === 'connect' ? connects(db, pid, batch) : bulkAppends(db, pid, batch));
      await db.dropDatabase();
      return;
    }
    if (what === 'findone' || what === 'both') await findOne(client, pid, Number(nText));
    if (what === 'append' || what === 'both') await append(client, pid, Number(sizeText));
  } finally {
    await client.close();
  }
}

void main();
