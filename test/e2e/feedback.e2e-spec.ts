import { authHeaders, getJson, startApp, type RunningApp, type SessionBody } from '../helpers/app';
import { adminToken, uniqueUser, userToken } from '../helpers/tokens';
import { TestClient } from '../helpers/ws-client';

// Issue 15, item 3: thumbs up/down on an AI reply, stored on the message, counted by model in
// /metrics and in the admin metrics, filterable in the admin list.
describe('feedback on replies (e2e)', () => {
  let server: RunningApp;
  const admin = adminToken('feedback-admin');

  beforeAll(async () => {
    server = await startApp();
  });
  afterAll(() => server.close());

  const rate = (token: string, sessionId: string, messageId: string, body: unknown) =>
    fetch(`${server.httpUrl}/chat/sessions/${sessionId}/messages/${messageId}/feedback`, {
      method: 'PUT',
      headers: { ...authHeaders(token), 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const metric = async (rating: string) => {
    const text = await (await fetch(`${server.httpUrl}/metrics`)).text();
    const line = text
      .split('\n')
      .find((row) => row.startsWith(`chatbox_feedback_total{model="demo",rating="${rating}"}`));
    return line ? Number(line.split(' ').at(-1)) : 0;
  };

  it('should store a rating with its reason on the reply, tell the other devices, and count it', async () => {
    const user = uniqueUser();
    const token = userToken(user);
    const client = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    const status = await client.nextOfType('connection_status');
    const sessionId = String(status.session_id);
    client.send({ type: 'user_message', client_id: 'u1', content: 'rate me' });
    const reply = (await client.reply()).final;
    const downBefore = await metric('down');

    const response = await rate(token, sessionId, String(reply.id), { rating: 'down', reason: 'Too vague' });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ id: reply.id, rating: 'down' });
    expect(await client.nextOfType('feedback')).toMatchObject({
      id: reply.id,
      metadata: { feedback: 'down' },
    });
    expect(await metric('down')).toBe(downBefore + 1);

    const detail = await getJson<SessionBody & { feedback_down: number }>(
      `${server.httpUrl}/chat/sessions/${sessionId}`,
      token,
    );
    const stored = detail.messages.find((message) => message.id === reply.id);
    expect(stored?.metadata).toMatchObject({ feedback: 'down' });
    expect(stored?.feedback_reason).toBe('Too vague');
    expect(detail.feedback_down).toBe(1);

    // the admin list filters sessions with negative feedback; metrics sum them
    const negative = await getJson<{ items: Array<{ id: string; feedback_down: number }> }>(
      `${server.httpUrl}/chat/admin/sessions?feedback=negative&user_id=${user}`,
      admin,
    );
    expect(negative.items.map((item) => [item.id, item.feedback_down])).toEqual([[sessionId, 1]]);

    // changed to up: the session counts one up and no down; a replay shows the new rating
    expect((await rate(token, sessionId, String(reply.id), { rating: 'up' })).status).toBe(200);
    const after = await getJson<SessionBody & { feedback_up: number; feedback_down: number }>(
      `${server.httpUrl}/chat/sessions/${sessionId}`,
      token,
    );
    expect([after.feedback_up, after.feedback_down]).toEqual([1, 0]);
    expect(after.messages.find((message) => message.id === reply.id)?.feedback_reason).toBeUndefined();
    const none = await getJson<{ total: number }>(
      `${server.httpUrl}/chat/admin/sessions?feedback=negative&user_id=${user}`,
      admin,
    );
    expect(none.total).toBe(0);
    const metrics = await getJson<{ feedback_up: number }>(`${server.httpUrl}/chat/admin/metrics`, admin);
    expect(metrics.feedback_up).toBeGreaterThanOrEqual(1);
    await client.close();
  });

  it('should refuse bad bodies, user messages, and other users', async () => {
    const token = userToken(uniqueUser());
    const client = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    const sessionId = String((await client.nextOfType('connection_status')).session_id);
    client.send({ type: 'user_message', client_id: 'u1', content: 'hello' });
    const ack = await client.nextOfType('ack');
    const reply = (await client.reply()).final;
    expect((await rate(token, sessionId, String(reply.id), { rating: 'meh' })).status).toBe(400);
    expect((await rate(token, sessionId, String(reply.id), { rating: 'up', extra: 1 })).status).toBe(400);
    expect(
      (await rate(token, sessionId, String(reply.id), { rating: 'up', reason: 'x'.repeat(501) })).status,
    ).toBe(400);
    expect((await rate(token, sessionId, String(ack.id), { rating: 'up' })).status).toBe(404);
    expect((await rate(userToken(uniqueUser()), sessionId, String(reply.id), { rating: 'up' })).status).toBe(
      404,
    );
    expect((await rate(token, sessionId, String(reply.id), {})).status).toBe(400);
    const bad = await fetch(`${server.httpUrl}/chat/admin/sessions?feedback=maybe`, {
      headers: authHeaders(admin),
    });
    expect(bad.status).toBe(400);
    await client.close();
  });

  // docs/protocol.md, "Session library": a deleted session is gone for its user. The audit rated a
  // reply of one after DELETE: 200, the rating and its encrypted reason stored, feedback_down up, and
  // the session listed in the admin's ?feedback=negative
  it('should refuse a rating on a session its user deleted, and store or count nothing', async () => {
    const user = uniqueUser();
    const token = userToken(user);
    const client = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    const sessionId = String((await client.nextOfType('connection_status')).session_id);
    client.send({ type: 'user_message', client_id: 'u1', content: 'rate me later' });
    const reply = (await client.reply()).final;
    await client.close();
    const downBefore = await metric('down');
    const deleted = await fetch(`${server.httpUrl}/chat/sessions/${sessionId}`, {
      method: 'DELETE',
      headers: authHeaders(token),
    });
    expect(deleted.status).toBe(204);
    const rated = await rate(token, sessionId, String(reply.id), { rating: 'down', reason: 'secret reason' });
    expect(rated.status).toBe(404);
    expect(await metric('down')).toBe(downBefore);
    const detail = await getJson<SessionBody & { feedback_down?: number }>(
      `${server.httpUrl}/chat/sessions/${sessionId}`,
      admin,
    );
    expect(detail.feedback_down ?? 0).toBe(0);
    const stored = detail.messages.find((message) => message.id === reply.id);
    expect([stored?.metadata?.feedback, stored?.feedback_reason]).toEqual([undefined, undefined]);
    const negative = await getJson<{ total: number }>(
      `${server.httpUrl}/chat/admin/sessions?feedback=negative&user_id=${user}`,
      admin,
    );
    expect(negative.total).toBe(0);
  });
});
