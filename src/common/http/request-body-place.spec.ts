import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { Reflector } from '@nestjs/core';
import express, { type Response } from 'express';
import type { TokenService } from '../auth/token.service';
import { DomainException } from '../errors/domain.exception';
import { ErrorCode } from '../errors/error-code';
import { awaitUserPlace, JSON_BODY_LIMIT_BYTES, requestBodyPipeline } from './request-body';
import { REQUESTS_WAITING_PER_USER, UserRequests } from './user-requests';

// Tokens "good" (user u) and "other" (user v), as TokenService.verify would; counts its verifications.
const verified: string[] = [];
const tokens = {
  verify: (token: string | undefined) => {
    verified.push(token ?? '');
    if (token !== 'good' && token !== 'other')
      throw new DomainException(ErrorCode.UNAUTHORIZED, 'Invalid or expired token.');
    return {
      userId: token === 'good' ? 'u' : 'v',
      roles: [],
      isAdmin: false,
      expiresAt: Date.now() + 60_000,
    };
  },
} as unknown as TokenService;

interface Sent {
  socket: Socket;
  received: string;
}

// docs/protocol.md, "A user's requests at once": a user's request takes its place in the user's line
// before a byte of its body is read
describe(awaitUserPlace.name, () => {
  let server: Server;
  let port: number;
  let requests: UserRequests;
  // the bodies the routes got, and the answers they hold
  let reached: unknown[];
  let held: Response[];
  let sent: Sent[];

  beforeAll(async () => {
    requests = new UserRequests({ requestsAtOncePerUser: 1, responseIdleTimeoutMs: 30_000 }, new Reflector());
    const app = express();
    for (const layer of requestBodyPipeline(tokens, requests)) app.use(layer);
    app.get('/free', (_request, response) => void response.json({ free: true }));
    app.all('/hold', (request, response) => {
      reached.push(request.body);
      held.push(response);
    });
    server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  beforeEach(() => {
    verified.length = 0;
    reached = [];
    held = [];
    sent = [];
  });
  afterEach(async () => {
    for (const one of sent) one.socket.destroy();
    await until(() => requests.users === 0, 'every place given back');
  });

  const until = async (check: () => boolean, what: string) => {
    const deadline = Date.now() + 5_000;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`not seen within 5 s: ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };
  // nothing more comes: a liveness bound, what is waited for would come at once
  const settle = () => new Promise((resolve) => setTimeout(resolve, 150));
  // a request with `body`, of which only `send` bytes are written when given (never whole then)
  const send = (
    body: string | undefined,
    options: { token?: string; send?: number; method?: string; path?: string } = {},
  ): Sent => {
    const one: Sent = { socket: connect(port, '127.0.0.1'), received: '' };
    one.socket.on('error', () => undefined);
    one.socket.on('data', (chunk: Buffer) => (one.received += chunk.toString('latin1')));
    const length = body === undefined ? '' : `Content-Length: ${Buffer.byteLength(body)}\r\n`;
    one.socket.write(
      `${options.method ?? 'PATCH'} ${options.path ?? '/hold'} HTTP/1.1\r\nHost: x\r\n` +
        `Authorization: Bearer ${options.token ?? 'good'}\r\nContent-Type: application/json\r\n${length}\r\n` +
        (body ?? '').slice(0, options.send ?? body?.length ?? 0),
    );
    sent.push(one);
    return one;
  };
  const statusOf = (one: Sent) => Number(/^HTTP\/1\.1 (\d{3})/.exec(one.received)?.[1] ?? 0);
  const bodyOf = (one: Sent): unknown => JSON.parse(one.received.slice(one.received.indexOf('\r\n\r\n') + 4));

  it('should read no byte of a body before its user has a place, and read it in its turn', async () => {
    send('{"n":1}');
    await until(() => reached.length === 1, 'the first body read');
    const second = send('{"n":2}');
    // past the JSON limit: the parser, once it looks, refuses it by its length alone (413)
    const third = send(`{"n":"${'x'.repeat(JSON_BODY_LIMIT_BYTES)}"}`);
    await settle();
    expect(reached).toEqual([{ n: 1 }]);
    expect(third.received).toBe('');
    held[0].json({});
    await until(() => reached.length === 2, 'the second body read');
    expect(reached[1]).toEqual({ n: 2 });
    await settle();
    expect(third.received).toBe('');
    held[1].json({});
    await until(() => statusOf(third) === 413, 'the third read in its turn');
    expect(statusOf(second)).toBe(200);
  });

  it("should refuse a body past its user's line with 429 unread, and leave other users and bodiless requests to their own lines", async () => {
    // the one running and the ones waiting: bodies that never arrive whole
    for (let index = 0; index < 1 + REQUESTS_WAITING_PER_USER; index++) send('{"n":"xxxxxxxx"}', { send: 5 });
    await until(() => requests.users === 1, 'the line taken');
    await settle();
    const refused = send('{"n":1}');
    await until(() => statusOf(refused) === 429, 'the refusal');
    expect(refused.received).toMatch(/\r\nRetry-After: 1\r\n/i);
    expect(bodyOf(refused)).toEqual({
      error: { code: 'RATE_LIMITED', message: 'Too many requests at once; retry shortly.' },
    });
    expect(reached).toEqual([]);
    send('{"other":true}', { token: 'other' });
    await until(() => reached.length === 1, "another user's body read");
    held[0].json({});
    // a request without a body takes its place once routed (UserRequests' interceptor), not here
    const free = send(undefined, { method: 'GET', path: '/free' });
    await until(() => statusOf(free) === 200, 'a bodiless request answered');
  });

  it("should give the place back when a request's connection closes, running or waiting", async () => {
    const running = send('{"n":"xxxxxxxx"}', { send: 5 });
    const leaving = send('{"n":2}');
    send('{"n":3}');
    await settle();
    leaving.socket.destroy();
    running.socket.destroy();
    await until(() => reached.length === 1, 'the next body read');
    expect(reached).toEqual([{ n: 3 }]);
    held[0].json({});
  });

  it('should verify a token once for the token check and the line, and answer a bad one 401 unread as before', async () => {
    const good = send('{"n":1}');
    await until(() => reached.length === 1, 'the body read');
    held[0].json({});
    await until(() => statusOf(good) === 200, 'the answer');
    expect(verified).toEqual(['good']);
    const bad = send('{"n":1}', { token: 'forged' });
    await until(() => statusOf(bad) === 401, 'the refusal');
    expect(bodyOf(bad)).toEqual({ error: { code: 'UNAUTHORIZED', message: 'Invalid or expired token.' } });
    expect(reached).toHaveLength(1);
  });
});
