import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { authHeaders, startApp, type RunningApp } from '../helpers/app';
import { adminToken, uniqueUser, userToken } from '../helpers/tokens';
import { TestClient } from '../helpers/ws-client';
import { PNG } from './uploads.fixtures';
import { fileLink, upload } from './uploads.helpers';

// Found by a files audit in session 39 (5 of 5 runs before the fix). A resend of an acked `file_upload` client_id naming ANOTHER upload is answered with the stored
// copy (nothing stored); the other upload must not become readable by the admin assisting the session.
describe('file_upload resend naming another upload (e2e)', () => {
  let server: RunningApp;
  let dir: string;
  const open: TestClient[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(joinPath(tmpdir(), 'session-files-resend-'));
    server = await startApp({ UPLOAD_DIR: dir });
  });
  afterAll(async () => {
    await Promise.all(open.map((client) => client.close()));
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('should not make the other upload readable by the assisting admin', async () => {
    const owner = userToken(uniqueUser());
    const shown = (await upload(server.httpUrl, owner, PNG, 'shown.png', 'image/png')).body.file_id;
    const secret = (await upload(server.httpUrl, owner, PNG, 'private.png', 'image/png')).body.file_id;
    const client = await TestClient.connect(`${server.wsUrl}?token=${owner}`);
    open.push(client);
    const status = await client.nextOfType('connection_status');
    const sessionId = status.session_id as string;

    client.send({ type: 'file_upload', client_id: 'c1', file_id: shown });
    const first = await client.next((f) => f.client_id === 'c1' && (f.type === 'ack' || f.type === 'error'));
    expect(first.type).toBe('ack');
    // the resend of c1, naming the private upload: answered with the stored copy
    client.send({ type: 'file_upload', client_id: 'c1', file_id: secret });
    const second = await client.next((f) => f.client_id === 'c1' && (f.type === 'ack' || f.type === 'error'));
    expect(second.type).toBe('ack');
    expect(second.id).toBe(first.id);

    const admin = adminToken(uniqueUser('admin'));
    const taken = await fetch(`${server.httpUrl}/chat/admin/sessions/${sessionId}/takeover`, {
      method: 'POST',
      headers: authHeaders(admin),
    });
    expect(taken.status).toBeLessThan(300);

    // the file the session shows: readable by the assisting admin (control)
    expect((await fileLink(server.httpUrl, admin, shown)).status).toBe(302);
    // the history shows only the first file
    const history = (await (
      await fetch(`${server.httpUrl}/chat/sessions/${sessionId}`, { headers: authHeaders(admin) })
    ).json()) as { messages: { file_id?: string }[] };
    expect(history.messages.map((m) => m.file_id).filter(Boolean)).toEqual([shown]);
    // the private upload no message shows: must stay the owner's alone
    expect((await fileLink(server.httpUrl, admin, secret)).status).toBe(404);
  });
});
