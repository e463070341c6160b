import { getJson, type MessageBody, type SessionBody } from '../helpers/app';
import { testEnv } from '../helpers/env';
import { startAppProcess, type AppProcess, stopInstances } from '../helpers/process';
import { RedisServer } from '../helpers/redis-server';
import { adminToken, uniqueUser, userToken } from '../helpers/tokens';
import { TestClient } from '../helpers/ws-client';
import { expectEveryEventOnce } from '../helpers/session-frames';

// Several instances: two built servers (dist/main.js) sharing MongoDB and a dedicated Redis. A user's
// devices and the assisting admin sit on different instances and still see every stored event once
// and in order; rate limits hold across instances; Redis going away and coming back loses nothing.
describe('several instances over Redis (e2e)', () => {
  let redis: RedisServer;
  let first: AppProcess;
  let second: AppProcess;
  const tokens: string[] = [];

  beforeAll(async () => {
    redis = await RedisServer.start();
    const env = testEnv({
      REDIS_URL: redis.url,
      LOG_LEVEL: 'info',
      RATE_LIMIT_MESSAGES_PER_SECOND: '20',
      LLM_PROVIDERS: JSON.stringify([
        { id: 'demo', type: 'demo', delay_ms: 2 },
        { id: 'slow', type: 'demo', delay_ms: 100 },
      ]),
    });
    [first, second] = await Promise.all([startAppProcess(env), startAppProcess(env)]);
  }, 60_000);

  afterAll(async () => {
    await stopInstances([first, second], redis);
  }, 30_000);

  const on = async (server: AppProcess, token: string, query = '') => {
    tokens.push(token);
    const client = await TestClient.connect(`ws://127.0.0.1:${server.port}/chat/ws?token=${token}${query}`);
    const status = await client.nextOfType('connection_status');
    return { client, sessionId: status.session_id as string, status };
  };
  const ready = (server: AppProcess) =>
    fetch(`http://127.0.0.1:${server.port}/chat/readyz`).then((response) => response.status);
  const waitUntil = async (check: () => Promise<boolean>, timeoutMs = 15_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error('condition not met in time');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  it('should carry a takeover across instances: user devices on both, the admin on the second', async () => {
    const userId = uniqueUser();
    const token = userToken(userId);
    const phone = await on(first, token);
    const laptop = await on(second, token);
    expect(laptop.sessionId).toBe(phone.sessionId);
    const admin = await on(second, adminToken(uniqueUser('admin'), 'Remote Admin'));

    // the user types the instant admin_join arrives, on the other instance than the admin's: the
    // typing, never stored, reaches the admin over the bus (the contract audit of session 42 found
    // the first one dropped on one instance, 45 of 45 rounds: docs/protocol.md, "Takeover handoff")
    phone.client.socket.once('message', function typed(data) {
      if (data.toString().includes('"type":"admin_join"'))
        phone.client.send({ type: 'typing_indicator', metadata: { typing: true } });
      else phone.client.socket.once('message', typed);
    });
    admin.client.send({ type: 'admin_join', session_id: phone.sessionId, client_id: 'join' });
    await admin.client.next((frame) => frame.type === 'ack' && frame.client_id === 'join');
    expect((await phone.client.nextOfType('admin_join')).metadata?.admin_name).toBe('Remote Admin');
    const early = () => admin.client.frames.find((frame) => frame.type === 'typing_indicator');
    await waitUntil(async () => early() !== undefined, 2_000);
    expect(early()?.sender).toBe('user');

    // alternate user (instance 1) and admin (instance 2), 10 each, each waiting for its ack
    for (let round = 0; round < 10; round++) {
      phone.client.send({ type: 'user_message', client_id: `u${round}`, content: `user says ${round}` });
      await phone.client.next((frame) => frame.type === 'ack' && frame.client_id === `u${round}`);
      admin.client.send({ type: 'user_message', client_id: `a${round}`, content: `admin says ${round}` });
      await admin.client.next((frame) => frame.type === 'ack' && frame.client_id === `a${round}`);
    }
    const last = 1 + 20;
    const has = (client: TestClient, clientId: string) =>
      client.frames.some((frame) => frame.client_id === clientId && frame.type === 'user_message');
    await waitUntil(
      async () => has(phone.client, 'a9') && has(laptop.client, 'a9') && has(admin.client, 'u9'),
    );
    for (const client of [phone.client, laptop.client]) expectEveryEventOnce(client, 1, last);
    expectEveryEventOnce(admin.client, 2, last);
    const fromAdmin = phone.client.frames.filter(
      (frame) => frame.sender === 'admin' && frame.type === 'user_message',
    );
    expect(fromAdmin.map((frame) => frame.content)).toEqual(
      Array.from({ length: 10 }, (_, k) => `admin says ${k}`),
    );
    // no LLM while assisted, on either instance
    expect(phone.client.frames.some((frame) => frame.type === 'ai_response')).toBe(false);

    laptop.client.send({ type: 'typing_indicator', metadata: { typing: true } });
    const typing = await admin.client.next((frame) => frame.type === 'typing_indicator' && frame !== early());
    expect(typing.sender).toBe('user');
    admin.client.send({ type: 'typing_indicator', metadata: { typing: true } });
    expect((await phone.client.nextOfType('typing_indicator')).sender).toBe('admin');

    admin.client.send({ type: 'admin_leave', session_id: phone.sessionId, client_id: 'leave' });
    expect((await phone.client.nextOfType('admin_leave')).metadata?.reason).toBe('released');
    phone.client.send({ type: 'user_message', client_id: 'after', content: 'back to the bot' });
    const { final } = await laptop.client.reply();
    expect(final).toMatchObject({ sender: 'ai', client_id: 'after' });
    for (const client of [phone, laptop, admin]) await client.client.close();
  });

  it('should let exactly one of 20 admins on two instances claim a session', async () => {
    const user = await on(first, userToken(uniqueUser()));
    const admins = await Promise.all(
      Array.from({ length: 20 }, (_, index) =>
        on(index % 2 === 0 ? first : second, adminToken(uniqueUser('racer'), `Racer ${index}`)),
      ),
    );
    admins.forEach((admin, index) =>
      admin.client.send({ type: 'admin_join', session_id: user.sessionId, client_id: `r${index}` }),
    );
    const outcomes = await Promise.all(
      admins.map((admin) => admin.client.next((frame) => frame.type === 'error' || frame.type === 'ack')),
    );
    expect(outcomes.filter((frame) => frame.type === 'ack')).toHaveLength(1);
    expect(outcomes.filter((frame) => frame.error?.code === 'SESSION_LOCKED')).toHaveLength(19);
    for (const client of [user, ...admins]) await client.client.close();
  });

  // The timers audit had 19 of 20 messages acked within 154 ms: the budget was a fixed window of a
  // second from the user's first frame, spent whole at its end and whole again at the next one's
  // start. A cell rate lets through at most the budget and then one every 50 ms (20 a second here),
  // however the frames fall: here one frame, then 900 ms on a burst of 30 and 150 ms later another,
  // half of each on each instance. The fixed window acked 19 + 20 of the 60.
  it('should not let twice the budget through within a moment, on either instance', async () => {
    const token = userToken(uniqueUser());
    const one = await on(first, token);
    const two = await on(second, token);
    const answers = (prefix: string) =>
      [...one.client.frames, ...two.client.frames].filter(
        (frame) =>
          (frame.type === 'ack' || frame.type === 'error') && String(frame.client_id).startsWith(prefix),
      );
    const until = async (done: () => boolean) => {
      const deadline = Date.now() + 15_000;
      while (!done()) {
        if (Date.now() > deadline) throw new Error('not every frame was answered');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    one.client.send({ type: 'model_select', model_id: 'demo', client_id: 'w0' });
    await until(() => answers('w').length === 1);
    await new Promise((resolve) => setTimeout(resolve, 900));
    const started = Date.now();
    const burst = (name: string) => {
      for (let k = 0; k < 15; k++) {
        one.client.send({ type: 'model_select', model_id: 'demo', client_id: `${name}${k}` });
        two.client.send({ type: 'model_select', model_id: 'demo', client_id: `${name}${k + 15}` });
      }
    };
    burst('x');
    await new Promise((resolve) => setTimeout(resolve, 150));
    burst('y');
    await until(() => answers('x').length + answers('y').length === 60);
    const elapsed = Date.now() - started;
    const acked = [...answers('x'), ...answers('y')].filter((frame) => frame.type === 'ack').length;
    console.log(`budget across a moment: ${acked} of 60 acked in ${elapsed} ms`);
    expect(acked).toBeGreaterThanOrEqual(20);
    expect(acked).toBeLessThanOrEqual(20 + Math.floor(elapsed / 50));
    await Promise.all([one.client.close(), two.client.close()]);
  });

  it('should count one rate limit for a user across both instances', async () => {
    const token = userToken(uniqueUser());
    const one = await on(first, token);
    const two = await on(second, token);
    // 15 + 15 at once: each instance alone would allow its 15, the shared budget is 20 at once and
    // one more every 50 ms (a cell rate: docs/protocol.md, "Rate limits")
    const started = Date.now();
    for (let k = 0; k < 15; k++) {
      one.client.send({ type: 'model_select', model_id: 'demo', client_id: `a${k}` });
      two.client.send({ type: 'model_select', model_id: 'demo', client_id: `b${k}` });
    }
    const answered = (client: typeof one.client, prefix: string) =>
      client.next(
        () =>
          client.frames.filter(
            (frame) =>
              (frame.type === 'ack' || frame.type === 'error') && String(frame.client_id).startsWith(prefix),
          ).length >= 15,
        10_000,
      );
    await Promise.all([answered(one.client, 'a'), answered(two.client, 'b')]);
    const elapsed = Date.now() - started;
    const frames = [...one.client.frames, ...two.client.frames];
    const limited = frames.filter((frame) => frame.error?.code === 'RATE_LIMITED');
    const acked = frames.filter((frame) => frame.type === 'ack' && /^[ab]\d+$/.test(String(frame.client_id)));
    expect(limited.length).toBeGreaterThan(0);
    expect(acked.length + limited.length).toBe(30);
    expect(acked.length).toBeLessThanOrEqual(20 + Math.floor(elapsed / 50));
    await Promise.all([one.client.close(), two.client.close()]);
  });

  it('should move every device of the user to the new session when new_session comes from another instance', async () => {
    const token = userToken(uniqueUser());
    const one = await on(first, token);
    const two = await on(second, token);
    one.client.send({ type: 'new_session', client_id: 'fresh' });
    const moved = await two.client.next((frame) => frame.type === 'connection_status');
    expect(moved.session_id).not.toBe(two.sessionId);
    two.client.send({ type: 'user_message', client_id: 'in-new', content: 'hello new session' });
    const ack = await two.client.next((frame) => frame.type === 'ack' && frame.client_id === 'in-new');
    expect(ack.session_id).toBe(moved.session_id);
    const echoed = await one.client.next(
      (frame) => frame.client_id === 'in-new' && frame.type === 'user_message',
    );
    expect(echoed.session_id).toBe(moved.session_id);
    await Promise.all([one.client.close(), two.client.close()]);
  });

  // a user's phone on the first instance, its laptop on the second, and a slow reply to the phone's
  // question streaming on the first, seen on the laptop
  const streamingOnFirst = async () => {
    const token = userToken(uniqueUser());
    const phone = await on(first, token);
    const laptop = await on(second, token);
    phone.client.send({ type: 'model_select', model_id: 'slow' });
    await phone.client.nextOfType('model_select');
    phone.client.send({ type: 'user_message', client_id: 'long', content: 'a long answer please' });
    await laptop.client.next((frame) => frame.type === 'ai_response' && frame.metadata?.done === false);
    return { token, phone, laptop };
  };

  it("should stop the reply from the user's device on the other instance", async () => {
    const { phone, laptop } = await streamingOnFirst();
    laptop.client.send({ type: 'stop_generation', client_id: 'stop' });
    expect(await laptop.client.next((frame) => frame.client_id === 'stop')).toMatchObject({ type: 'ack' });
    const { final } = await phone.client.reply();
    expect(final.metadata?.stopped).toBe(true);
    // stopped long before its ~30 words at 100 ms each
    expect(final.content?.split(' ').length).toBeLessThan(20);
    await Promise.all([phone.client.close(), laptop.client.close()]);
  });

  // new_session stops the reply of the session it ends wherever that reply streams, as
  // stop_generation does (docs/protocol.md, "The reply in flight"). Until the audit it stopped only a
  // reply streaming on the instance of the device that sent it: one on the other instance ran to its
  // end and was stored complete.
  it("should stop the reply streaming on the other instance when new_session comes from the user's device here", async () => {
    const { token, phone, laptop } = await streamingOnFirst();
    laptop.client.send({ type: 'new_session', client_id: 'fresh' });
    await laptop.client.next((frame) => frame.type === 'ack' && frame.client_id === 'fresh');
    let replies: MessageBody[] = [];
    await waitUntil(async () => {
      const session = await getJson<SessionBody>(
        `http://127.0.0.1:${first.port}/chat/sessions/${phone.sessionId}`,
        token,
      );
      replies = session.messages.filter((message) => message.type === 'ai_response');
      return replies.length > 0;
    });
    expect(replies).toHaveLength(1);
    expect(replies[0].metadata?.stopped).toBe(true);
    // stopped long before its ~30 words at 100 ms each
    expect(replies[0].content?.split(' ').length).toBeLessThan(20);
    await Promise.all([phone.client.close(), laptop.client.close()]);
  });

  // Every frame of a session carries seq, and on one socket it never goes back (CONTRACT §2): acks
  // and typing indicators made on the instance that had not stored the latest event carried the seq
  // before it.
  it('should never send a socket a session frame with a seq below what it was shown, whichever instance made it', async () => {
    const phone = await on(first, userToken(uniqueUser()));
    const admin = await on(second, adminToken(uniqueUser('admin')));
    admin.client.send({ type: 'admin_join', session_id: phone.sessionId, client_id: 'join' });
    await admin.client.next((frame) => frame.type === 'ack' && frame.client_id === 'join');
    await phone.client.nextOfType('admin_join');
    phone.client.send({ type: 'user_message', client_id: 'u1', content: 'hi admin' });
    await phone.client.next((frame) => frame.type === 'ack' && frame.client_id === 'u1');
    await admin.client.next((frame) => frame.type === 'user_message' && frame.client_id === 'u1');
    admin.client.send({
      type: 'typing_indicator',
      session_id: phone.sessionId,
      metadata: { typing: true },
      client_id: 't1',
    });
    await phone.client.nextOfType('typing_indicator');
    await admin.client.next((frame) => frame.type === 'ack' && frame.client_id === 't1');
    phone.client.send({ type: 'typing_indicator', metadata: { typing: true }, client_id: 't2' });
    await admin.client.nextOfType('typing_indicator');
    await phone.client.next((frame) => frame.type === 'ack' && frame.client_id === 't2');
    for (const socket of [phone.client, admin.client]) {
      const seqs = socket.frames
        .filter((frame) => frame.session_id === phone.sessionId && typeof frame.seq === 'number')
        .map((frame) => `${frame.type}:${String(frame.seq)}`);
      const backwards = seqs.filter((entry, index) => {
        const seq = Number(entry.split(':')[1]);
        return seqs.slice(0, index).some((earlier) => Number(earlier.split(':')[1]) > seq);
      });
      expect({ seqs, backwards }).toEqual({ seqs, backwards: [] });
    }
    admin.client.send({ type: 'admin_leave', session_id: phone.sessionId, client_id: 'leave' });
    await admin.client.next((frame) => frame.type === 'ack' && frame.client_id === 'leave');
    await Promise.all([phone.client.close(), admin.client.close()]);
  });

  // A socket that resumes a session mid-reply on the other instance is shown the reply's text so
  // far, then its live pieces (CONTRACT §2): it was shown only the pieces from then on.
  it('should show a device resuming mid-reply on the other instance the text so far, then the rest, each piece once', async () => {
    const token = userToken(uniqueUser());
    const phone = await on(first, token);
    phone.client.send({ type: 'model_select', model_id: 'slow' });
    await phone.client.nextOfType('model_select');
    phone.client.send({ type: 'user_message', client_id: 'slowly', content: 'tell me slowly' });
    const ack = await phone.client.next((frame) => frame.type === 'ack' && frame.client_id === 'slowly');
    // a few pieces streamed on the first instance
    for (let piece = 0; piece < 4; piece++)
      await phone.client.next((frame) => frame.type === 'ai_response' && frame.metadata?.done === false);
    const laptop = await on(second, token, `&session_id=${phone.sessionId}&last_seq=${String(ack.seq)}`);
    const first_ = await laptop.client.next((frame) => frame.type === 'ai_response');
    expect(first_.metadata).toMatchObject({ offset: 0, done: false, resumed: true });
    expect(String(first_.metadata?.delta).length).toBeGreaterThan(0);
    // the pieces after it continue where it ended: none missed, none twice
    let text = String(first_.metadata?.delta);
    for (;;) {
      const frame = await laptop.client.next((candidate) => candidate.type === 'ai_response', 10_000);
      if (frame.metadata?.done === true) {
        expect(frame.content).toBe(text);
        break;
      }
      expect(frame.metadata?.offset).toBe(text.length);
      text += String(frame.metadata?.delta);
    }
    await Promise.all([phone.client.close(), laptop.client.close()]);
  });

  // The admin's instance logs admin_join once no reply of the session shown anywhere is still being
  // stored. The user's instance held its reply lease for every reply asked for there, queued ones
  // too: a user writing on there through the wait (each message stored before the join asking for a
  // reply, each cut by the takeover before its first piece) held the join back for the whole 11 s.
  it("should not hold an admin's join back while the user writes on another instance", async () => {
    const token = userToken(uniqueUser());
    const phone = await on(first, token);
    phone.client.send({ type: 'model_select', model_id: 'slow' });
    await phone.client.nextOfType('model_select');
    phone.client.send({ type: 'user_message', client_id: 'w0', content: 'a long answer please' });
    await phone.client.next((frame) => frame.type === 'ai_response' && frame.metadata?.done === false);
    const admin = await on(second, adminToken(uniqueUser('admin')));
    let joined = false;
    let sent = 1;
    const writing = (async () => {
      while (!joined && sent < 200) {
        phone.client.send({ type: 'user_message', client_id: `w${sent++}`, content: 'still there?' });
        await new Promise((resolve) => setTimeout(resolve, 60));
      }
    })();
    const asked = Date.now();
    admin.client.send({ type: 'admin_join', session_id: phone.sessionId, client_id: 'join' });
    await admin.client.next((frame) => frame.type === 'admin_join', 15_000);
    const waitedMs = Date.now() - asked;
    joined = true;
    await writing;
    // well inside the fuzz's 5 s for an answer (it waited the whole 11 s)
    expect(waitedMs).toBeLessThan(5_000);
    // the model said nothing after the join, and every message the user sent is stored once
    const stored = await fetch(`http://127.0.0.1:${first.port}/chat/sessions/${phone.sessionId}`, {
      headers: { authorization: `Bearer ${token}` },
    }).then((response) => response.json() as Promise<{ messages: { type: string; client_id?: string }[] }>);
    const types = stored.messages.map((message) => message.type);
    expect(types.slice(types.indexOf('admin_join')).includes('ai_response')).toBe(false);
    const users = stored.messages.filter((message) => message.type === 'user_message');
    expect(new Set(users.map((message) => message.client_id)).size).toBe(users.length);
    await Promise.all([phone.client.close(), admin.client.close()]);
  });

  // Found by the search/history black-box audit in session 42 (3–9 messages per run stored with a
  // later seq and an earlier timestamp, by up to 2.6 s; the paging below showed the session twice in
  // 10–15 of 400 rounds): a message was stamped on arrival, before it waited for the session lock
  // behind the other instance's appends, and last_activity was set to that stamp
  // (docs/protocol.md, "Session library": activity only moves a session up).
  it('should move a session written from both instances only forward in time: seq order is time order, a paging never shows it twice', async () => {
    const token = userToken(uniqueUser());
    const phone = await on(first, token);
    phone.client.send({ type: 'new_session', client_id: 'fresh' });
    const sessionId = String(
      (await phone.client.next((frame) => frame.type === 'connection_status')).session_id,
    );
    const laptop = await on(second, token);
    expect(laptop.sessionId).toBe(sessionId);
    let writing = true;
    const write = async (client: TestClient, prefix: string) => {
      for (let index = 0; writing; index++) {
        client.send({ type: 'user_message', client_id: `${prefix}${index}`, content: `note ${index}` });
        await new Promise((resolve) => setTimeout(resolve, 120));
      }
    };
    const writers = Promise.all([write(phone.client, 'p'), write(laptop.client, 'l')]);
    const base = `http://127.0.0.1:${first.port}`;
    const twice: string[] = [];
    let rounds = 0;
    for (const deadline = Date.now() + 5_000; Date.now() < deadline; rounds++) {
      const page = await fetch(`${base}/chat/sessions?limit=1`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const [top] = (await page.json()) as Array<{ id: string }>;
      const next = /^<([^>]+)>/.exec(page.headers.get('link') ?? '')?.[1] as string;
      const after = await getJson<Array<{ id: string }>>(`${base}${next}`, token);
      if (after.some((session) => session.id === top.id)) twice.push(`round ${rounds}: ${next}`);
    }
    writing = false;
    await writers;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const stored = await getJson<{ messages: Array<{ seq: number; type: string; timestamp: string }> }>(
      `${base}/chat/sessions/${sessionId}`,
      token,
    );
    const backwards = stored.messages
      .filter((message, index) => index > 0 && message.timestamp < stored.messages[index - 1].timestamp)
      .map((message) => `${message.seq} ${message.type} ${message.timestamp}`);
    expect(stored.messages.length).toBeGreaterThan(40);
    expect({ rounds: rounds > 50, twice, backwards }).toEqual({ rounds: true, twice: [], backwards: [] });
    await Promise.all([phone.client.close(), laptop.client.close()]);
  }, 30_000);

  it('should report Redis down on readiness and lose no message when it comes back', async () => {
    const token = userToken(uniqueUser());
    const one = await on(first, token);
    const two = await on(second, token);
    expect(await ready(first)).toBe(200);

    await redis.kill();
    await waitUntil(async () => (await ready(first)) === 503 && (await ready(second)) === 503);

    // stored and acked while the instances cannot tell each other (the first after the session
    // lock's quiet time: no key is taken for its 5 s lifetime after Redis is lost, docs/protocol.md)
    for (let k = 0; k < 3; k++) {
      one.client.send({
        type: 'user_message',
        client_id: `down${k}`,
        content: `sent while redis is down ${k}`,
      });
      await one.client.next((frame) => frame.type === 'ack' && frame.client_id === `down${k}`, 10_000);
      await one.client.next((frame) => frame.type === 'ai_response' && frame.metadata?.done === true, 10_000);
    }
    await redis.restart();
    await waitUntil(async () => (await ready(first)) === 200 && (await ready(second)) === 200);
    // the device on the other instance catches up: 3 messages and 3 replies, each once, in order
    await two.client.next(
      (frame) => frame.type === 'ai_response' && frame.metadata?.done === true && frame.client_id === 'down2',
      15_000,
    );
    expectEveryEventOnce(two.client, 1, 6);
    expect(
      two.client.frames.filter((frame) => frame.type === 'user_message').map((frame) => frame.content),
    ).toEqual([0, 1, 2].map((k) => `sent while redis is down ${k}`));

    // and live again both ways
    two.client.send({ type: 'user_message', client_id: 'live', content: 'redis is back' });
    await one.client.next((frame) => frame.client_id === 'live' && frame.type === 'user_message');
    await Promise.all([one.client.close(), two.client.close()]);
  }, 60_000);

  it('should keep tokens and message text out of both servers’ logs', () => {
    const logs = first.output() + second.output();
    for (const token of tokens) expect(logs).not.toContain(token);
    expect(logs).not.toContain('admin says');
    expect(logs).not.toContain('sent while redis is down');
    expect(logs).toContain('"event":"takeover_started"');
  });
});

// Crashes are reported by the instances that survive: a SIGKILLed server stops beating without
// removing its beat; a SIGTERMed one removes it on the way out and is never reported.
describe('crash alerts between instances (e2e)', () => {
  it('should report a killed instance once and a cleanly stopped one never', async () => {
    const env = testEnv({ HEALTH_WATCH_INTERVAL: '2s', LOG_LEVEL: 'warn' });
    const [survivor, victim, leaver] = await Promise.all([
      startAppProcess(env),
      startAppProcess(env),
      startAppProcess(env),
    ]);
    try {
      // past boot, when a starved event loop could miss beats; only reports after the kills count
      await new Promise((resolve) => setTimeout(resolve, 2500));
      const before = survivor.output().length;
      leaver.child.kill('SIGTERM');
      expect(await leaver.exited).toBe(0);
      victim.child.kill('SIGKILL');
      await victim.exited;
      const reported = () =>
        survivor
          .output()
          .slice(before)
          .split('\n')
          .filter((line) => line.includes('"event":"alert"') && line.includes('"type":"crash"'))
          .map((line) => Number(/\(pid (\d+)\)/.exec(line)?.[1]));
      // silent for 3 intervals (6 s), seen at the next check
      const deadline = Date.now() + 15_000;
      while (!reported().includes(victim.child.pid as number) && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 200));
      await new Promise((resolve) => setTimeout(resolve, 2500));
      expect(reported().filter((pid) => pid === victim.child.pid)).toHaveLength(1);
      expect(reported()).not.toContain(leaver.child.pid);
    } finally {
      survivor.child.kill('SIGTERM');
      await survivor.exited;
    }
  }, 60_000);
});
