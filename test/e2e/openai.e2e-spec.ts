import { startOpenAiFake, type OpenAiFake } from '../fakes/openai-fake';
import { getJson, startApp, type RunningApp, type SessionBody } from '../helpers/app';
import { uniqueUser, userToken } from '../helpers/tokens';
import { TestClient } from '../helpers/ws-client';

// The openai provider through the official SDK against a server speaking OpenAI's exact SSE format.
describe('OpenAI provider (e2e)', () => {
  let fake: OpenAiFake;
  let server: RunningApp;

  beforeAll(async () => {
    fake = await startOpenAiFake({
      chunkSize: 3,
      delayMs: 2,
      usage: { promptTokens: 17, completionTokens: 9 },
    });
    server = await startApp({
      LLM_PROVIDERS: JSON.stringify([
        {
          id: 'gpt',
          name: 'GPT',
          type: 'openai',
          endpoint: fake.url,
          api_key: 'sk-test',
          model: 'gpt-test',
          system_prompt: 'Be brief.',
        },
        { id: 'demo', name: 'Demo', type: 'demo', delay_ms: 1 },
      ]),
    });
  });
  afterAll(async () => {
    await server.close();
    await fake.close();
  });

  it('should stream the reply, store it with the usage the provider reported, and send history as context', async () => {
    const token = userToken(uniqueUser());
    const client = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    const status = await client.nextOfType('connection_status');
    expect(status.metadata?.models).toEqual([
      { id: 'gpt', name: 'GPT' },
      { id: 'demo', name: 'Demo' },
    ]);
    client.send({ type: 'user_message', client_id: 'o1', content: 'Grüße 👋 from Zürich' });
    const first = await client.reply();
    expect(first.final.content).toBe('Echo: Grüße 👋 from Zürich');
    expect(first.deltas).toBe(first.final.content);
    expect(first.final.metadata?.usage).toEqual({
      prompt_tokens: 17,
      completion_tokens: 9,
      total_tokens: 26,
    });
    expect(first.final.model_id).toBe('gpt');

    client.send({ type: 'user_message', client_id: 'o2', content: 'second' });
    await client.reply();
    const body = fake.requests.at(-1)?.body as {
      messages: Array<{ role: string; content: string }>;
      stream: boolean;
      stream_options: unknown;
      model: string;
    };
    expect(body.stream).toBe(true);
    expect(body.stream_options).toEqual({ include_usage: true });
    expect(body.model).toBe('gpt-test');
    expect(body.messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Grüße 👋 from Zürich' },
      { role: 'assistant', content: 'Echo: Grüße 👋 from Zürich' },
      { role: 'user', content: 'second' },
    ]);
    expect(fake.requests.at(-1)?.headers.authorization).toBe('Bearer sk-test');

    const detail = await getJson<SessionBody>(`${server.httpUrl}/chat/sessions/${status.session_id}`, token);
    expect(detail.total_tokens).toBe(52);
    expect(detail.max_response_ms).toBeGreaterThan(0);
    await client.close();
  });

  it('should keep the chosen model for later turns after model_select', async () => {
    const client = await TestClient.connect(`${server.wsUrl}?token=${userToken(uniqueUser())}`);
    await client.nextOfType('connection_status');
    client.send({ type: 'model_select', client_id: 'm', model_id: 'demo' });
    expect((await client.nextOfType('model_select')).model_id).toBe('demo');
    const before = fake.requests.length;
    client.send({ type: 'user_message', client_id: 'd1', content: 'hi demo' });
    const { final } = await client.reply();
    expect(final.model_id).toBe('demo');
    expect(final.content).toContain('offline demo model');
    expect(fake.requests.length).toBe(before);
    await client.close();
  });

  it('should survive a multi-byte character split across network chunks', async () => {
    fake.enqueue({ reply: 'naïve café ☕ 日本語', splitWrites: true });
    const client = await TestClient.connect(`${server.wsUrl}?token=${userToken(uniqueUser())}`);
    await client.nextOfType('connection_status');
    client.send({ type: 'user_message', client_id: 'u1', content: 'unicode please' });
    const { final, deltas } = await client.reply();
    expect(final.content).toBe('naïve café ☕ 日本語');
    expect(deltas).toBe('naïve café ☕ 日本語');
    await client.close();
  });

  it('should send LLM_UNAVAILABLE (recoverable) when the provider fails before the first token', async () => {
    // every attempt (3 by default) fails
    fake.enqueue({ status: 500 }, { status: 500 }, { status: 500 });
    const client = await TestClient.connect(`${server.wsUrl}?token=${userToken(uniqueUser())}`);
    await client.nextOfType('connection_status');
    client.send({ type: 'user_message', client_id: 'f1', content: 'will fail' });
    const error = await client.nextOfType('error');
    expect(error).toMatchObject({ client_id: 'f1', error: { code: 'LLM_UNAVAILABLE', recoverable: true } });
    client.send({ type: 'user_message', client_id: 'f2', content: 'works again' });
    expect((await client.reply()).final.content).toBe('Echo: works again');
    await client.close();
  });

  it('should abort the upstream request on stop_generation', async () => {
    fake.enqueue({ reply: 'word '.repeat(200), chunkSize: 5, delayMs: 20 });
    const client = await TestClient.connect(`${server.wsUrl}?token=${userToken(uniqueUser())}`);
    await client.nextOfType('connection_status');
    client.send({ type: 'user_message', client_id: 's1', content: 'long one' });
    await client.next((frame) => frame.type === 'ai_response' && frame.metadata?.done === false);
    const aborted = fake.aborted;
    client.send({ type: 'stop_generation' });
    await fake.waitForAbort(aborted + 1);
    const { final } = await client.reply();
    expect(final.metadata?.stopped).toBe(true);
    await client.close();
  });
});
