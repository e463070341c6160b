import { authHeaders, getJson, startApp, type RunningApp } from '../helpers/app';
import { adminToken, uniqueUser, userToken } from '../helpers/tokens';
import { TestClient } from '../helpers/ws-client';

interface Metrics {
  help_answered: number;
  p50_help_response_ms: number;
  p90_help_response_ms: number;
  max_help_response_ms: number;
  csat: unknown[];
  models: Array<Record<string, unknown>>;
}

// Issue 15, item 11: the dashboard's metrics add feedback rate and regenerations per model and the
// help → join time distribution, read from the store (FerretDB in the e2e runs: the per-message
// projection and the per-request times are checked here).
describe('admin metrics by model and help response times (e2e)', () => {
  let server: RunningApp;
  const admin = adminToken('metrics-admin', 'Metrics Admin');

  beforeAll(async () => {
    server = await startApp();
  });
  afterAll(() => server.close());

  const regenerations = async () => {
    const text = await (await fetch(`${server.httpUrl}/metrics`)).text();
    const line = text.split('\n').find((row) => row.startsWith('chatbox_regenerations_total{model="demo"}'));
    return line ? Number(line.split(' ').at(-1)) : 0;
  };

  it('should count replies, ratings and regenerations per model and the p50/p90 of help → join', async () => {
    const before = await regenerations();
    const token = userToken(uniqueUser());
    const client = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    const sessionId = String((await client.nextOfType('connection_status')).session_id);
    const started = Date.now();
    client.send({ type: 'user_message', client_id: 'u1', content: 'question' });
    const first = (await client.reply()).final;
    client.send({ type: 'regenerate', client_id: 'r1' });
    await client.nextOfType('ack');
    const second = (await client.reply()).final;
    expect(second.metadata?.alternative_of).toBe(first.id);
    expect(await regenerations()).toBe(before + 1);
    const rated = await fetch(`${server.httpUrl}/chat/sessions/${sessionId}/messages/${second.id}/feedback`, {
      method: 'PUT',
      headers: { ...authHeaders(token), 'content-type': 'application/json' },
      body: JSON.stringify({ rating: 'down' }),
    });
    expect(rated.status).toBe(200);

    // two help requests, each answered by a takeover: two per-request times
    for (const id of ['h1', 'h2']) {
      client.send({ type: 'help_request', client_id: id, content: 'a person please' });
      await client.nextOfType('system_message');
      await new Promise((resolve) => setTimeout(resolve, 100));
      const path = `${server.httpUrl}/chat/admin/sessions/${sessionId}`;
      expect((await fetch(`${path}/takeover`, { method: 'POST', headers: authHeaders(admin) })).status).toBe(
        200,
      );
      await client.nextOfType('admin_join');
      expect((await fetch(`${path}/release`, { method: 'POST', headers: authHeaders(admin) })).status).toBe(
        200,
      );
      await client.nextOfType('admin_leave');
    }

    const from = new Date(started - 1000).toISOString();
    const to = new Date(Date.now() + 60_000).toISOString();
    const metrics = await getJson<Metrics>(
      `${server.httpUrl}/chat/admin/metrics?from=${from}&to=${to}`,
      admin,
    );
    expect(metrics.models).toEqual([
      {
        model_id: 'demo',
        replies: 2,
        rated: 1,
        feedback_rate: 0.5,
        feedback_up: 0,
        feedback_down: 1,
        regenerations: 1,
      },
    ]);
    expect(metrics.help_answered).toBe(2);
    expect(metrics.p50_help_response_ms).toBeGreaterThanOrEqual(100);
    expect(metrics.p90_help_response_ms).toBeGreaterThanOrEqual(metrics.p50_help_response_ms);
    expect(metrics.p90_help_response_ms).toBe(metrics.max_help_response_ms);
    expect(metrics.csat).toEqual([]);
    await client.close();
  });
});
