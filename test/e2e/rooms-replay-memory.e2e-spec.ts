import { MongoClient } from 'mongodb';
import WebSocket from 'ws';
import { ContentCipher } from '../../src/common/crypto/content-cipher';
import { mongoUri, TEST_ENCRYPTION_KEY, testEnv } from '../helpers/env';
import { rssOf, startAppProcess, type AppProcess } from '../helpers/process';
import { uniqueUser, userToken } from '../helpers/tokens';

const MiB = 1024 * 1024;
const MESSAGES = 10_000;
// 4,090 CJK characters: 12 KB of UTF-8 each, 120 MB in all, as the audit seeded its room
const CONTENT = '中'.repeat(4_090);
// what two joins of the whole room at once may grow the server's heap and its memory by: before the
// fix one such join grew the heap by 262 MB and the process died at its 256 MB old generation; paged,
// two grew it by 4–21 MiB (docs/protocol.md, "Join replays"). Its memory grows more, the first time
// (the allocator keeps what the garbage of the pages took before each collection), and stays there:
// by 134–177 MiB, which keeps a server of ~200 MiB under its pod's 512 MiB.
const HEAP_BOUND = 64 * MiB;
const RSS_BOUND = 256 * MiB;

interface Reader {
  socket: WebSocket;
  seqs: number[];
  joined?: { seq: number; replayed: number };
  closeCode?: number;
}

// A socket that reads a room's `chat` frames as they come, keeping only their seqs (the test's own
// memory stays small), and the `join` frame.
function reader(url: string, roomId: string): Promise<Reader> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    const state: Reader = { socket, seqs: [] };
    socket.on('message', (data: Buffer) => {
      // a message's seq is near the start of its frame: only the start is read, as the test reads
      // 240 MB of frames
      const start = data.subarray(0, 512).toString();
      if (!start.includes(`"room_id":"${roomId}"`)) return;
      if (start.startsWith('{"type":"chat"')) state.seqs.push(Number(/"seq":(\d+)/.exec(start)?.[1]));
      if (start.startsWith('{"type":"join"')) {
        const frame = JSON.parse(data.toString()) as { seq: number; metadata: { replayed: number } };
        state.joined = { seq: frame.seq, replayed: frame.metadata.replayed };
      }
    });
    socket.on('close', (code) => (state.closeCode = code));
    socket.once('open', () => resolve(state));
    socket.once('error', reject);
  });
}

async function heapUsed(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return Number(/^nodejs_heap_size_used_bytes (\S+)$/m.exec(text)?.[1] ?? NaN);
}

