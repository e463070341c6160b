// Fifty users' messages stored at the same instant, four ways, on the store given: each user's
// append as its own command (findAndModify, as chatbox's user append is, or updateOne), or the same
// appends coalesced into unordered bulkWrites (five of ten at once, or one of fifty). Prints, per
// way and round, when the appends were answered (p50 / p99 ms after the first was sent).
// Run: node bench/store-write-contention.ts MONGO_URL [ROUNDS=4]
// Point it at a store of its own (scripts/services/ferretdb.sh up DIR): it writes the `contention`
// database. The sessions collection gets the schema's indexes (session.schema.ts), as chatbox's has.
import { MongoClient, type Document } from 'mongodb';
import { LONG_INDEXES } from './session-indexes.ts';

const USERS = 50;
interface Session {
  _id: string;
  [field: string]: unknown;
}

function append(index: number): Document {
  const message = {
    id: `m${index}`,
    seq: 1,
    type: 'user_message',
    sender: 'user',
    content: 'x'.repeat(200),
    timestamp: new Date(),
  };
  return { $set: { seq: 1, last_activity: new Date() }, $inc: { bytes: 200 }, $push: { messages: message } };
}

function percentile(values: number[], share: number): string {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(share * sorted.length))].toFixed(1);
}

async function main(): Promise<void> {
  const [url, rounds = '4'] = process.argv.slice(2);
  if (!url) throw new Error('usage: store-write-contention.ts MONGO_URL [ROUNDS]');
  const client = new MongoClient(url, { maxPoolSize: Number(process.env.POOL ?? 100) });
  await client.connect();
  const sessions = client.db('contention').collection<Session>('sessions');
  await sessions.drop().catch(() => undefined);
  // the schema's, but the legacy search tokens' (sessions written before session 14)
  for (const keys of LONG_INDEXES.slice(0, -1)) await sessions.createIndex(keys);
  // each way stores the appends of `ids` and notes, per append, when it was answered
  type Way = (ids: string[], answered: (count: number) => void) => Promise<unknown>;
  const bulk = (ids: string[], answered: (count: number) => void) =>
    sessions
      .bulkWrite(
        ids.map((id, index) => ({ updateOne: { filter: { _id: id, seq: 0 }, update: append(index) } })),
        { ordered: false },
      )
      .then(() => answered(ids.length));
  const ways: Record<string, Way> = {
    'findAndModify each': (ids, answered) =>
      Promise.all(
        ids.map((id, index) =>
          sessions
            .findOneAndUpdate({ _id: id, seq: 0 }, append(index), { returnDocument: 'after' })
            .then(() => answered(1)),
        ),
      ),
    'updateOne each': (ids, answered) =>
      Promise.all(
        ids.map((id, index) =>
          sessions.updateOne({ _id: id, seq: 0 }, append(index)).then(() => answered(1)),
        ),
      ),
    'bulks of 10, five at once': (ids, answered) =>
      Promise.all([0, 10, 20, 30, 40].map((start) => bulk(ids.slice(start, start + 10), answered))),
    'one bulk of 50': (ids, answered) => bulk(ids, answered),
  };
  const results = new Map<string, string[]>();
  for (let round = 0; round < Number(rounds); round++)
    for (const [name, way] of Object.entries(ways)) {
      const ids = Array.from({ length: USERS }, (_, index) => `${name.replace(/\W/g, '')}-${round}-${index}`);
      await sessions.insertMany(
        ids.map((id) => ({ _id: id, user_id: id, seq: 0, bytes: 0, messages: [], is_active: true })),
      );
      const times: number[] = [];
      const started = performance.now();
      await way(ids, (count) => {
        const at = performance.now() - started;
        for (let k = 0; k < count; k++) times.push(at);
      });
      results.set(name, [
        ...(results.get(name) ?? []),
        `${percentile(times, 0.5)} / ${percentile(times, 0.99)}`,
      ]);
    }
  for (const [name, rows] of results) console.log(`${name.padEnd(26)} p50 / p99 (ms): ${rows.join(',  ')}`);
  await client.close();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
