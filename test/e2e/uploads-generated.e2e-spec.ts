import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import {
  createServer as createTcpServer,
  type AddressInfo,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gptModel, startOpenAiFake, type OpenAiFake } from '../fakes/openai-fake';
import { getJson, startApp, type RunningApp, type SessionBody } from '../helpers/app';
import { uniqueUser, userToken } from '../helpers/tokens';
import { TestClient } from '../helpers/ws-client';
import { EICAR, ELF, PNG } from './uploads.fixtures';
import { filesUnder, upload } from './uploads.helpers';

const CLAMAV_HOST = process.env.TEST_CLAMAV_HOST;
const CLAMAV_PORT = process.env.TEST_CLAMAV_PORT;
const QUOTA = 64 * 1024;

// Files an AI reply brings go through the uploads' checks (type by content, clamd, the owner's quota);
// one that fails them is dropped and the reply says so, the reply itself is always kept
// (docs/protocol.md, "Uploads and files"). Real clamd: scripts/services/clamav.sh.
describe('files an AI reply brings (e2e)', () => {
  let openai: OpenAiFake;
  let files: Server;
  let filesHost: string;
  let server: RunningApp;
  const dir = mkdtempSync(join(tmpdir(), 'uploads-generated-'));

  beforeAll(async () => {
    if (!CLAMAV_HOST || !CLAMAV_PORT)
      throw new Error('TEST_CLAMAV_HOST/PORT unset: start clamd with scripts/services/clamav.sh up DIR');
    openai = await startOpenAiFake();
    // what the model's images point at: a PNG, the EICAR test file, an executable claiming to be a PNG
    const bodies: Record<string, [string, Buffer]> = {
      '/chart.png': ['image/png', PNG],
      '/eicar.txt': ['text/plain', EICAR],
      '/fake.png': ['image/png', ELF],
      // a PNG cut after its signature (the HTTP hostile-client audit of session 43)
      '/cut.png': ['image/png', PNG.subarray(0, 8)],
    };
    files = createServer((request, response) => {
      const [type, body] = bodies[request.url ?? ''] ?? ['text/plain', Buffer.from('missing')];
      response.writeHead(200, { 'content-type': type });
      response.end(body);
    });
    await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
    filesHost = `127.0.0.1:${(files.address() as AddressInfo).port}`;
    server = await startApp({
      UPLOAD_DIR: dir,
      UPLOAD_QUOTA_BYTES: String(QUOTA),
      CLAMAV_HOST,
      CLAMAV_PORT,
      LLM_PROVIDERS: JSON.stringify([gptModel(openai, { file_hosts: [filesHost] })]),
    });
  });
  afterAll(async () => {
    await server?.close();
    await openai?.close();
    await new Promise<void>((resolve) => (files ? files.close(() => resolve()) : resolve()));
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => openai.reset());

  async function replyWith(text: string, token = userToken(uniqueUser())) {
    const client = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    const status = await client.nextOfType('connection_status');
    openai.enqueue({ reply: text });
    client.send({ type: 'user_message', client_id: 'g1', content: 'draw' });
    const { final } = await client.reply(20_000);
    await client.close();
    const session = await getJson<SessionBody>(
      `${server.httpUrl}/chat/sessions/${String(status.session_id)}`,
      token,
    );
    const kept = session.messages.find((message) => message.type === 'ai_response');
    return { final, kept, token };
  }

  it('should drop a file clamd finds malware in, store nothing of it, and keep the reply', async () => {
    const before = filesUnder(dir).length;
    const { final, kept } = await replyWith(
      `Here ![ok](http://${filesHost}/chart.png) and ![bad](http://${filesHost}/eicar.txt)`,
    );
    expect(final.content).toContain('Here');
    const attachments = final.metadata?.attachments as Array<Record<string, unknown>>;
    expect(attachments[0]).toMatchObject({ kind: 'image', source: 'ai', mime_type: 'image/png' });
    expect(attachments[1]).toEqual({ kind: 'image', source: 'ai', dropped: 'infected' });
    expect(kept?.metadata?.attachments).toEqual(attachments);
    // the PNG only
    expect(filesUnder(dir).length).toBe(before + 1);
  });

  it('should drop a file whose bytes are not an allowed type, whatever its Content-Type says', async () => {
    const { final } = await replyWith(
      `Look ![chart](http://${filesHost}/fake.png) ![cut](http://${filesHost}/cut.png)`,
    );
    // the cut PNG made the type sniffer throw: offered as the vendor's link, an `upload_failed` line
    expect(final.metadata?.attachments).toEqual([
      { kind: 'image', source: 'ai', dropped: 'type' },
      { kind: 'image', source: 'ai', dropped: 'type' },
    ]);
  });

  it("should count a reply's stored files in the owner's quota", async () => {
    const owner = uniqueUser();
    const token = userToken(owner);
    const { final } = await replyWith(`![chart](http://${filesHost}/chart.png)`, token);
    expect(final.metadata?.attachments).toEqual([expect.objectContaining({ size: PNG.length })]);
    // what would fit beside the uploads alone does not beside the AI's file
    const text = Buffer.alloc(QUOTA - PNG.length + 1, 'a');
    const refused = await upload(server.httpUrl, token, text, 'notes.txt', 'text/plain');
    expect([refused.status, refused.body.error?.code]).toEqual([413, 'QUOTA_EXCEEDED']);
    const fits = await upload(server.httpUrl, token, text.subarray(1), 'notes.txt', 'text/plain');
    expect(fits.status).toBe(201);
  });

  it('should drop a file past the quota left and keep the reply', async () => {
    const token = userToken(uniqueUser());
    const text = Buffer.alloc(QUOTA - 10, 'a');
    expect((await upload(server.httpUrl, token, text, 'notes.txt', 'text/plain')).status).toBe(201);
    const before = filesUnder(dir).length;
    const { final, kept } = await replyWith(`![chart](http://${filesHost}/chart.png)`, token);
    expect(final.metadata?.attachments).toEqual([{ kind: 'image', source: 'ai', dropped: 'quota' }]);
    expect(kept?.content).toBe(final.content);
    expect(filesUnder(dir).length).toBe(before);
  });
});

// clamd down: nothing can vouch for a file, so none is kept (as uploads fail closed), the reply is.
// A clamd that takes connections and never answers costs each file the PING's 2 s, not
// CLAMAV_TIMEOUT (60 s).
describe('files an AI reply brings while clamd is down (e2e)', () => {
  let openai: OpenAiFake;
  let files: Server;
  let silent: NetServer;
  const held: Socket[] = [];
  let server: RunningApp;
  const dir = mkdtempSync(join(tmpdir(), 'uploads-generated-down-'));

  beforeAll(async () => {
    openai = await startOpenAiFake();
    files = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'image/png' });
      response.end(PNG);
    });
    await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
    silent = createTcpServer((socket) => held.push(socket.on('error', () => undefined)));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    server = await startApp({
      UPLOAD_DIR: dir,
      CLAMAV_HOST: '127.0.0.1',
      CLAMAV_PORT: String((silent.address() as AddressInfo).port),
      LLM_PROVIDERS: JSON.stringify([
        gptModel(openai, {
          tts: { voice: 'nova', format: 'mp3' },
          file_hosts: [`127.0.0.1:${(files.address() as AddressInfo).port}`],
        }),
      ]),
    });
  });
  afterAll(async () => {
    await server?.close();
    await openai?.close();
    await new Promise<void>((resolve) => (files ? files.close(() => resolve()) : resolve()));
    for (const socket of held) socket.destroy();
    await new Promise<void>((resolve) => (silent ? silent.close(() => resolve()) : resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('should drop the files and the speech, and keep and deliver the reply', async () => {
    const token = userToken(uniqueUser());
    const client = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    const status = await client.nextOfType('connection_status');
    const port = (files.address() as AddressInfo).port;
    openai.enqueue({ reply: `Here ![chart](http://127.0.0.1:${port}/chart.png)` });
    client.send({ type: 'user_message', client_id: 'd1', content: 'draw' });
    const started = Date.now();
    const { final } = await client.reply(20_000);
    await client.close();
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(final.content).toBe(`Here ![chart](http://127.0.0.1:${port}/chart.png)`);
    expect(final.metadata?.attachments).toEqual([
      { kind: 'image', source: 'ai', dropped: 'scanner_down' },
      { kind: 'audio', source: 'tts', dropped: 'scanner_down' },
    ]);
    const session = await getJson<SessionBody>(
      `${server.httpUrl}/chat/sessions/${String(status.session_id)}`,
      token,
    );
    expect(session.messages.find((message) => message.type === 'ai_response')?.metadata?.attachments).toEqual(
      final.metadata?.attachments,
    );
    expect(filesUnder(dir)).toEqual([]);
  });
});