// A join with last_seq 0 of a room holding many long messages read every message of it at once
// (10,000 at most), decrypted and framed, and sent them all: one user's join grew a server by 262 MB
// of heap and 410 MB of memory, past its pod's 512 MiB, and with the pod's 256 MB old generation the
// process died (a black-box attacker audit). The replay is read and sent a page at a time as the
// socket takes it now (docs/protocol.md, "Join replays"). Both sockets carry room frames: /ws/chat
// and the AI chat's /chat/ws.
describe('rooms: a join replaying a large room (e2e)', () => {
  jest.setTimeout(120_000);
  const uri = mongoUri();
  let server: AppProcess;
  let store: MongoClient;
  let roomId: string;
  let head: number;
  // the two who join the room: members before its messages are written (their joins then add none)
  const joiners = [userToken(uniqueUser()), userToken(uniqueUser())];

  beforeAll(async () => {
    server = await startAppProcess(
      testEnv({ MONGODB_URI: uri, NODE_OPTIONS: '--max-old-space-size=256', LOG_LEVEL: 'error' }),
    );
    const owner = userToken(uniqueUser());
    const created = await fetch(`http://127.0.0.1:${server.port}/api/v1/chat/rooms`, {
      method: 'POST',
      headers: { authorization: `Bearer ${owner}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'a busy public room', kind: 'public' }),
    });
    roomId = ((await created.json()) as { id: string }).id;
    for (const token of joiners)
      await fetch(`http://127.0.0.1:${server.port}/api/v1/chat/rooms/${roomId}/join`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
      });
    // the room's messages written to the store as the server writes them (encrypted with its key),
    // a thousand at a time: sent one by one through the server they took 33 s
    store = await MongoClient.connect(uri);
    const messages = store.db().collection('chat_messages');
    const first =
      ((await messages.find({ room_id: roomId }).sort({ seq: -1 }).limit(1).next())?.seq as number) ?? 0;
    const content = new ContentCipher(Buffer.from(TEST_ENCRYPTION_KEY, 'base64')).encrypt(CONTENT);
    const at = new Date();
    for (let from = first + 1; from <= first + MESSAGES; from += 1_000) {
      const documents = Array.from({ length: Math.min(1_000, first + MESSAGES + 1 - from) }, (_, index) => {
        const seq = from + index;
        return {
          _id: `${roomId}-seeded-${seq}`,
          room_id: roomId,
          seq,
          sender_id: 'seeder',
          kind: 'text',
          dedup_key: `${roomId}|#seeded-${seq}`,
          created_at: at,
          edited_at: null,
          deleted_at: null,
          deleted_by: null,
          content,
        };
      });
      await messages.insertMany(documents as never[], { ordered: false });
    }
    head = first + MESSAGES;
    await store
      .db()
      .collection('chat_rooms')
      .updateOne({ _id: roomId as never }, { $max: { last_seq: head, last_message_at: at } });
  });

  afterAll(async () => {
    await store?.close();
    server?.child.kill('SIGTERM');
    await server?.exited;
  });

  it('should replay every message of a 120 MB room to two joins at once, in order, in bounded memory', async () => {
    const pid = server.child.pid as number;
    const wsUrl = `ws://127.0.0.1:${server.port}`;
    const readers = await Promise.all([
      reader(`${wsUrl}/ws/chat?token=${joiners[0]}`, roomId),
      reader(`${wsUrl}/chat/ws?token=${joiners[1]}`, roomId),
    ]);
    const heapBefore = await heapUsed(server.port);
    const rssBefore = rssOf(pid);
    let heapPeak = heapBefore;
    let rssPeak = rssBefore;
    let sampling = true;
    const heapSamples = (async () => {
      while (sampling) {
        heapPeak = Math.max(heapPeak, await heapUsed(server.port).catch(() => Infinity));
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    const rssWatch = setInterval(() => {
      if (server.child.exitCode === null) rssPeak = Math.max(rssPeak, rssOf(pid));
    }, 20);
    const startedAt = Date.now();
    try {
      for (const each of readers)
        each.socket.send(JSON.stringify({ type: 'join', room_id: roomId, last_seq: 0 }));
      const deadline = Date.now() + 90_000;
      while (
        readers.some((each) => each.joined === undefined && each.closeCode === undefined) &&
        server.child.exitCode === null &&
        Date.now() < deadline
      )
        await new Promise((resolve) => setTimeout(resolve, 100));
    } finally {
      sampling = false;
      clearInterval(rssWatch);
      await heapSamples;
    }
    const heapGrowth = heapPeak - heapBefore;
    const rssGrowth = rssPeak - rssBefore;
    process.stdout.write(
      `replay of ${MESSAGES} messages to 2 sockets: ${Date.now() - startedAt} ms, heap +${(heapGrowth / MiB).toFixed(0)} MiB, rss +${(rssGrowth / MiB).toFixed(0)} MiB\n`,
    );
    const closeCodes = readers.map((each) => each.closeCode);
    for (const each of readers) each.socket.terminate();
    // the server is up (before the fix it had died of its heap limit)
    expect((await fetch(`http://127.0.0.1:${server.port}/chat/readyz`)).status).toBe(200);
    expect(closeCodes).toEqual([undefined, undefined]);
    const every = Array.from({ length: head }, (_, index) => index + 1);
    for (const each of readers) {
      // every message once, in seq order, then the join frame standing at the last
      expect(each.seqs).toEqual(every);
      expect(each.joined).toEqual({ seq: head, replayed: head });
    }
    expect(heapGrowth).toBeLessThan(HEAP_BOUND);
    expect(rssGrowth).toBeLessThan(RSS_BOUND);
  });
});
