import { startOpenAiFake, type OpenAiFake } from '../fakes/openai-fake';
import type { RecordedRequest } from '../fakes/sse';
import { authHeaders, getJson, startApp, type RunningApp } from '../helpers/app';
import { uniqueUser, userToken } from '../helpers/tokens';
import { type Frame, TestClient } from '../helpers/ws-client';

const TITLE_MARK = 'You name chat conversations';
const isTitleCall = (request: RecordedRequest) => JSON.stringify(request.body).includes(TITLE_MARK);

// A session's title is background work (docs/protocol.md, "Session titles"): the session's next
// reply never waits for it, however long the vendor takes to name the session.
describe('session titles (e2e)', () => {
  let fake: OpenAiFake;
  let server: RunningApp;

  beforeAll(async () => {
    fake = await startOpenAiFake({ chunkSize: 4 });
    server = await startApp({
      LLM_PROVIDERS: JSON.stringify([
        { id: 'gpt', name: 'GPT', type: 'openai', endpoint: fake.url, api_key: 'sk-test', model: 'm' },
      ]),
    });
  });
  afterAll(async () => {
    await server?.close();
    await fake?.close();
  });

  it("should answer the session's next message while its title is still being asked for", async () => {
    const client = await TestClient.connect(`${server.wsUrl}?token=${userToken(uniqueUser())}`);
    await client.nextOfType('connection_status');
    // the first reply at once; the title held by the vendor for seconds
    fake.enqueue({}, { reply: 'Trip Plans', initialDelayMs: 4000 });
    client.send({ type: 'user_message', client_id: 't1', content: 'plans for a trip to Zürich' });
    await client.reply();
    await fake.waitForRequests(2);
    expect(isTitleCall(fake.requests[1])).toBe(true);

    client.send({ type: 'user_message', client_id: 't2', content: 'and for Bern?' });
    const { final } = await client.reply();
    expect(final.content).toBe('Echo: and for Bern?');
    const answered = client.frames.indexOf(final);
    // the title comes after, once the vendor answers (looked for among every frame received)
    const isTitle = (frame: Frame) => frame.type === 'session_renamed' && frame.content === 'Trip Plans';
    for (let waited = 0; !client.frames.some(isTitle) && waited < 10_000; waited += 50)
      await new Promise((resolve) => setTimeout(resolve, 50));
    const renamed = client.frames.findIndex(isTitle);
    expect(renamed).toBeGreaterThanOrEqual(0);
    expect(renamed).toBeGreaterThan(answered);
    await client.close();
  });
  it('should keep the name the owner gave while the title was being asked for', async () => {
    const token = userToken(uniqueUser());
    const client = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    const status = await client.nextOfType('connection_status');
    const asked = fake.requests.length;
    fake.enqueue({}, { reply: 'Model Title', initialDelayMs: 1500 });
    client.send({ type: 'user_message', client_id: 'n1', content: 'what to cook tonight' });
    await client.reply();
    await fake.waitForRequests(asked + 2);
    // the owner names the session while the vendor has not answered the title yet
    const patched = await fetch(`${server.httpUrl}/chat/sessions/${String(status.session_id)}`, {
      method: 'PATCH',
      headers: { ...authHeaders(token), 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Dinner' }),
    });
    expect(patched.status).toBe(200);
    await client.next((frame) => frame.type === 'session_renamed' && frame.content === 'Dinner');
    // the vendor answers the title; the server then has it at once (loopback), and drops it
    const title = fake.requests[asked + 1];
    expect(isTitleCall(title)).toBe(true);
    for (let waited = 0; title.finishedAt === undefined && waited < 10_000; waited += 50)
      await new Promise((resolve) => setTimeout(resolve, 50));
    expect(title.finishedAt).toBeDefined();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(client.frames.some((frame) => frame.content === 'Model Title')).toBe(false);
    const session = await getJson<{ name: string }>(
      `${server.httpUrl}/chat/sessions/${String(status.session_id)}`,
      token,
    );
    expect(session.name).toBe('Dinner');
    await client.close();
  });
});
