import { getJson, type SessionBody } from '../helpers/app';
import { testEnv } from '../helpers/env';
import { startAppProcess, type AppProcess } from '../helpers/process';
import { RedisServer } from '../helpers/redis-server';
import { uniqueUser, userToken } from '../helpers/tokens';
import { sessionSocket, TestClient, type Frame } from '../helpers/ws-client';

// A session's replies run one at a time across instances (docs/protocol.md, "Every acked turn
// ends") while Redis, where the reply lease lives, freezes or restarts beside a reply in flight. The
// CI chaos run of session 33 saw one reply's pieces interleaved with another's on a device: a turn
// on the other instance ran at once when Redis could not be read, or once its restart had lost the
// lease of the reply streaming.
describe('turns of one session on two instances while Redis freezes or restarts (e2e)', () => {
  jest.setTimeout(90_000);
  let redis: RedisServer;
  let first: AppProcess;
  let second: AppProcess;

  beforeAll(async () => {
    redis = await RedisServer.start();
    // a long question: ~120 pieces of 60 ms, a reply of ~7 s
    const env = testEnv({
      REDIS_URL: redis.url,
      LLM_PROVIDERS: JSON.stringify([{ id: 'demo', name: 'Demo', type: 'demo', delay_ms: 60 }]),
    });
    [first, second] = await Promise.all([startAppProcess(env), startAppProcess(env)]);
  }, 60_000);
  afterAll(async () => {
    redis?.signal('SIGCONT');
    for (const server of [first, second]) {
      server?.child.kill('SIGTERM');
      await server?.exited;
    }
    await redis?.kill();
  }, 30_000);

  const connect = (server: AppProcess, token: string, query = '') => sessionSocket(server.port, token, query);
  const piece = (frame: Frame) => frame.type === 'ai_response' && frame.metadata?.done === false;
  const done = (clientId: string) => (frame: Frame) =>
    frame.type === 'ai_response' && frame.metadata?.done === true && frame.client_id === clientId;
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  // i1 streams on the first instance; `fault` strikes Redis; i2 is sent on the second. Every piece of
  // i1's reply must come before the first of i2's, on both devices, and each turn is answered once.
  async function inTurnThrough(fault: () => Promise<void>): Promise<void> {
    const token = userToken(uniqueUser());
    const here = await connect(first, token);
    const there = await connect(second, token, `&session_id=${here.sessionId}&last_seq=0`);
    here.client.send({ type: 'user_message', client_id: 'i1', content: 'a '.repeat(100) });
    await here.client.next((frame) => frame.type === 'ack' && frame.client_id === 'i1');
    await here.client.next(piece, 10_000);
    await fault();
    there.client.send({ type: 'user_message', client_id: 'i2', content: 'second question' });
    await there.client.next((frame) => frame.type === 'ack' && frame.client_id === 'i2', 20_000);
    for (const clientId of ['i1', 'i2']) await here.client.next(done(clientId), 40_000);
    await there.client.next(done('i2'), 20_000);
    for (const device of [here.client, there.client]) {
      const order = device.frames.filter(piece).map((frame) => frame.client_id);
      const switches = order.filter((clientId, index) => index > 0 && clientId !== order[index - 1]);
      expect({ switches, lastOfI1: order.lastIndexOf('i1') < order.indexOf('i2') }).toEqual({
        switches: order[0] === 'i2' ? [] : ['i2'],
        lastOfI1: true,
      });
    }
    const session = await getJson<SessionBody>(
      `http://127.0.0.1:${first.port}/chat/sessions/${here.sessionId}`,
      token,
    );
    // i2 is stored before i1's reply or after it (the freeze holds its append back)
    const of = (type: string) =>
      session.messages.filter((message) => message.type === type).map((message) => message.client_id);
    expect({ turns: of('user_message'), replies: of('ai_response') }).toEqual({
      turns: ['i1', 'i2'],
      replies: ['i1', 'i2'],
    });
    await Promise.all([here.client.close(), there.client.close()]);
  }

  it('should not stream a turn sent on the other instance beside the reply in flight while Redis is frozen', async () => {
    await inTurnThrough(async () => {
      redis.signal('SIGSTOP');
      // the second's append and lease check run into Redis's silence; it answers again 3 s later
      setTimeout(() => redis.signal('SIGCONT'), 6_000);
      await pause(100);
    });
  });

  // A device resumes the session on the second instance while the first answers: the second watches
  // the open turn, and answers it itself once no instance holds its lease (docs/protocol.md, "Every
  // acked turn ends"). Redis restarted empty lost the lease of the reply streaming on the first.
  it('should not answer again a turn whose reply streams on the other instance after Redis restarted empty', async () => {
    const token = userToken(uniqueUser());
    const here = await connect(first, token);
    here.client.send({ type: 'user_message', client_id: 'w1', content: 'a '.repeat(100) });
    await here.client.next((frame) => frame.type === 'ack' && frame.client_id === 'w1');
    const asked = Date.now();
    await here.client.next(piece, 10_000);
    const there = await connect(second, token, `&session_id=${here.sessionId}&last_seq=0`);
    // the turn is old enough for the second's watch to take it over (3 s)
    await pause(3_300 - (Date.now() - asked));
    await redis.kill();
    await pause(300);
    await redis.restart();
    await here.client.next(done('w1'), 30_000);
    // a second answer would start within the watch's 2 s checks
    await pause(4_000);
    const session = await getJson<SessionBody>(
      `http://127.0.0.1:${second.port}/chat/sessions/${here.sessionId}`,
      token,
    );
    const replyIds = (client: TestClient) => [
      ...new Set(client.frames.filter((frame) => frame.type === 'ai_response').map((frame) => frame.id)),
    ];
    expect({
      stored: session.messages.map((message) => `${message.type}/${String(message.client_id)}`),
      here: replyIds(here.client).length,
      there: replyIds(there.client).length,
    }).toEqual({ stored: ['user_message/w1', 'ai_response/w1'], here: 1, there: 1 });
    await Promise.all([here.client.close(), there.client.close()]);
  });
});
