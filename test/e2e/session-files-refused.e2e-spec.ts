import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { gptModel, startOpenAiFake, type OpenAiFake } from '../fakes/openai-fake';
import { authHeaders, startApp, type RunningApp } from '../helpers/app';
import { adminToken, uniqueUser, userToken } from '../helpers/tokens';
import { TestClient } from '../helpers/ws-client';
import { PNG, WAV } from './uploads.fixtures';
import { fileLink, upload } from './uploads.helpers';

// Found by a files audit in session 39 (5 of 5 runs before the fix). A `file_upload` / `voice_message` the store refuses (SESSION_FULL: nothing stored, nothing acked)
// must leave its file as it was: not readable by the admin assisting the session.
describe('a refused file_upload / voice_message leaves its file private (e2e)', () => {
  let server: RunningApp;
  let openai: OpenAiFake;
  let dir: string;
  const open: TestClient[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(joinPath(tmpdir(), 'session-files-refused-'));
    openai = await startOpenAiFake({ transcript: 'y'.repeat(3000) });
    server = await startApp({
      UPLOAD_DIR: dir,
      MAX_SESSION_BYTES: '1024',
      LLM_PROVIDERS: JSON.stringify([gptModel(openai)]),
    });
  });
  afterAll(async () => {
    await Promise.all(open.map((client) => client.close()));
    await server?.close();
    await openai?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const answer = (client: TestClient, clientId: string) =>
    client.next((f) => f.client_id === clientId && (f.type === 'ack' || f.type === 'error'), 15_000);

  async function setUp() {
    const owner = userToken(uniqueUser());
    const client = await TestClient.connect(`${server.wsUrl}?token=${owner}`);
    open.push(client);
    const sessionId = (await client.nextOfType('connection_status')).session_id as string;
    client.send({ type: 'user_message', client_id: 'hi', content: 'hi' });
    expect((await answer(client, 'hi')).type).toBe('ack');
    await client.reply(15_000);
    return { owner, client, sessionId };
  }
  async function takeOver(sessionId: string) {
    const admin = adminToken(uniqueUser('admin'));
    const taken = await fetch(`${server.httpUrl}/chat/admin/sessions/${sessionId}/takeover`, {
      method: 'POST',
      headers: authHeaders(admin),
    });
    expect(taken.status).toBeLessThan(300);
    return admin;
  }

  it('file_upload refused SESSION_FULL: the admin assisting later cannot open the file', async () => {
    const { owner, client, sessionId } = await setUp();
    const secret = (await upload(server.httpUrl, owner, PNG, 'private.png', 'image/png')).body.file_id;
    client.send({ type: 'file_upload', client_id: 'f1', file_id: secret, content: 'x'.repeat(2000) });
    const refused = await answer(client, 'f1');
    expect(refused.type).toBe('error');
    expect((refused.error as { code: string }).code).toBe('SESSION_FULL');
    const admin = await takeOver(sessionId);
    expect((await fileLink(server.httpUrl, admin, secret)).status).toBe(404);
  });

  it('voice_message refused SESSION_FULL: the admin assisting later cannot open the recording', async () => {
    const { owner, client, sessionId } = await setUp();
    const secret = (await upload(server.httpUrl, owner, WAV, 'private.wav', 'audio/wav')).body.file_id;
    client.send({ type: 'voice_message', client_id: 'v1', file_id: secret });
    const refused = await answer(client, 'v1');
    expect(refused.type).toBe('error');
    expect((refused.error as { code: string }).code).toBe('SESSION_FULL');
    const admin = await takeOver(sessionId);
    expect((await fileLink(server.httpUrl, admin, secret)).status).toBe(404);
  });
});
