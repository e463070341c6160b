import { connect as tcpConnect, type Socket } from 'node:net';
import Redis from 'ioredis';
import { testEnv } from '../helpers/env';
import { startAppProcess, type AppProcess } from '../helpers/process';
import { RedisServer } from '../helpers/redis-server';
import { uniqueUser, userToken } from '../helpers/tokens';
import { TestClient } from '../helpers/ws-client';

// No input stops the server (docs/protocol.md, "Bad input"): inputs that each ended the process with
// an uncaught exception, sent to the built server running as production runs it. After each, the
// process is still there, ready, and serves a chat.
describe('inputs that stopped the process (e2e)', () => {
  jest.setTimeout(60_000);
  let redis: RedisServer;
  let server: AppProcess;
  let exitCode: number | null | undefined;

  // each case gets a server of its own: one that stops does not take the next case with it
  beforeAll(async () => {
    redis = await RedisServer.start();
  }, 60_000);
  beforeEach(async () => {
    exitCode = undefined;
    server = await startAppProcess(
      testEnv({
        REDIS_URL: redis.url,
        LLM_PROVIDERS: JSON.stringify([{ id: 'demo', type: 'demo', delay_ms: 1 }]),
      }),
    );
    const running = server;
    void running.exited.then((code) => {
      if (running === server) exitCode = code;
    });
  }, 60_000);
  afterEach(async () => {
    server?.child.kill('SIGTERM');
    await server?.exited;
  }, 30_000);
  afterAll(() => redis?.kill(), 30_000);

  const base = () => `http://127.0.0.1:${server.port}`;
  // still running, ready, and a user still gets an answer
  const stillServing = async () => {
    await new Promise((resolve) => setTimeout(resolve, 500));
    if (exitCode !== undefined)
      throw new Error(`the server exited (${exitCode}): ${server.output().slice(-2000)}`);
    expect((await fetch(`${base()}/chat/readyz`)).status).toBe(200);
    const client = await TestClient.connect(
      `ws://127.0.0.1:${server.port}/chat/ws?token=${userToken(uniqueUser())}`,
    );
    await client.nextOfType('connection_status');
    client.send({ type: 'user_message', client_id: 'alive', content: 'still there?' });
    expect((await client.reply()).final.sender).toBe('ai');
    await client.close();
  };
  const raw = (request: string): Promise<{ socket: Socket; answer: Promise<string> }> =>
    new Promise((resolve, reject) => {
      const socket = tcpConnect(server.port, '127.0.0.1', () => {
        let answer = '';
        const answered = new Promise<string>((done) => {
          socket.on('data', (data) => {
            answer += data.toString();
            done(answer);
          });
          socket.on('close', () => done(answer));
        });
        socket.write(request);
        resolve({ socket, answer: answered });
      });
      socket.on('error', reject);
    });

  it('should answer an upload whose skipped file part never ends, and stay up', async () => {
    const body =
      '--B\r\nContent-Disposition: form-data; name="x"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\nhello';
    const response = await fetch(`${base()}/chat/uploads`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${userToken(uniqueUser())}`,
        'content-type': 'multipart/form-data; boundary=B',
      },
      body,
    });
    expect(response.status).toBe(400);
    await stillServing();
  });

  it('should ignore a null, a number and a foreign shape published on its Redis channels, and stay up', async () => {
    const publisher = new Redis(redis.url);
    try {
      for (const channel of ['chatbox:hub', 'chatbox:rooms', 'chatbox:replies', 'chatbox:takeover'])
        for (const payload of ['null', '42', '"text"', '[]', '{"o":null,"p":null}', '{"p":{"k":"stop"}}'])
          await publisher.publish(channel, payload);
    } finally {
      publisher.disconnect();
    }
    await stillServing();
  });

  it('should refuse an upgrade whose Host cannot be parsed, and stay up when the client resets', async () => {
    for (const host of ['a b', '[', '127.0.0.1:99999']) {
      const { socket, answer } = await raw(
        `GET /chat/ws HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
          'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
      );
      // refused (a 400, or closed by the HTTP parser), never upgraded
      expect(await answer).not.toMatch(/^HTTP\/1\.1 101/);
      socket.resetAndDestroy();
    }
    await stillServing();
  });

  it('should answer an upgrade to a path no socket listens on with 404, not a reset, and still upgrade the real ones', async () => {
    const upgrade = (path: string) =>
      raw(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
          'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
      );
    for (const path of ['/chat/ws/', '/ws/chat/', '/chat/wsx', '/ws', '/chat/ws%2F', '/']) {
      const { socket, answer } = await upgrade(`${path}?token=${userToken(uniqueUser())}`);
      expect((await answer).split('\r\n')[0]).toBe('HTTP/1.1 404 Not Found');
      socket.destroy();
    }
    // the two real paths still reach the token check (no token: 401)
    for (const path of ['/chat/ws', '/ws/chat']) {
      const { socket, answer } = await upgrade(path);
      expect((await answer).split('\r\n')[0]).toBe('HTTP/1.1 401 Unauthorized');
      socket.destroy();
    }
    await stillServing();
  });
});
