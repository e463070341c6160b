import { getJson, type SessionBody } from '../helpers/app';
import { testEnv } from '../helpers/env';
import { startAppProcess, type AppProcess, stopInstances } from '../helpers/process';
import { RedisServer } from '../helpers/redis-server';
import { uniqueUser, userToken } from '../helpers/tokens';
import { sessionSocket, TestClient, type Frame } from '../helpers/ws-client';

// A session's replies run one at a time across instances (docs/protocol.md, "Every acked turn
// ends") while Redis, where the reply lease lives, restarts beside a reply in flight. The CI chaos
// run of session 33 saw one reply's pieces interleaved with another's on a device: the restart lost
// the lease of the reply streaming, and the other instance answered its turn again. (A reply's wait
// for a Redis that does not answer: test/integration/reply-leases-restart.int-spec.ts.)
describe('turns of one session on two instances while Redis restarts (e2e)', () => {
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
    await stopInstances([first, second], redis);
  }, 30_000);

  const connect = (server: AppProcess, token: string, query = '') => sessionSocket(server.port, token, query);
  const piece = (frame: Frame) => frame.type === 'ai_response' && frame.metadata?.done === false;
  const done = (clientId: string) => (frame: Frame) =>
    frame.type === 'ai_response' && frame.metadata?.done === true && frame.client_id === clientId;
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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
