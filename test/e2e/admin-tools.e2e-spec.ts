import { authHeaders, startApp, type RunningApp } from '../helpers/app';
import { adminToken, uniqueUser, userToken } from '../helpers/tokens';
import { TestClient } from '../helpers/ws-client';

// Issue 15, item 6: canned responses (their own collection) and internal notes (admins only, never
// on the user's socket or in the user's export).
describe('admin tools (e2e)', () => {
  let server: RunningApp;
  const admin = adminToken('tools-admin', 'Tia Tools');

  beforeAll(async () => {
    server = await startApp();
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

  it('should create, list, update and delete canned responses, with unique valid shortcuts, for admins only', async () => {
    const shortcut = `greet-${Math.random().toString(36).slice(2, 8)}`;
    const created = await call('POST', '/chat/admin/canned-responses', admin, {
      title: 'Greeting',
      text: 'Hello! How can I help?',
      shortcut,
    });
    expect(created.status).toBe(201);
    const body = (await created.json()) as { id: string; shortcut: string; created_by: string };
    expect(body).toMatchObject({ shortcut, created_by: 'tools-admin' });

    // a taken shortcut: 409 ALREADY_EXISTS since the adminui audit of session 43 (400 INVALID_MESSAGE before)
    const taken = await call('POST', '/chat/admin/canned-responses', admin, {
      title: 'x',
      text: 'y',
      shortcut,
    });
    expect(taken.status).toBe(409);
    expect(((await taken.json()) as { error: { code: string } }).error.code).toBe('ALREADY_EXISTS');
    for (const bad of [
      { title: 'x', text: 'y', shortcut: 'Has Space' },
      { title: '', text: 'y', shortcut: 'ok' },
      { title: 'x', text: 'y' },
      { title: 'x', text: 'y', shortcut: 'ok', extra: true },
    ])
      expect((await call('POST', '/chat/admin/canned-responses', admin, bad)).status).toBe(400);
    expect((await call('GET', '/chat/admin/canned-responses', userToken(uniqueUser()))).status).toBe(403);

    const updated = await call('PATCH', `/chat/admin/canned-responses/${body.id}`, admin, {
      text: 'Hi there!',
    });
    expect(await updated.json()).toMatchObject({ text: 'Hi there!', title: 'Greeting' });
    const list = (await (await call('GET', '/chat/admin/canned-responses', admin)).json()) as Array<{
      id: string;
    }>;
    expect(list.map((item) => item.id)).toContain(body.id);
    expect((await call('DELETE', `/chat/admin/canned-responses/${body.id}`, admin)).status).toBe(204);
    expect((await call('DELETE', `/chat/admin/canned-responses/${body.id}`, admin)).status).toBe(404);
    expect(
      (await call('PATCH', `/chat/admin/canned-responses/${body.id}`, admin, { text: 'x' })).status,
    ).toBe(404);
  });

  // Found by the text-limits black-box audit in session 42 (3 of 3): the DTO counted "✔️" as one
  // character (validator.js isLength), the socket counts code points. 3,900 letters and 100 "✔️" were
  // stored as 4,000 and the assisting admin who sent them got MESSAGE_TOO_LONG (4,100 code points at
  // the default MAX_MESSAGE_LENGTH of 4,096). Any canned response stored can be sent as it is.
  it('should store only canned responses an assisting admin can send, counting code points as the socket does', async () => {
    const ada = adminToken(uniqueUser('ada'), 'Ada');
    const canned = (text: string) =>
      call('POST', '/chat/admin/canned-responses', ada, {
        title: 'Checklist',
        text,
        shortcut: `check-${Math.random().toString(36).slice(2, 8)}`,
      });
    const tooLong = `${'Thanks for waiting. '.repeat(195)}${'✔️'.repeat(100)}`;
    const refused = await canned(tooLong);
    const fits = `${'Thanks for waiting. '.repeat(190)}${'✔️'.repeat(100)}`;
    const created = await canned(fits);
    const stored = (await created.json()) as { text?: string };

    const user = await TestClient.connect(`${server.wsUrl}?token=${userToken(uniqueUser('user'))}`);
    const sessionId = String((await user.nextOfType('connection_status')).session_id);
    const helper = await TestClient.connect(`${server.wsUrl}?token=${ada}`);
    await helper.nextOfType('connection_status');
    helper.send({ type: 'admin_join', session_id: sessionId, client_id: 'join' });
    await helper.next((frame) => frame.client_id === 'join' && frame.type === 'ack');
    helper.send({ type: 'user_message', client_id: 'canned', content: stored.text ?? fits });
    const answer = await helper.next(
      (frame) => frame.client_id === 'canned' && (frame.type === 'ack' || frame.type === 'error'),
    );
    await Promise.all([user.close(), helper.close()]);
    expect({
      refused: refused.status,
      code_points: [[...tooLong].length, [...fits].length],
      stored: created.status,
      send: answer.type,
    }).toEqual({ refused: 400, code_points: [4100, 4000], stored: 201, send: 'ack' });
  });

  it('should keep internal notes for admins only: never on the user socket, detail or export', async () => {
    const token = userToken(uniqueUser());
    const client = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    const sessionId = String((await client.nextOfType('connection_status')).session_id);
    client.send({ type: 'user_message', client_id: 'u1', content: 'hello' });
    await client.reply();

    const note = await call('POST', `/chat/admin/sessions/${sessionId}/notes`, admin, {
      text: 'VIP customer, refund approved',
    });
    expect(note.status).toBe(201);
    expect(await note.json()).toMatchObject({
      admin_name: 'Tia Tools',
      text: 'VIP customer, refund approved',
    });
    const notes = (await (
      await call('GET', `/chat/admin/sessions/${sessionId}/notes`, admin)
    ).json()) as Array<{ text: string }>;
    expect(notes.map((item) => item.text)).toEqual(['VIP customer, refund approved']);

    expect((await call('GET', `/chat/admin/sessions/${sessionId}/notes`, token)).status).toBe(403);
    expect((await call('POST', `/chat/admin/sessions/${sessionId}/notes`, token, { text: 'x' })).status).toBe(
      403,
    );
    expect((await call('POST', `/chat/admin/sessions/missing/notes`, admin, { text: 'x' })).status).toBe(404);
    expect((await call('POST', `/chat/admin/sessions/${sessionId}/notes`, admin, { text: '' })).status).toBe(
      400,
    );

    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(client.raw.join('\n')).not.toContain('refund approved');
    expect(await (await call('GET', `/chat/sessions/${sessionId}`, token)).text()).not.toContain(
      'refund approved',
    );
    expect(
      await (await call('GET', `/chat/sessions/${sessionId}/export?format=json`, token)).text(),
    ).not.toContain('refund');
    await client.close();
  });
});
