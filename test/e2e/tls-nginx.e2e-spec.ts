import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { connect as http2Connect, type ClientHttp2Session } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { authHeaders, startApp, type RunningApp } from '../helpers/app';
import { testEnv, testSettings } from '../helpers/env';
import {
  DEPLOY_CONF,
  get,
  makeCertificate,
  NGINX_BIN,
  send,
  startNginx,
  type Answer,
  type Nginx,
} from '../helpers/nginx';
import { freePort, startAppProcess } from '../helpers/process';
import { uniqueUser, userToken } from '../helpers/tokens';
import { TestClient, UpgradeRefused, type Frame } from '../helpers/ws-client';
import { PNG } from './uploads.fixtures';

const MIB = 1024 * 1024;
const DELAY_MS = 50;

function multipart(data: Buffer, name: string, type: string): { body: Buffer; contentType: string } {
  const boundary = '----chatbox-tls-boundary';
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\nContent-Type: ${type}\r\n\r\n`;
  return {
    body: Buffer.concat([Buffer.from(head), data, Buffer.from(`\r\n--${boundary}--\r\n`)]),
    contentType: `multipart/form-data; boundary=${boundary}`,
  };
}

// one request over an HTTP/2 session, as a browser sends it after ALPN picked h2
function h2(
  session: ClientHttp2Session,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: Buffer,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': method, ':path': path, ...headers });
    let status = 0;
    let answerHeaders: Answer['headers'] = {};
    const chunks: Buffer[] = [];
    stream.on('response', (received) => {
      status = Number(received[':status']);
      answerHeaders = received as Answer['headers'];
    });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    const done = () => resolve({ status, headers: answerHeaders, body: Buffer.concat(chunks) });
    stream.on('end', done);
    stream.on('error', (error) => (status ? done() : reject(error)));
    stream.end(body);
  });
}

// `401 UNAUTHORIZED`, `502 <nginx's page title>`, or how the request ended without an answer
function outcome(pending: Promise<Answer>): Promise<string> {
  return pending.then(
    (answer) => {
      const text = answer.body.toString();
      try {
        return `${answer.status} ${(JSON.parse(text) as { error: { code: string } }).error.code}`;
      } catch {
        return `${answer.status} ${/<title>([^<]*)</.exec(text)?.[1] ?? text.slice(0, 40)}`;
      }
    },
    (error: Error) => `no answer (${error.message})`,
  );
}

async function refusal(promise: Promise<TestClient>): Promise<number> {
  const error = await promise.then(
    (client) => client.close().then(() => undefined),
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(UpgradeRefused);
  return (error as UpgradeRefused).status;
}

// One message, its streamed reply: when the first delta and the final frame arrived after sending.
async function timedReply(url: string, ca: Buffer) {
  const client = await TestClient.connect(url, { ca });
  await client.nextOfType('connection_status');
  const sentAt = performance.now();
  client.send({ type: 'user_message', client_id: 'timed', content: 'Stream this to me, please.' });
  const deltas: Frame[] = [];
  for (;;) {
    const frame = await client.next(
      (candidate) => candidate.type === 'ai_response' || candidate.type === 'error',
      10_000,
    );
    if (frame.type === 'error') throw new Error(`error frame: ${JSON.stringify(frame.error)}`);
    if (frame.metadata?.done === true) {
      await client.close();
      return {
        deltas: deltas.map((delta) => String(delta.metadata?.delta ?? '')),
        firstDeltaMs: client.receivedAt(deltas[0]) - sentAt,
        finalMs: client.receivedAt(frame) - sentAt,
        content: frame.content,
      };
    }
    deltas.push(frame);
  }
}

function block(conf: string, header: string): string {
  const start = conf.indexOf(`${header} {`);
  if (start < 0) throw new Error(`no ${header} block`);
  return conf.slice(start, conf.indexOf('}', start));
}

function directive(text: string, name: string): string[] {
  return [...text.matchAll(new RegExp(`^\\s*${name}\\s+([^;]+);`, 'gm'))].map((match) => match[1].trim());
}

function seconds(value: string): number {
  const match = /^(\d+)(ms|s|m)?$/.exec(value);
  if (!match) throw new Error(`not an nginx time: ${value}`);
  return Number(match[1]) * ({ ms: 0.001, s: 1, m: 60 }[match[2] ?? 's'] ?? 1);
}

describe('TLS and WSS through Debian nginx, as in production (e2e)', () => {
  jest.setTimeout(120_000);
  let certDir: string;
  let uploadDir: string;
  let ca: Buffer;
  let server: RunningApp;
  let nginx: Nginx;
  let base: string;
  let wss: string;

  beforeAll(async () => {
    if (!existsSync(NGINX_BIN))
      throw new Error(`no nginx at ${NGINX_BIN}: run scripts/services/nginx.sh up DIR`);
    certDir = mkdtempSync(join(tmpdir(), 'tls-cert-'));
    uploadDir = mkdtempSync(join(tmpdir(), 'tls-uploads-'));
    ca = makeCertificate(certDir);
    server = await startApp({
      UPLOAD_DIR: uploadDir,
      LLM_PROVIDERS: JSON.stringify([{ id: 'demo', name: 'Demo', type: 'demo', delay_ms: DELAY_MS }]),
    });
    nginx = await startNginx([Number(new URL(server.httpUrl).port)], ca, certDir);
    base = `https://127.0.0.1:${nginx.port}`;
    wss = `wss://127.0.0.1:${nginx.port}/chat/ws`;
  });
  afterAll(async () => {
    await nginx?.stop();
    await server?.close();
    rmSync(certDir, { recursive: true, force: true });
    rmSync(uploadDir, { recursive: true, force: true });
  });

  it('should stream a reply over wss:// as it is produced, not buffered until the end', async () => {
    // one unmeasured exchange first, so neither path pays the first session's warm-up
    await timedReply(`${server.wsUrl}?token=${userToken(uniqueUser())}`, ca);
    const viaNginx = await timedReply(`${wss}?token=${userToken(uniqueUser())}`, ca);
    const direct = await timedReply(`${server.wsUrl}?token=${userToken(uniqueUser())}`, ca);
    expect(viaNginx.deltas.length).toBeGreaterThanOrEqual(10);
    expect(viaNginx.content).toBe(viaNginx.deltas.join(''));
    // the demo model waits DELAY_MS before each word: a buffered stream would deliver all at once
    const produced = (viaNginx.deltas.length - 1) * DELAY_MS;
    expect(viaNginx.finalMs - viaNginx.firstDeltaMs).toBeGreaterThan(produced * 0.6);
    expect(viaNginx.firstDeltaMs).toBeLessThan(viaNginx.finalMs / 4);
    console.log(
      `tls-nginx: ${viaNginx.deltas.length} deltas every ${DELAY_MS} ms; first delta ` +
        `${viaNginx.firstDeltaMs.toFixed(1)} ms via nginx (wss) vs ${direct.firstDeltaMs.toFixed(1)} ms direct (ws); ` +
        `final ${viaNginx.finalMs.toFixed(1)} vs ${direct.finalMs.toFixed(1)} ms`,
    );
  });

  it('should refuse a bad token with 401 and a foreign Origin with 403 at the upgrade, and allow its own origin', async () => {
    const token = userToken(uniqueUser());
    expect(await refusal(TestClient.connect(`${wss}?token=not-a-jwt`, { ca }))).toBe(401);
    expect(await refusal(TestClient.connect(wss, { ca }))).toBe(401);
    expect(
      await refusal(
        TestClient.connect(`${wss}?token=${token}`, { ca, headers: { origin: 'https://evil.example' } }),
      ),
    ).toBe(403);
    // the page's own origin: nginx must hand the app the Host the browser used, port included
    const own = await TestClient.connect(`${wss}?token=${token}`, { ca, headers: { origin: base } });
    expect((await own.nextOfType('connection_status')).metadata?.status).toBe('connected');
    await own.close();
  });

  it('should keep tokens out of the nginx access log', async () => {
    const token = userToken(uniqueUser());
    const client = await TestClient.connect(`${wss}?token=${token}`, { ca });
    await client.next((frame) => frame.type === 'connection_status');
    await client.close();
    const log = join(nginx.dir, 'chatbox.access.log');
    const deadline = Date.now() + 5000;
    while (!/"GET \/chat\/ws HTTP\/1\.1" 101/.test(readFileSync(log, 'utf8')) && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
    const text = readFileSync(log, 'utf8');
    expect(text).toMatch(/"GET \/chat\/ws HTTP\/1\.1" 101/);
    expect(text).not.toContain(token);
    expect(text).not.toContain('token=');
  });

  // Found by the deployment-edge black-box audit in session 42 (4 of 4 socket tokens in nginx's
  // error log while an instance was down): nginx writes the request line, query and all, with every
  // upstream error, so `?token=` reached a log. Browsers send the token as a subprotocol now
  // (docs/protocol.md, "Auth"), which no nginx log writes.
  it('should keep a token sent as a subprotocol out of every nginx log while an instance is down, on both sockets', async () => {
    const down = await startNginx([await freePort(), Number(new URL(server.httpUrl).port)], ca, certDir);
    try {
      const tokens: string[] = [];
      for (const path of ['/chat/ws', '/ws/chat', '/chat/ws', '/ws/chat']) {
        const token = userToken(uniqueUser());
        tokens.push(token);
        const client = await TestClient.connect(`wss://127.0.0.1:${down.port}${path}`, {
          ca,
          protocols: ['chatbox', `bearer.${token}`],
        });
        // the server selects `chatbox`, never echoes the token (browsers fail a socket without one)
        expect(client.socket.protocol).toBe('chatbox');
        expect((await client.nextOfType('connection_status')).metadata?.status).toBe('connected');
        await client.close();
      }
      const logs = readdirSync(down.dir)
        .filter((name) => name.endsWith('.log'))
        .map((name) => readFileSync(join(down.dir, name), 'utf8'))
        .join('\n');
      // the instance that is down was tried, and the error written
      expect(logs).toMatch(/connect\(\) failed/);
      expect(tokens.filter((token) => logs.includes(token))).toEqual([]);
    } finally {
      await down.stop();
    }
  });

  it('should answer /chat/models over HTTP/2 and /chat/readyz over HTTPS, redirect HTTP and hide /metrics', async () => {
    const session = http2Connect(base, { ca });
    try {
      const models = await new Promise<{ status: number; body: string; protocol: string }>(
        (resolve, reject) => {
          const stream = session.request({
            ':path': '/chat/models',
            ...authHeaders(userToken(uniqueUser())),
          });
          let status = 0;
          let body = '';
          stream.on('response', (headers) => (status = Number(headers[':status'])));
          stream.on('data', (chunk: Buffer) => (body += chunk.toString()));
          stream.on('end', () => resolve({ status, body, protocol: session.alpnProtocol ?? '' }));
          stream.on('error', reject);
        },
      );
      expect(models.protocol).toBe('h2');
      expect(models.status).toBe(200);
      expect(JSON.parse(models.body)).toEqual([{ id: 'demo', name: 'Demo' }]);
    } finally {
      session.close();
    }
    const ready = await get(`${base}/chat/readyz`, ca);
    expect(ready.status).toBe(200);
    expect(ready.headers['strict-transport-security']).toBe('max-age=63072000');
    expect((await get(`${base}/chat/models`, ca)).status).toBe(401);
    const redirect = await get(`http://127.0.0.1:${nginx.redirectPort}/chat/models`, ca);
    expect(redirect.status).toBe(301);
    expect(redirect.headers.location).toBe('https://127.0.0.1/chat/models');
    expect((await get(`${base}/metrics`, ca)).status).toBe(404);
    expect((await get(`${server.httpUrl}/metrics`, ca)).status).toBe(200);
  });

  it('should take an upload through nginx and serve it back through its signed URL', async () => {
    const token = userToken(uniqueUser());
    const { body, contentType } = multipart(PNG, 'photo.png', 'image/png');
    const headers = { ...authHeaders(token), 'content-type': contentType };
    const uploaded = await send(`${base}/chat/uploads`, ca, { method: 'POST', headers, body });
    expect(uploaded.status).toBe(201);
    const file = JSON.parse(uploaded.body.toString()) as { file_id: string; size: number; mime_type: string };
    expect(file).toMatchObject({ size: PNG.length, mime_type: 'image/png' });
    const link = await get(`${base}/chat/files/${file.file_id}`, ca, authHeaders(token));
    expect(link.status).toBe(302);
    const blob = await get(new URL(String(link.headers.location), base).toString(), ca);
    expect(blob.status).toBe(200);
    expect(blob.body.equals(PNG)).toBe(true);
  });

  it('should pass an upload of exactly UPLOAD_MAX_BYTES and leave one byte more to the app (413 FILE_TOO_LARGE)', async () => {
    const limit = testSettings().uploads.maxBytes;
    const post = (size: number) => {
      const { body, contentType } = multipart(Buffer.alloc(size, 'a'), 'big.txt', 'text/plain');
      const headers = { ...authHeaders(userToken(uniqueUser())), 'content-type': contentType };
      return send(`${base}/chat/uploads`, ca, { method: 'POST', headers, body });
    };
    const full = await post(limit);
    expect(full.status).toBe(201);
    expect(JSON.parse(full.body.toString())).toMatchObject({ size: limit, mime_type: 'text/plain' });
    const over = await post(limit + 1);
    expect(over.status).toBe(413);
    expect(JSON.parse(over.body.toString())).toMatchObject({ error: { code: 'FILE_TOO_LARGE' } });
  });

  // Found by the deployment-edge black-box audit in session 42 (3 of 3 uploads past the limit, and
  // 15 of 26 refused uploads, answered 502; 12 tokenless 20 MiB uploads left nginx "no live
  // upstreams": 502 for every user for 10 s). The app closed a refused body's connection unread, and
  // nginx, still sending it (proxy_request_buffering off), answered 502 and counted the instance down.
  it('should answer uploads the app refuses before reading them with its 413 or 401, never 502, and keep every instance', async () => {
    // the instance twice: nginx counts failures per entry, and takes each out on its own
    const port = Number(new URL(server.httpUrl).port);
    const pair = await startNginx([port, port], ca, certDir);
    const front = `https://127.0.0.1:${pair.port}`;
    const session = http2Connect(front, { ca });
    try {
      const over = multipart(
        Buffer.alloc(testSettings().uploads.maxBytes + 600 * 1024, 'a'),
        'big.txt',
        'text/plain',
      );
      const large = multipart(Buffer.alloc(20 * MIB, 'a'), 'big.txt', 'text/plain');
      const answers: string[] = [];
      for (let round = 0; round < 3; round++) {
        const headers = { ...authHeaders(userToken(uniqueUser())), 'content-type': over.contentType };
        answers.push(
          await outcome(send(`${front}/chat/uploads`, ca, { method: 'POST', headers, body: over.body })),
        );
        answers.push(await outcome(h2(session, 'POST', '/chat/uploads', headers, over.body)));
        const anonymous = { authorization: 'Bearer x', 'content-type': large.contentType };
        answers.push(
          await outcome(
            send(`${front}/chat/uploads`, ca, { method: 'POST', headers: anonymous, body: large.body }),
          ),
        );
      }
      expect(answers).toEqual(
        Array.from({ length: 3 }, () => [
          '413 FILE_TOO_LARGE',
          '413 FILE_TOO_LARGE',
          '401 UNAUTHORIZED',
        ]).flat(),
      );
      // everyone else is still served
      const models = await get(`${front}/chat/models`, ca, authHeaders(userToken(uniqueUser())));
      expect(models.status).toBe(200);
      expect(readFileSync(join(pair.dir, 'chatbox.error.log'), 'utf8')).not.toContain('no live upstreams');
    } finally {
      session.close();
      await pair.stop();
    }
  });

  // Found by the deployment-edge black-box audit in session 42 (1 to 6 of 90 POSTs answered 502, in 4
  // of 4 runs): nginx keeps an idle connection to the app for its upstream keepalive_timeout (60 s),
  // and Node closed it after 5 s; a POST nginx sent on it as it closed got 502 (never retried).
  it('should keep an idle keep-alive connection open for longer than nginx keeps it', async () => {
    const conf = readFileSync(DEPLOY_CONF, 'utf8');
    const [kept = '60s'] = directive(block(conf, 'upstream chatbox'), 'keepalive_timeout');
    const http = server.app.getHttpServer() as Server;
    expect(http.keepAliveTimeout).toBeGreaterThan(seconds(kept) * 1000);
    // and a connection idle past Node's default (5 s, +1 s) still takes the next request
    const socket = netConnect(Number(new URL(server.httpUrl).port), '127.0.0.1');
    socket.on('error', () => undefined);
    let received = '';
    let closed = false;
    socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
    socket.on('close', () => (closed = true));
    const request = 'GET /chat/healthz HTTP/1.1\r\nHost: x\r\n\r\n';
    socket.write(request);
    await new Promise((resolve) => setTimeout(resolve, 7_500));
    expect(closed).toBe(false);
    socket.write(request);
    await new Promise((resolve) => setTimeout(resolve, 500));
    socket.destroy();
    expect(received.match(/HTTP\/1\.1 200/g)).toHaveLength(2);
  });

  it('should hold the production values: upgrade headers, timeouts past the heartbeat, no buffering, body size, several instances', () => {
    const conf = readFileSync(DEPLOY_CONF, 'utf8');
    const settings = testSettings();
    const ws = block(conf, 'location = /chat/ws');
    expect(directive(ws, 'proxy_set_header')).toEqual(
      expect.arrayContaining([
        'Upgrade $http_upgrade',
        'Connection $chatbox_connection',
        'Host $http_host',
        'X-Forwarded-For $proxy_add_x_forwarded_for',
        'X-Forwarded-Proto $scheme',
      ]),
    );
    expect(directive(block(conf, 'map $http_upgrade $chatbox_connection'), 'default')).toEqual(['upgrade']);
    expect(directive(ws, 'proxy_http_version').concat(directive(conf, 'proxy_http_version'))).toContain(
      '1.1',
    );
    // an idle socket hears from the app every heartbeat; nginx must not cut it in between (its
    // default is 60 s, too slow to wait out here, so the values are checked instead)
    for (const name of ['proxy_read_timeout', 'proxy_send_timeout']) {
      const [value] = directive(ws, name);
      expect(seconds(value) * 1000).toBeGreaterThanOrEqual(2 * settings.heartbeatMs);
      expect(seconds(value)).toBeGreaterThan(60);
    }
    expect(directive(ws, 'proxy_buffering')).toEqual(['off']);
    const uploads = block(conf, 'location = /chat/uploads');
    const [bodySize] = directive(uploads, 'client_max_body_size');
    const bytes = Number(/^(\d+)m$/.exec(bodySize)?.[1]) * MIB;
    expect(bytes).toBeGreaterThanOrEqual(settings.uploads.maxBytes);
    expect(bytes).toBeLessThanOrEqual(settings.uploads.maxBytes + 2 * MIB);
    expect(directive(uploads, 'proxy_request_buffering')).toEqual(['off']);
    // an upload refused by the app never counts an instance failed: its own upstream, the same hosts
    const [uploadsPass] = directive(uploads, 'proxy_pass');
    const hosts = (pass: string) =>
      directive(block(conf, `upstream ${pass.replace('http://', '')}`), 'server').map(
        (line) => line.split(' ')[0],
      );
    expect(directive(block(conf, `upstream ${uploadsPass.replace('http://', '')}`), 'server')).toEqual(
      hosts(uploadsPass).map((host) => `${host} max_fails=0`),
    );
    expect(hosts(uploadsPass)).toEqual(hosts(directive(block(conf, 'location /'), 'proxy_pass')[0]));
    const upstream = block(conf, 'upstream chatbox');
    expect(directive(upstream, 'server').length).toBeGreaterThanOrEqual(2);
    expect(directive(conf, 'listen')).toEqual(expect.arrayContaining(['443 ssl http2']));
  });

  // The deploy audit: /ws/chat (rooms) went through `location /` without its Upgrade headers (404),
  // and a draining instance's 503 reached the client (docs/protocol.md, "Shutdown").
  it('should proxy both sockets alike, each tried on the next instance on a 503, and retry no other 503', () => {
    const conf = readFileSync(DEPLOY_CONF, 'utf8');
    const chat = block(conf, 'location = /chat/ws');
    const rooms = block(conf, 'location = /ws/chat');
    const directives = (text: string) =>
      [...text.slice(text.indexOf('{') + 1).matchAll(/^\s*([a-z_]+)\s+([^;]+);/gm)]
        .map((match) => `${match[1]} ${match[2]}`)
        .sort();
    expect(directives(rooms)).toEqual(directives(chat));
    expect(directive(chat, 'proxy_next_upstream')).toEqual(['error timeout http_503']);
    // a socket's 503s count towards max_fails in an upstream of their own: instances all refusing
    // sockets (MongoDB away) leave the pages and the REST API their upstream
    const [socketUpstream] = directive(chat, 'proxy_pass');
    const rest = block(conf, 'location /');
    const [restUpstream] = directive(rest, 'proxy_pass');
    expect(socketUpstream).not.toBe(restUpstream);
    const servers = (pass: string) =>
      directive(block(conf, `upstream ${pass.replace('http://', '')}`), 'server');
    expect(servers(socketUpstream)).toEqual(servers(restUpstream));
    // REST keeps nginx's default (error timeout): no 503 retried, never a non-idempotent request
    expect(conf.replace(/#.*$/gm, '')).not.toMatch(/non_idempotent/);
    expect(directive(rest, 'proxy_next_upstream')).toEqual([]);
  });
});

describe('SIGTERM through nginx (e2e, built server)', () => {
  jest.setTimeout(120_000);

  it("should bring the app's close code 1001 to a wss:// client through nginx", async () => {
    const certDir = mkdtempSync(join(tmpdir(), 'tls-cert-'));
    const ca = makeCertificate(certDir);
    const app = await startAppProcess(testEnv());
    const nginx = await startNginx([app.port], ca, certDir);
    try {
      const client = await TestClient.connect(
        `wss://127.0.0.1:${nginx.port}/chat/ws?token=${userToken(uniqueUser())}`,
        { ca },
      );
      await client.next((frame) => frame.type === 'connection_status');
      app.child.kill('SIGTERM');
      expect(await client.closed).toBe(1001);
      expect(await app.exited).toBe(0);
    } finally {
      if (app.child.exitCode === null) app.child.kill('SIGKILL');
      await nginx.stop();
      rmSync(certDir, { recursive: true, force: true });
    }
  });
});
