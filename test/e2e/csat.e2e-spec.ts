import { authHeaders, getJson, startApp, type RunningApp } from '../helpers/app';
import { adminToken, uniqueUser, userToken } from '../helpers/tokens';
import { TestClient } from '../helpers/ws-client';

// Issue 15, item 6: CSAT when a takeover ends: the user rates it 1-5 (+ comment), stored on the
// session, in /metrics per admin and in the admin metrics (average and distribution).
describe('CSAT after a takeover (e2e)', () => {
  let server: RunningApp;

  beforeAll(async () => {
    server = await startApp();
  });
  afterAll(() => server.close());

  const post = (path: string, token: string, body?: unknown) =>
    fetch(`${server.httpUrl}${path}`, {
      method: 'POST',
      headers: {
        ...authHeaders(token),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  it('should store the rating of the takeover that ended, the latest one kept, and count it per admin', async () => {
    const adminId = uniqueUser('admin');
    const admin = adminToken(adminId, 'Cora Csat');
    const token = userToken(uniqueUser());
    const client = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    const sessionId = String((await client.nextOfType('connection_status')).session_id);
    client.send({ type: 'user_message', client_id: 'u1', content: 'help me' });
    await client.reply();

    // nothing to rate before a takeover ended
    expect((await post(`/chat/sessions/${sessionId}/csat`, token, { rating: 5 })).status).toBe(404);
    expect((await post(`/chat/admin/sessions/${sessionId}/takeover`, admin)).status).toBe(200);
    expect((await post(`/chat/sessions/${sessionId}/csat`, token, { rating: 5 })).status).toBe(404);
    expect((await post(`/chat/admin/sessions/${sessionId}/release`, admin)).status).toBe(200);
    await client.nextOfType('admin_leave');

    for (const bad of [
      { rating: 0 },
      { rating: 6 },
      { rating: 4.5 },
      { rating: '5' },
      {},
      { rating: 3, comment: 'x'.repeat(1001) },
    ])
      expect((await post(`/chat/sessions/${sessionId}/csat`, token, bad)).status).toBe(400);
    expect(
      (await post(`/chat/sessions/${sessionId}/csat`, userToken(uniqueUser()), { rating: 1 })).status,
    ).toBe(404);

    const first = await post(`/chat/sessions/${sessionId}/csat`, token, { rating: 2, comment: 'slow' });
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({
      session_id: sessionId,
      admin_id: adminId,
      admin_name: 'Cora Csat',
      rating: 2,
    });
    // changed once, then the same rating sent again (a retried request): counted once more, not twice
    for (let sent = 0; sent < 2; sent++)
      expect(
        (await post(`/chat/sessions/${sessionId}/csat`, token, { rating: 5, comment: 'Great help' })).status,
      ).toBe(200);

    const prometheus = await (await fetch(`${server.httpUrl}/metrics`)).text();
    expect(prometheus).toContain(`chatbox_csat_total{admin="${adminId}",rating="5"} 1`);
    expect(prometheus).toContain(`chatbox_csat_total{admin="${adminId}",rating="2"} 1`);
    const metrics = await getJson<{ csat: Array<Record<string, unknown>> }>(
      `${server.httpUrl}/chat/admin/metrics`,
      admin,
    );
    expect(metrics.csat.find((entry) => entry.admin_id === adminId)).toEqual({
      admin_id: adminId,
      admin_name: 'Cora Csat',
      count: 1,
      average: 5,
      distribution: [0, 0, 0, 0, 1],
    });
    await client.close();
  });

  // docs/protocol.md, "Session library": a deleted session is gone for its user; the audit's CSAT
  // of a takeover in one after DELETE was 200 and stored
  it('should refuse a rating of a takeover in a session its user deleted', async () => {
    const adminId = uniqueUser('admin');
    const admin = adminToken(adminId, 'Dora Deleted');
    const token = userToken(uniqueUser());
    const client = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    const sessionId = String((await client.nextOfType('connection_status')).session_id);
    expect((await post(`/chat/admin/sessions/${sessionId}/takeover`, admin)).status).toBe(200);
    expect((await post(`/chat/admin/sessions/${sessionId}/release`, admin)).status).toBe(200);
    await client.nextOfType('admin_leave');
    await client.close();
    const deleted = await fetch(`${server.httpUrl}/chat/sessions/${sessionId}`, {
      method: 'DELETE',
      headers: authHeaders(token),
    });
    expect(deleted.status).toBe(204);
    expect((await post(`/chat/sessions/${sessionId}/csat`, token, { rating: 1 })).status).toBe(404);
    const prometheus = await (await fetch(`${server.httpUrl}/metrics`)).text();
    expect(prometheus).not.toContain(`chatbox_csat_total{admin="${adminId}"`);
  });
});
