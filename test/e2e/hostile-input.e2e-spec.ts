import { testEnv } from '../helpers/env';
import { startAppProcess, type AppProcess } from '../helpers/process';
import { adminToken, uniqueUser, userToken } from '../helpers/tokens';
import { TestClient } from '../helpers/ws-client';
import { hostileAdminFrame, hostileRoomFrame } from '../fuzz/adversarial';
import { fuzzServer } from '../fuzz/frame-fuzzer';
import { getJson, type RunningApp, type SessionBody } from '../helpers/app';
import { api, createRoom, join, roomsSocket, say, type RoomFrame } from './rooms.helpers';

const nested = (depth: number, array: boolean): string =>
  array ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

// Frames an outside attack list sent with any valid user token; each stopped the whole process.
const CRASHERS: Array<[string, string]> = [
  ['constructor in metadata (56 bytes)', '{"type":"typing_indicator","metadata":{"constructor":1}}'],
  ['constructor in model_id', '{"type":"model_select","model_id":{"constructor":1}}'],
  ['constructor in seq[]', '{"type":"typing_indicator","seq":[{"constructor":1}]}'],
  ['constructor in error', '{"type":"typing_indicator","error":{"constructor":1}}'],
  [
    'metadata.constructor.prototype',
    '{"type":"typing_indicator","metadata":{"constructor":{"prototype":{}}}}',
  ],
  ['objects 6,000 deep', `{"type":"typing_indicator","metadata":${nested(6_000, false)}}`],
  ['objects 10,000 deep', `{"type":"typing_indicator","metadata":${nested(10_000, false)}}`],
  ['arrays 10,000 deep', `{"type":"typing_indicator","metadata":{"a":${nested(10_000, true)}}}`],
];

// Frames that break the WebSocket protocol itself, written on the TCP socket under a client that
// passed the upgrade: ws reports each as an 'error' on the server's socket and closes it with the
// code the protocol names. An 'error' nothing listens to would be thrown out of the process.
const MASK = [0x80, 0, 0, 0, 0];
const BROKEN_FRAMES: Array<[string, number[], number]> = [
  ['a text frame of invalid UTF-8', [0x81, 0x82, 0, 0, 0, 0, 0xff, 0xfe], 1007],
  ['a frame with RSV1 and no extension', [0xc1, ...MASK], 1002],
  ['a reserved opcode', [0x83, ...MASK], 1002],
  ['a fragmented ping', [0x09, ...MASK], 1002],
  ['an unmasked frame', [0x81, 0x02, 0x68, 0x69], 1002],
  ['a length past 2^53 - 1', [0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0], 1009],
];

// `npm run fuzz` runs the fuzz case alone with FUZZ_FRAMES=100000 (or more)
const FUZZ_FRAMES = Number(process.env.FUZZ_FRAMES ?? 3_000);

