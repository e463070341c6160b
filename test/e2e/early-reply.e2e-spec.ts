import { startOpenAiFake, type OpenAiFake } from '../fakes/openai-fake';
import { getJson, startApp, type RunningApp, type SessionBody } from '../helpers/app';
import { testEnv } from '../helpers/env';
import { startAppProcess, type AppProcess } from '../helpers/process';
import { RedisServer } from '../helpers/redis-server';
import { StoreServer } from '../helpers/store-server';
import { adminToken, uniqueUser, userToken } from '../helpers/tokens';
import { TestClient, type Frame } from '../helpers/ws-client';

// A reply is started while its message is being stored (docs/protocol.md, "Early start"), and
// shown only once the store has it. The store is a FerretDB of the test's own, paused (SIGSTOP) so
// the append is provably in flight while the model is asked, and stopped to make the append fail.
describe('replies started while the message is stored (e2e)', () => {
  let store: StoreServer;
  let fake: OpenAiFake;
  let server: RunningApp;
  const signal = (name: NodeJS.Signals) => store.signal(name);

  beforeAll(async () => {
    store = await StoreServer.start('early-');
    fake = await startOpenAiFake({ chunkSize: 4, delayMs: 2 });
    server = await startApp({
      MONGODB_URI: store.uri('early'),
      LLM_PROVIDERS: JSON.stringify([
        { id: 'gpt', name: 'GPT', type: 'openai', endpoint: fake.url, api_key: 'sk-test', model: 'm' },
      ]),
    });
  });
  afterAll(async () => {
    store?.signal('SIGCONT');
    await server?.close();
    await fake?.close();
    store?.remove();
  });

  const isReplyFrame = (frame: Frame) => frame.type === 'ai_response' || frame.type === 'loading';

  it('should ask the model before the store answers, and show the reply only after the ack', async () => {
    const token = userToken(uniqueUser());
    const client = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    const status = await client.nextOfType('connection_status');
    client.send({ type: 'user_message', client_id: 'e1', content: 'first question' });
    await client.reply();
    // the title asked for after the first exchange
    await client.nextOfType('session_renamed');
    await fake.waitForRequests(2);
    const before = fake.requests.length;

    signal('SIGSTOP');
    try {
      client.send({ type: 'user_message', client_id: 'e2', content: 'second question' });
      // the model is asked while the append waits for the paused store
      await fake.waitForRequests(before + 1, 5000);
      await new Promise((resolve) => setTimeout(resolve, 300));
      // nothing of the turn reaches the client while its message is not stored: no ack, no reply
      expect(client.frames.filter((frame) => frame.client_id === 'e2')).toEqual([]);
    } finally {
      signal('SIGCONT');
    }
    const ack = await client.next((frame) => frame.type === 'ack' && frame.client_id === 'e2', 10_000);
    const { final, deltas } = await client.reply();
    expect(final.content).toBe('Echo: second question');
    expect(deltas).toBe(final.content);
    // every frame of the reply came after the ack
    const firstOfReply = client.frames.findIndex((frame) => isReplyFrame(frame) && frame.client_id === 'e2');
    expect(firstOfReply).toBeGreaterThan(client.frames.indexOf(ack));
    // the model saw the whole history, the new question last
    const body = fake.requests[before].body as { messages: Array<{ role: string; content: string }> };
    expect(body.messages.map((message) => message.content)).toEqual([
      'first question',
      'Echo: first question',
      'second question',
    ]);
    expect(fake.requests.length).toBe(before + 1);
    // stored once each, in order
    const session = await getJson<SessionBody>(
      `${server.httpUrl}/chat/sessions/${String(status.session_id)}`,
      token,
    );
    expect(session.messages.map((message) => message.content)).toEqual([
      'first question',
      'Echo: first question',
      'second question',
      'Echo: second question',
    ]);
    await client.close();
  });

  it('should drop the early reply unseen when the store fails, and answer the resend once', async () => {
    const token = userToken(uniqueUser());
    const client = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    const status = await client.nextOfType('connection_status');
    client.send({ type: 'user_message', client_id: 'f1', content: 'warm up' });
    await client.reply();
    await client.nextOfType('session_renamed');
    const before = fake.requests.length;
    const aborted = fake.aborted;
    // slow enough that the reply is still streaming when the append fails
    fake.script = { ...fake.script, delayMs: 3000 };

    signal('SIGSTOP');
    client.send({ type: 'user_message', client_id: 'f2', content: 'lost store' });
    await fake.waitForRequests(before + 1, 5000);
    // the store goes away for good: the pending append fails
    signal('SIGKILL');
    const error = await client.nextOfType('error', 20_000);
    expect(error.client_id).toBe('f2');
    expect(error.error?.recoverable).toBe(true);
    await fake.waitForAbort(aborted + 1, 5000);
    expect(client.frames.some((frame) => isReplyFrame(frame) && frame.client_id === 'f2')).toBe(false);

    fake.script = { ...fake.script, delayMs: 2 };
    store.stop();
    store.start();
    // the resend: stored once, answered once
    const deadline = Date.now() + 30_000;
    let acked: Frame | undefined;
    while (!acked && Date.now() < deadline) {
      client.send({ type: 'user_message', client_id: 'f2', content: 'lost store' });
      const answer = await client.next(
        (frame) => (frame.type === 'ack' || frame.type === 'error') && frame.client_id === 'f2',
        20_000,
      );
      if (answer.type === 'ack') acked = answer;
      else await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect(acked).toBeDefined();
    expect((await client.reply(20_000)).final.content).toBe('Echo: lost store');
    const session = await getJson<SessionBody>(
      `${server.httpUrl}/chat/sessions/${String(status.session_id)}`,
      token,
    );
    expect(session.messages.filter((message) => message.content === 'lost store')).toHaveLength(1);
    expect(session.messages.filter((message) => message.content === 'Echo: lost store')).toHaveLength(1);
    await client.close();
  });
});

// Two instances on one store and Redis: the instance that starts a reply early holds the session as
// it last wrote it; the other instance's writes make that copy stale, which the stored seq shows.
describe('a reply started early on a stale copy of the session (e2e)', () => {
  let redis: RedisServer;
  let fake: OpenAiFake;
  let first: AppProcess;
  let second: AppProcess;

  beforeAll(async () => {
    redis = await RedisServer.start();
    fake = await startOpenAiFake({ chunkSize: 4, delayMs: 2 });
    const env = testEnv({
      REDIS_URL: redis.url,
      LLM_PROVIDERS: JSON.stringify([
        { id: 'gpt', name: 'GPT', type: 'openai', endpoint: fake.url, api_key: 'sk-test', model: 'm' },
      ]),
    });
    [first, second] = await Promise.all([startAppProcess(env), startAppProcess(env)]);
  }, 60_000);
  afterAll(async () => {
    for (const server of [first, second]) {
      server?.child.kill('SIGTERM');
      await server?.exited;
    }
    await fake?.close();
    await redis?.kill();
  }, 30_000);

  it('should drop it unseen and answer from the stored history, once', async () => {
    const token = userToken(uniqueUser());
    const connect = async (server: AppProcess) => {
      const client = await TestClient.connect(`ws://127.0.0.1:${server.port}/chat/ws?token=${token}`);
      await client.nextOfType('connection_status');
      return client;
    };
    const here = await connect(first);
    here.send({ type: 'user_message', client_id: 's1', content: 'one' });
    await here.reply();
    await here.nextOfType('session_renamed');
    // the other device, on the other instance, adds a turn the first instance did not write
    const there = await connect(second);
    there.send({ type: 'user_message', client_id: 's2', content: 'two' });
    await there.reply();
    await here.next(
      (frame) =>
        frame.type === 'ai_response' && frame.metadata?.done === true && frame.content === 'Echo: two',
    );
    const before = fake.requests.length;

    here.send({ type: 'user_message', client_id: 's3', content: 'three' });
    const { final, deltas } = await here.reply();
    expect(final.content).toBe('Echo: three');
    expect(deltas).toBe(final.content);
    // the early request (on the copy without turn two) was asked and dropped unseen; the answer
    // that was shown saw the whole stored history
    const asked = fake.requests.slice(before).map((request) => {
      const body = request.body as { messages: Array<{ content: string }> };
      return body.messages.map((message) => message.content);
    });
    expect(asked).toContainEqual(['one', 'Echo: one', 'two', 'Echo: two', 'three']);
    expect(asked.filter((messages) => !messages.includes('two'))).toHaveLength(1);
    // one reply to `three`, shown once on each device
    const isThree = (frame: Frame) =>
      frame.type === 'ai_response' && frame.metadata?.done === true && frame.content === 'Echo: three';
    await there.next(isThree);
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const client of [here, there]) expect(client.frames.filter(isThree)).toHaveLength(1);
    await here.close();
    await there.close();
  });

  // The user's instance holds the session as its last write left it (no admin); the admin takes it
  // over on the other instance. The user's message during the takeover is the admin's: no request
  // of it may reach the vendor, early or not (the third black-box audit: asked early and cancelled,
  // 3 of 3 rounds; docs/protocol.md, "Early start").
  it('should not ask the model early about a message sent while an admin on the other instance assists', async () => {
    const token = userToken(uniqueUser());
    const user = await TestClient.connect(`ws://127.0.0.1:${first.port}/chat/ws?token=${token}`);
    const sessionId = (await user.nextOfType('connection_status')).session_id as string;
    user.send({ type: 'user_message', client_id: 't1', content: 'hello bot' });
    await user.reply();
    // the title's request too, before the count
    await user.nextOfType('session_renamed');
    const admin = await TestClient.connect(
      `ws://127.0.0.1:${second.port}/chat/ws?token=${adminToken(uniqueUser('admin'))}`,
    );
    await admin.nextOfType('connection_status');
    admin.send({ type: 'admin_join', session_id: sessionId, client_id: 'join' });
    await user.nextOfType('admin_join');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const before = fake.requests.length;
    user.send({ type: 'user_message', client_id: 't2', content: 'for the human only' });
    await user.next((frame) => frame.type === 'ack' && frame.client_id === 't2');
    await admin.next((frame) => frame.type === 'user_message' && frame.client_id === 't2');
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(fake.requests.slice(before)).toEqual([]);
    await Promise.all([user.close(), admin.close()]);
  });
});
