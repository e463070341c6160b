import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { authHeaders, getJson, startApp, type RunningApp } from '../helpers/app';
import { adminToken, uniqueUser, userToken } from '../helpers/tokens';
import { TestClient, type Frame } from '../helpers/ws-client';
import { PNG } from './uploads.fixtures';
import { upload } from './uploads.helpers';

interface Summary {
  id: string;
  name: string;
  archived: boolean;
}

// Issue 15, item 4: export (Markdown, JSON; attachments as signed links), rename, archive and soft
// delete over real HTTP on FerretDB (the list's scalar $ne filters are checked here).
describe('session library (e2e)', () => {
  let server: RunningApp;
  const admin = adminToken('library-admin');

  beforeAll(async () => {
    server = await startApp({ UPLOAD_DIR: mkdtempSync(join(tmpdir(), 'chatbox-library-')) });
  });
  afterAll(() => server.close());

  const call = (method: string, path: string, token: string, body?: unknown) =>
    fetch(`${server.httpUrl}${path}`, {
      method,
      headers: {
        ...authHeaders(token),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  // a session with a caption'd photo, its reply, and a second turn
  const conversation = async (token: string) => {
    const client = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    const sessionId = String((await client.nextOfType('connection_status')).session_id);
    const uploaded = await upload(server.httpUrl, token, PNG, 'cat [1].png', 'image/png');
    expect(uploaded.status).toBe(201);
    client.send({
      type: 'file_upload',
      client_id: 'f1',
      file_id: uploaded.body.file_id,
      content: 'Look at this',
    });
    await client.reply();
    client.send({ type: 'user_message', client_id: 'u2', content: 'Second *question*' });
    await client.reply();
    return { client, sessionId, fileId: uploaded.body.file_id };
  };

  it('should export a session as Markdown and JSON with signed links, for its user and for admins only', async () => {
    const token = userToken(uniqueUser());
    const { client, sessionId, fileId } = await conversation(token);
    const markdown = await call('GET', `/chat/sessions/${sessionId}/export`, token);
    expect(markdown.status).toBe(200);
    expect(markdown.headers.get('content-type')).toContain('text/markdown');
    expect(markdown.headers.get('content-disposition')).toBe(`attachment; filename="chat-${sessionId}.md"`);
    const text = await markdown.text();
    expect(text).toContain('Look at this');
    expect(text).toContain('Second *question*');
    expect(text).toContain('## Assistant (demo)');
    expect(text).toMatch(/Attachment: \[cat \\\[1\\\]\.png\]\(<[^>]*\/chat\/blob\?[^>]+>\)/);

    const json = await call('GET', `/chat/sessions/${sessionId}/export?format=json`, token);
    const body = (await json.json()) as { id: string; messages: Array<Record<string, unknown>> };
    expect(body.id).toBe(sessionId);
    expect(body.messages.map((message) => message.type)).toEqual([
      'file_upload',
      'ai_response',
      'user_message',
      'ai_response',
    ]);
    const attachment = body.messages[0].attachment as { url: string; name: string };
    expect(attachment.name).toBe('cat [1].png');
    // the signed link opens without a token
    const file = await fetch(new URL(attachment.url, server.httpUrl));
    expect(file.status).toBe(200);
    expect(Buffer.from(await file.arrayBuffer())).toEqual(PNG);
    expect(JSON.stringify(body)).not.toContain(`/chat/files/${fileId}`);

    expect((await call('GET', `/chat/sessions/${sessionId}/export`, admin)).status).toBe(200);
    expect((await call('GET', `/chat/sessions/${sessionId}/export`, userToken(uniqueUser()))).status).toBe(
      404,
    );
    expect((await call('GET', `/chat/sessions/${sessionId}/export?format=pdf`, token)).status).toBe(400);
    await client.close();
  });

  it('should rename and archive a session, validated, and tell the devices about the new name', async () => {
    const token = userToken(uniqueUser());
    const client = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    const sessionId = String((await client.nextOfType('connection_status')).session_id);
    client.send({ type: 'user_message', client_id: 'u1', content: 'hello' });
    await client.reply();

    const renamed = await call('PATCH', `/chat/sessions/${sessionId}`, token, { name: '  Trip plans  ' });
    expect(renamed.status).toBe(200);
    expect(await renamed.json()).toEqual({ id: sessionId, name: 'Trip plans' });
    await client.next((frame: Frame) => frame.type === 'session_renamed' && frame.content === 'Trip plans');
    for (const bad of [
      { name: '' },
      { name: '   ' },
      { name: 'a\u0000b' },
      { name: 'x'.repeat(121) },
      { archived: 'yes' },
      { other: 1 },
    ])
      expect((await call('PATCH', `/chat/sessions/${sessionId}`, token, bad)).status).toBe(400);
    expect(
      (await call('PATCH', `/chat/sessions/${sessionId}`, userToken(uniqueUser()), { name: 'x' })).status,
    ).toBe(404);

    expect((await call('PATCH', `/chat/sessions/${sessionId}`, token, { archived: true })).status).toBe(200);
    const listed = await getJson<Summary[]>(`${server.httpUrl}/chat/sessions`, token);
    expect(listed.map((session) => session.id)).not.toContain(sessionId);
    const archived = await getJson<Summary[]>(`${server.httpUrl}/chat/sessions?archived=true`, token);
    expect(archived.map((session) => [session.id, session.name, session.archived])).toEqual([
      [sessionId, 'Trip plans', true],
    ]);
    expect((await call('PATCH', `/chat/sessions/${sessionId}`, token, { archived: false })).status).toBe(200);
    const back = await getJson<Summary[]>(`${server.httpUrl}/chat/sessions`, token);
    expect(back.map((session) => session.id)).toContain(sessionId);
    await client.close();
    // a session its owner named is deleted like any other
    expect((await call('DELETE', `/chat/sessions/${sessionId}`, token)).status).toBe(204);
    const after = await getJson<Summary[]>(`${server.httpUrl}/chat/sessions`, token);
    expect(after.map((session) => session.id)).not.toContain(sessionId);
  });

  it('should hide a deleted session from its user everywhere and keep it for admins', async () => {
    const user = uniqueUser();
    const token = userToken(user);
    const client = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    const sessionId = String((await client.nextOfType('connection_status')).session_id);
    client.send({ type: 'user_message', client_id: 'u1', content: 'forget me' });
    await client.reply();
    await client.close();

    expect((await call('DELETE', `/chat/sessions/${sessionId}`, userToken(uniqueUser()))).status).toBe(404);
    expect((await call('DELETE', `/chat/sessions/${sessionId}`, token)).status).toBe(204);
    expect((await call('DELETE', `/chat/sessions/${sessionId}`, token)).status).toBe(404);
    expect(
      (await getJson<Summary[]>(`${server.httpUrl}/chat/sessions`, token)).map((session) => session.id),
    ).not.toContain(sessionId);
    expect((await call('GET', `/chat/sessions/${sessionId}`, token)).status).toBe(404);
    expect((await call('GET', `/chat/sessions/${sessionId}/export`, token)).status).toBe(404);
    expect((await call('PATCH', `/chat/sessions/${sessionId}`, token, { name: 'again' })).status).toBe(404);
    // resuming it over the socket is refused; a plain connect opens a new session
    const resumed = await TestClient.connect(`${server.wsUrl}?token=${token}&session_id=${sessionId}`);
    expect((await resumed.nextOfType('error')).error?.code).toBe('NOT_FOUND');
    const fresh = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    expect((await fresh.nextOfType('connection_status')).session_id).not.toBe(sessionId);
    await fresh.close();

    const detail = await getJson<{ deleted_at: string | null; messages: unknown[] }>(
      `${server.httpUrl}/chat/sessions/${sessionId}`,
      admin,
    );
    expect(detail.deleted_at).toEqual(expect.any(String));
    expect(detail.messages).toHaveLength(2);
    const page = await getJson<{ items: Array<{ id: string; deleted_at: string | null }> }>(
      `${server.httpUrl}/chat/admin/sessions?user_id=${user}`,
      admin,
    );
    expect(page.items.find((item) => item.id === sessionId)?.deleted_at).toEqual(expect.any(String));
  });
});