// The built server as production runs it: a frame that throws out of a handler ends the process.
describe('hostile frames against the server process (e2e)', () => {
  jest.setTimeout(180_000 + FUZZ_FRAMES * 10);
  let server: AppProcess;

  beforeAll(async () => {
    server = await startAppProcess(
      testEnv({
        LLM_PROVIDERS: JSON.stringify([{ id: 'demo', type: 'demo', delay_ms: 1 }]),
        // the fuzzes' frames get past the rate limits to the handlers behind them
        ROOM_RATE_LIMIT_MESSAGES_PER_SECOND: '1000',
        RATE_LIMIT_MESSAGES_PER_SECOND: '1000',
      }),
    );
  });

  afterAll(async () => {
    server.child.kill('SIGTERM');
    await server.exited;
  });

  const url = (user = uniqueUser()) => `ws://127.0.0.1:${server.port}/chat/ws?token=${userToken(user)}`;

  async function expectChatWorks(client: TestClient, clientId: string): Promise<void> {
    client.send({ type: 'user_message', client_id: clientId, content: 'still there?' });
    expect(await client.next((frame) => frame.type === 'ack' && frame.client_id === clientId)).toBeDefined();
    const { final } = await client.reply();
    expect(final.content).toBeTruthy();
  }

  it.each(CRASHERS)(
    'should answer %s with INVALID_MESSAGE and keep the socket and process',
    async (_, raw) => {
      const client = await TestClient.connect(url());
      await client.nextOfType('connection_status');
      client.socket.send(raw);
      const error = await client.nextOfType('error');
      expect(error.error).toMatchObject({ code: 'INVALID_MESSAGE', recoverable: true });
      await expectChatWorks(client, 'after-attack');
      expect(server.child.exitCode).toBeNull();
      await client.close();
    },
  );

  it.each(BROKEN_FRAMES)(
    'should close only the socket that sent %s (%#), with its code, on either socket path',
    async (_, bytes, code) => {
      for (const path of ['/chat/ws', '/ws/chat']) {
        const user = uniqueUser();
        const broken = await TestClient.connect(
          `ws://127.0.0.1:${server.port}${path}?token=${userToken(user)}`,
        );
        await broken.nextOfType('connection_status');
        // under the client's own framing: ws's private TCP socket
        (broken.socket as unknown as { _socket: { write(data: Buffer): void } })._socket.write(
          Buffer.from(bytes),
        );
        expect(await broken.closed).toBe(code);
      }
      expect(server.child.exitCode).toBeNull();
      const client = await TestClient.connect(url());
      await client.nextOfType('connection_status');
      await expectChatWorks(client, 'after-broken-frame');
      await client.close();
    },
  );

  it('should survive FUZZ_FRAMES (3,000 in npm test) fuzzed frames, answer each with at most one error, and still chat', async () => {
    const counts = await fuzzServer({
      url: () => url(),
      total: FUZZ_FRAMES,
      sockets: 6,
      seed: Number(process.env.FUZZ_SEED ?? 12),
    });
    expect(server.child.exitCode).toBeNull();
    expect(counts.sent).toBe(FUZZ_FRAMES);
    expect(counts.excessErrors).toBe(0);
    expect(counts.unanswered).toBe(0);
    // most hostile frames are refused; every refusal is an error frame, never a dropped socket
    expect(counts.errorFrames).toBeGreaterThan(FUZZ_FRAMES / 3);
    console.log(`fuzz: ${JSON.stringify(counts)}`);
    expect(counts.errorFrames).toBeLessThanOrEqual(counts.sent);
    const client = await TestClient.connect(url());
    await client.nextOfType('connection_status');
    await expectChatWorks(client, 'after-fuzz');
    await client.close();
    expect(server.output()).not.toContain('Maximum call stack');
    expect(server.output()).not.toContain('handler_crash');
  });

  // Room frames on /ws/chat, aimed at a real public room and a real message (each socket a user of
  // its own: they join it, chat, edit, react, read, open direct messages and ask @ai, with hostile
  // contents), then the room's stored messages are read back: seqs 1..head, once each.
  it('should survive FUZZ_FRAMES fuzzed room frames, answer each with at most one error, and keep the room whole', async () => {
    const app = { httpUrl: `http://127.0.0.1:${server.port}` } as RunningApp;
    const owner = uniqueUser('fuzz-owner');
    const ownerToken = userToken(owner);
    const roomId = await createRoom(app, ownerToken);
    const first = await roomsSocket(app, ownerToken);
    await join(first, roomId);
    const said = await say(first, roomId, 'the message the fuzz aims at', 'aimed');
    expect(said.type).toBe('ack');
    const frames = Math.max(1_500, Math.floor(FUZZ_FRAMES / 2));
    const counts = await fuzzServer({
      url: () => `ws://127.0.0.1:${server.port}/ws/chat?token=${userToken(uniqueUser('fuzz-room'))}`,
      total: frames,
      sockets: 6,
      seed: Number(process.env.FUZZ_SEED ?? 14),
      frames: hostileRoomFrame({ roomId, messageId: String(said.message_id), userId: owner }),
      probe: (id) => JSON.stringify({ type: 'heartbeat', client_id: id }),
    });
    console.log(`room fuzz: ${JSON.stringify(counts)}`);
    expect(server.child.exitCode).toBeNull();
    expect(counts.sent).toBe(frames);
    expect(counts.excessErrors).toBe(0);
    expect(counts.unanswered).toBe(0);
    expect(counts.errorFrames).toBeGreaterThan(frames / 4);
    // every message the room stored, newest page first: seqs without a gap or a double
    const seqs: number[] = [];
    let before: number | undefined;
    for (;;) {
      const page = await api<{ items: RoomFrame[] }>(
        app,
        ownerToken,
        'GET',
        `/rooms/${roomId}/messages?limit=100${before !== undefined ? `&before=${before}` : ''}`,
      );
      expect(page.status).toBe(200);
      if (page.body.items.length === 0) break;
      seqs.unshift(...page.body.items.map((item) => Number(item.seq)));
      before = Number(page.body.items[0].seq);
      if (before <= 1) break;
    }
    expect(seqs.length).toBeGreaterThan(1);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, index) => index + 1));
    // the room and the owner's socket still work
    expect((await say(first, roomId, 'still here', 'after-fuzz')).type).toBe('ack');
    await first.close();
    expect(server.output()).not.toContain('Maximum call stack');
    expect(server.output()).not.toContain('handler_crash');
  });

  // Admins' frames aimed at one user's session, from three admins at once (takeovers, releases,
  // replies, stops, edits, with hostile contents) while the user keeps writing: every message the
  // user had acked is stored once, and the session's seqs stay 1..n.
  it('should survive FUZZ_FRAMES fuzzed admin frames aimed at a session while its user writes, and lose nothing acked', async () => {
    const owner = uniqueUser('fuzz-user');
    const user = await TestClient.connect(url(owner));
    const sessionId = String((await user.nextOfType('connection_status')).session_id);
    const acked = new Set<string>();
    let writing = true;
    const writer = (async () => {
      for (let index = 0; writing; index++) {
        const clientId = `user-${index}`;
        user.send({ type: 'user_message', client_id: clientId, content: `message ${index}` });
        const answer = await user.next(
          (frame) => frame.client_id === clientId && (frame.type === 'ack' || frame.type === 'error'),
          10_000,
        );
        if (answer.type === 'ack') acked.add(clientId);
        await new Promise((resolve) => setTimeout(resolve, 40));
      }
    })();
    const admins = ['Ada', 'Grace', 'Hedy'];
    const frames = Math.max(1_500, Math.floor(FUZZ_FRAMES / 4));
    const counts = await fuzzServer({
      url: (index) =>
        `ws://127.0.0.1:${server.port}/chat/ws?token=${adminToken(`fuzz-${admins[index % admins.length]}`, admins[index % admins.length])}`,
      total: frames,
      sockets: 6,
      seed: Number(process.env.FUZZ_SEED ?? 15),
      frames: hostileAdminFrame(sessionId),
    });
    writing = false;
    await writer;
    console.log(`admin fuzz: ${JSON.stringify(counts)}, user messages acked: ${acked.size}`);
    expect(server.child.exitCode).toBeNull();
    expect(counts.sent).toBe(frames);
    expect(counts.excessErrors).toBe(0);
    expect(counts.unanswered).toBe(0);
    expect(acked.size).toBeGreaterThan(5);
    const stored = await getJson<SessionBody>(
      `http://127.0.0.1:${server.port}/chat/sessions/${sessionId}`,
      userToken(owner),
    );
    const seqs = stored.messages.map((message) => message.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    // the user's own messages (a reply carries the client_id of the message it answers)
    const mine = stored.messages.filter(
      (message) => message.type === 'user_message' && message.sender === 'user',
    );
    const lost = [...acked].filter((clientId) => !mine.some((message) => message.client_id === clientId));
    const doubled = mine.length - new Set(mine.map((message) => message.client_id)).size;
    expect({ lost, doubled }).toEqual({ lost: [], doubled: 0 });
    // One admin at a time (docs/protocol.md, "Takeover handoff"): in the log a join only after the
    // last one's leave, an admin's message only from the admin who holds the session, and on the
    // user's socket no piece of the model's reply between an admin_join and its admin_leave.
    const wrong: string[] = [];
    let holder: string | undefined;
    for (const message of stored.messages) {
      const name = String(message.metadata?.admin_name);
      if (message.type === 'admin_join') {
        if (holder !== undefined)
          wrong.push(`${message.seq}: ${name} joined while ${holder} held the session`);
        holder = name;
      } else if (message.type === 'admin_leave') {
        if (holder !== name) wrong.push(`${message.seq}: ${name} left while ${holder ?? 'nobody'} held it`);
        holder = undefined;
      } else if (message.sender === 'admin' && holder !== name)
        wrong.push(`${message.seq}: ${name} wrote while ${holder ?? 'nobody'} held the session`);
    }
    let assisted: string | undefined;
    for (const frame of user.frames) {
      const name = String(frame.metadata?.admin_name);
      if (frame.type === 'admin_join') assisted = name;
      else if (frame.type === 'admin_leave' && assisted === name) assisted = undefined;
      else if (frame.type === 'ai_response' && frame.metadata?.done === false && assisted !== undefined)
        wrong.push(
          `the model's delta (reply ${String(frame.id)}, offset ${String(frame.metadata?.offset)}) reached the user while ${assisted} assisted`,
        );
    }
    expect(wrong).toEqual([]);
    await user.close();
    expect(server.output()).not.toContain('handler_crash');
  });
});
