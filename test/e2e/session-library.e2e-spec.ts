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

  // CONTRACT §3: a file is read by its owner or the admin assisting its session. Before, an export
  // signed its links for any admin who read the session (and for its deleted sessions too).
  it('should sign export links only for a reader GET /chat/files serves, and give others the stable URL', async () => {
    const token = userToken(uniqueUser());
    const { client, sessionId, fileId } = await conversation(token);
    const stable = `/chat/files/${fileId}`;
    const attachmentFor = async (reader: string) => {
      const answer = await call('GET', `/chat/sessions/${sessionId}/export?format=json`, reader);
      expect(answer.status).toBe(200);
      const body = (await answer.json()) as { messages: Array<{ attachment?: { url: string } }> };
      return body.messages[0].attachment as { url: string; expires_at?: string };
    };
    const opens = async (url: string, reader?: string) =>
      (
        await fetch(new URL(url, server.httpUrl), {
          headers: reader ? authHeaders(reader) : {},
          redirect: 'manual',
        })
      ).status;

    const bystander = adminToken(uniqueUser('admin'));
    const unsigned = await attachmentFor(bystander);
    expect(unsigned).toEqual({ name: 'cat [1].png', url: stable });
    expect(await opens(stable, bystander)).toBe(404);
    expect(await opens(stable, token)).toBe(302);
    const markdown = await (await call('GET', `/chat/sessions/${sessionId}/export`, bystander)).text();
    expect(markdown).toContain(`Attachment: [cat \\[1\\].png](<${stable}>)\n`);
    expect(markdown).not.toContain('signature=');

    // the admin assisting the session gets signed links, as from GET /chat/files
    const assisting = adminToken(uniqueUser('admin'), 'Ada');
    expect((await call('POST', `/chat/admin/sessions/${sessionId}/takeover`, assisting)).status).toBe(200);
    const signed = await attachmentFor(assisting);
    expect(signed.url).toContain('/chat/blob?');
    expect(await opens(signed.url)).toBe(200);
    expect(await opens(stable, assisting)).toBe(302);

    // once its user deleted the session, no admin reads its files
    await client.close();
    expect((await call('DELETE', `/chat/sessions/${sessionId}`, token)).status).toBe(204);
    for (const reader of [assisting, bystander]) {
      expect((await attachmentFor(reader)).url).toBe(stable);
      expect(await opens(stable, reader)).toBe(404);
    }
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
    // Found by the text-limits black-box audit in session 42 (1 of 1): the length was checked before
    // the trim, so 120 letters between two spaces were 400 though a name is 1–120 characters trimmed
    const spaced = await call('PATCH', `/chat/sessions/${sessionId}`, token, {
      name: ` ${'é'.repeat(120)} `,
    });
    expect(spaced.status).toBe(200);
    expect(await spaced.json()).toEqual({ id: sessionId, name: 'é'.repeat(120) });
    expect((await call('PATCH', `/chat/sessions/${sessionId}`, token, { name: 'Trip plans' })).status).toBe(
      200,
    );
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

  // Same client_id, same message, applied once (CONTRACT: resends), new_session included: the races
  // audit of session 34 resent one after a cut, resuming the old session first, and the user had
  // three sessions, 10 of 10 (docs/protocol.md, "Session library")
  it('should open one session for a new_session resent with its client_id, after resuming the old one too', async () => {
    const token = userToken(uniqueUser());
    const first = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    const old = String((await first.nextOfType('connection_status')).session_id);
    first.send({ type: 'new_session', client_id: 'ns-1' });
    const ack = await first.next((frame) => frame.type === 'ack' && frame.client_id === 'ns-1');
    const made = String(ack.session_id);
    expect(made).not.toBe(old);
    // again on the same socket: the same session, nothing new
    first.send({ type: 'new_session', client_id: 'ns-1' });
    const again = await first.next(
      (frame) => frame.type === 'ack' && frame.client_id === 'ns-1' && frame !== ack,
    );
    expect(again.session_id).toBe(made);
    await first.close();
    // the client did not see its ack: it resumes where it was, and sends it again
    const second = await TestClient.connect(`${server.wsUrl}?token=${token}&session_id=${old}&last_seq=0`);
    await second.nextOfType('connection_status');
    second.send({ type: 'new_session', client_id: 'ns-1' });
    const resent = await second.next((frame) => frame.type === 'ack' && frame.client_id === 'ns-1');
    expect(resent.session_id).toBe(made);
    await second.close();
    const sessions = (await (await call('GET', '/chat/sessions', token)).json()) as Array<{
      id: string;
      is_active: boolean;
    }>;
    expect(sessions.map((session) => session.id).sort()).toEqual([old, made].sort());
    expect(sessions.filter((session) => session.is_active).map((session) => session.id)).toEqual([made]);
  });

  // the list stopped at 100 sessions, with no way to the rest
  it('should page the session list by a cursor in a Link header, the default answer unchanged', async () => {
    const token = userToken(uniqueUser());
    const client = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    await client.nextOfType('connection_status');
    for (let index = 0; index < 4; index++) {
      client.send({ type: 'new_session', client_id: `n${index}` });
      await client.next((frame) => frame.type === 'ack' && frame.client_id === `n${index}`);
    }
    await client.close();
    const all = await call('GET', '/chat/sessions', token);
    expect(all.headers.get('link')).toBeNull();
    const everyId = ((await all.json()) as Summary[]).map((session) => session.id);
    expect(everyId).toHaveLength(5);

    const pages: string[][] = [];
    let next: string | undefined = '/chat/sessions?limit=2';
    while (next) {
      const answer = await call('GET', next, token);
      expect(answer.status).toBe(200);
      pages.push(((await answer.json()) as Summary[]).map((session) => session.id));
      const link = answer.headers.get('link');
      next = link ? /^<([^>]+)>; rel="next"$/.exec(link)?.[1] : undefined;
      if (link) expect(next).toMatch(/^\/chat\/sessions\?limit=2&before=/);
    }
    expect(pages.map((page) => page.length)).toEqual([2, 2, 1]);
    expect(pages.flat()).toEqual(everyId);
    // a full last page says there may be more; the page after it is empty
    const four = await call('GET', '/chat/sessions?limit=4', token);
    const after = /^<([^>]+)>/.exec(four.headers.get('link') ?? '')?.[1] as string;
    const rest = (await (await call('GET', after.replace('limit=4', 'limit=1'), token)).json()) as Summary[];
    expect(rest.map((session) => session.id)).toEqual([everyId[4]]);
    // archived sessions page the same way, the filter kept in the link
    expect((await call('PATCH', `/chat/sessions/${everyId[0]}`, token, { archived: true })).status).toBe(200);
    expect((await call('PATCH', `/chat/sessions/${everyId[1]}`, token, { archived: true })).status).toBe(200);
    const archived = await call('GET', '/chat/sessions?archived=true&limit=1', token);
    expect(((await archived.json()) as Summary[]).map((session) => session.id)).toEqual([everyId[0]]);
    expect(archived.headers.get('link')).toMatch(
      /^<\/chat\/sessions\?archived=true&limit=1&before=[^>]+>; rel="next"$/,
    );
    for (const bad of [
      'limit=0',
      'limit=101',
      'limit=x',
      'before=x',
      'before=1.',
      'before=',
      'before=99.a b',
    ])
      expect([bad, (await call('GET', `/chat/sessions?${bad}`, token)).status]).toEqual([bad, 400]);
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

  // docs/protocol.md, "Session library": before, a socket open on the deleted session went on storing
  // there (acked, answered) what its user could no longer see
  it('should move every device of a deleted session to a new one, and store nothing more in it', async () => {
    const token = userToken(uniqueUser());
    const phone = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    const sessionId = String((await phone.nextOfType('connection_status')).session_id);
    const laptop = await TestClient.connect(`${server.wsUrl}?token=${token}&session_id=${sessionId}`);
    await laptop.nextOfType('connection_status');
    phone.send({ type: 'user_message', client_id: 'e1', content: 'before delete' });
    await phone.reply();

    expect((await call('DELETE', `/chat/sessions/${sessionId}`, token)).status).toBe(204);
    const moved = await Promise.all(
      [phone, laptop].map((device) =>
        device.next((frame) => frame.type === 'connection_status' && frame.session_id !== sessionId),
      ),
    );
    const newId = moved[0].session_id;
    expect(moved[1].session_id).toBe(newId);
    expect(moved[0]).toMatchObject({ seq: 0, metadata: { restored: false } });

    phone.send({ type: 'user_message', client_id: 'e2', content: 'after delete' });
    expect(await phone.next((frame) => frame.type === 'ack' && frame.client_id === 'e2')).toMatchObject({
      session_id: newId,
      seq: 1,
    });
    await phone.reply();
    const listed = await getJson<Summary[]>(`${server.httpUrl}/chat/sessions`, token);
    expect(listed.map((session) => session.id)).toEqual([newId]);
    const deleted = await getJson<{ messages: Array<{ client_id?: string }> }>(
      `${server.httpUrl}/chat/sessions/${sessionId}`,
      admin,
    );
    expect(deleted.messages.map((message) => message.client_id)).toEqual(['e1', 'e1']);
    await Promise.all([phone.close(), laptop.close()]);
  });
});
