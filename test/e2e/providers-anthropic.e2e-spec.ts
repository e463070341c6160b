import { startAnthropicFake, type AnthropicFake } from '../fakes/anthropic-fake';
import { startOpenAiFake, type OpenAiFake } from '../fakes/openai-fake';
import type { RecordedRequest } from '../fakes/sse';
import { getJson, startApp, type RunningApp, type SessionBody } from '../helpers/app';
import { uniqueUser, userToken } from '../helpers/tokens';
import { type Frame, TestClient } from '../helpers/ws-client';

interface AnthropicBody {
  model: string;
  max_tokens: number;
  system?: string;
  stream: boolean;
  messages: Array<{ role: string; content: string }>;
}

const TITLE_MARK = 'You name chat conversations';
const isTitleCall = (request: RecordedRequest) => JSON.stringify(request.body).includes(TITLE_MARK);

// The anthropic provider through @anthropic-ai/sdk against a server speaking the Messages API's
// named-event stream (message_start, pings, content_block_delta, message_delta, message_stop).
describe('Anthropic provider and model switching (e2e)', () => {
  let claude: AnthropicFake;
  let gpt: OpenAiFake;
  let server: RunningApp;

  beforeAll(async () => {
    const reply = (request: RecordedRequest): string => {
      if (isTitleCall(request)) return '"Trip to Zürich."';
      const messages = (request.body.messages ?? []) as Array<{ role: string; content: string }>;
      return `Echo: ${messages.filter((message) => message.role === 'user').at(-1)?.content ?? ''}`;
    };
    claude = await startAnthropicFake({
      chunkSize: 3,
      pings: 2,
      reply,
      usage: { promptTokens: 30, completionTokens: 7 },
    });
    gpt = await startOpenAiFake({ chunkSize: 4, reply, usage: { promptTokens: 11, completionTokens: 3 } });
    server = await startApp({
      LLM_PROVIDERS: JSON.stringify([
        {
          id: 'claude',
          name: 'Claude',
          type: 'anthropic',
          endpoint: claude.baseURL,
          api_key: 'sk-ant-test',
          model: 'claude-test',
          system_prompt: 'Be kind.',
          max_tokens: 300,
          temperature: 0.5,
        },
        { id: 'gpt', name: 'GPT', type: 'openai', endpoint: gpt.url, api_key: 'sk-test', model: 'gpt-test' },
        {
          id: 'claude-small',
          name: 'Claude (small context)',
          type: 'anthropic',
          endpoint: claude.baseURL,
          api_key: 'sk-ant-test',
          model: 'claude-test',
          context_tokens: 120,
          max_tokens: 40,
          titles: false,
        },
      ]),
    });
  });
  afterAll(async () => {
    await server.close();
    await claude.close();
    await gpt.close();
  });
  beforeEach(() => {
    claude.reset();
    gpt.reset();
  });

  async function connect(): Promise<{ client: TestClient; sessionId: string; token: string }> {
    const token = userToken(uniqueUser());
    const client = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    const status = await client.nextOfType('connection_status');
    return { client, sessionId: status.session_id as string, token };
  }

  const chatCalls = (fake: AnthropicFake | OpenAiFake) =>
    fake.requests.filter((request) => !isTitleCall(request));

  it('should stream through the Messages API with system, max_tokens and usage, then name the session', async () => {
    const { client, sessionId, token } = await connect();
    client.send({ type: 'user_message', client_id: 'a1', content: 'Grüße aus Zürich 🇨🇭' });
    const { final, deltas } = await client.reply();
    expect(final.content).toBe('Echo: Grüße aus Zürich 🇨🇭');
    expect(deltas).toBe(final.content);
    expect(final.model_id).toBe('claude');
    expect(final.metadata?.usage).toEqual({ prompt_tokens: 30, completion_tokens: 7, total_tokens: 37 });
    const body = chatCalls(claude)[0].body as unknown as AnthropicBody;
    expect(body).toMatchObject({ model: 'claude-test', max_tokens: 300, system: 'Be kind.', stream: true });
    expect(body.messages).toEqual([{ role: 'user', content: 'Grüße aus Zürich 🇨🇭' }]);
    expect(chatCalls(claude)[0].headers['anthropic-version']).toBeDefined();

    // the model's title replaces the heuristic name, cleaned of quotes and the final period
    const renamed = await client.next(
      (frame) => frame.type === 'session_renamed' && frame.content === 'Trip to Zürich',
    );
    expect(renamed.session_id).toBe(sessionId);
    const title = claude.requests.find(isTitleCall);
    expect(title?.body).toMatchObject({ max_tokens: 24 });
    // one whole answer: nobody watches a title arrive, so it is not streamed
    expect(title?.body.stream).not.toBe(true);
    const session = await getJson<SessionBody>(`${server.httpUrl}/chat/sessions/${sessionId}`, token);
    expect(session.name).toBe('Trip to Zürich');
    // the title's tokens are not the conversation's
    expect(session.total_tokens).toBe(37);
    await client.close();
  });

  it('should ask an OpenAI model for the title in one request that is not streamed', async () => {
    const { client, sessionId } = await connect();
    client.send({ type: 'model_select', model_id: 'gpt' });
    await client.nextOfType('model_select');
    client.send({ type: 'user_message', client_id: 't1', content: 'Plans for Zürich' });
    await client.reply();
    const renamed = await client.next(
      (frame) => frame.type === 'session_renamed' && frame.content === 'Trip to Zürich',
    );
    expect(renamed.session_id).toBe(sessionId);
    const title = gpt.requests.find(isTitleCall);
    expect(title?.body).toMatchObject({ model: 'gpt-test', max_completion_tokens: 24 });
    expect(title?.body.stream).not.toBe(true);
    expect(gpt.requests.filter(isTitleCall)).toHaveLength(1);
    await client.close();
  });

  it('should switch providers mid-session, keep the history, and total the tokens the vendors reported', async () => {
    const { client, sessionId, token } = await connect();
    client.send({ type: 'user_message', client_id: 's1', content: 'first to claude' });
    await client.reply();
    client.send({ type: 'model_select', model_id: 'gpt' });
    await client.nextOfType('model_select');
    client.send({ type: 'user_message', client_id: 's2', content: 'then to gpt' });
    expect((await client.reply()).final.model_id).toBe('gpt');
    const gptBody = chatCalls(gpt)[0].body as { messages: Array<{ role: string; content: string }> };
    expect(gptBody.messages).toEqual([
      { role: 'user', content: 'first to claude' },
      { role: 'assistant', content: 'Echo: first to claude' },
      { role: 'user', content: 'then to gpt' },
    ]);
    client.send({ type: 'model_select', model_id: 'claude' });
    await client.nextOfType('model_select');
    client.send({ type: 'user_message', client_id: 's3', content: 'back to claude' });
    expect((await client.reply()).final.model_id).toBe('claude');
    const claudeBody = chatCalls(claude).at(-1)?.body as unknown as AnthropicBody;
    expect(claudeBody.messages.map((message) => message.role)).toEqual([
      'user',
      'assistant',
      'user',
      'assistant',
      'user',
    ]);
    const session = await getJson<SessionBody>(`${server.httpUrl}/chat/sessions/${sessionId}`, token);
    // two claude replies (30 + 7) and one gpt reply (11 + 3), as the fakes reported them
    expect(session.total_tokens).toBe(2 * 37 + 14);
    expect(session.messages.filter((message) => message.type === 'ai_response')).toHaveLength(3);
    await client.close();
  });

  it('should merge consecutive user turns, as Anthropic requires alternating roles', async () => {
    const { client } = await connect();
    claude.enqueue({ status: 400 });
    client.send({ type: 'user_message', client_id: 'm1', content: 'one' });
    await client.nextOfType('error');
    client.send({ type: 'user_message', client_id: 'm2', content: 'two' });
    await client.reply();
    const body = chatCalls(claude).at(-1)?.body as unknown as AnthropicBody;
    expect(body.messages).toEqual([{ role: 'user', content: 'one\n\ntwo' }]);
    await client.close();
  });

  it('should trim history to the context budget, newest kept, system prompt always sent', async () => {
    const { client } = await connect();
    client.send({ type: 'model_select', model_id: 'claude-small' });
    await client.nextOfType('model_select');
    for (let turn = 1; turn <= 4; turn++) {
      client.send({
        type: 'user_message',
        client_id: `c${turn}`,
        content: `turn ${turn} ${'word '.repeat(12)}`,
      });
      await client.reply();
    }
    const body = chatCalls(claude).at(-1)?.body as unknown as AnthropicBody;
    expect(body.max_tokens).toBe(40);
    expect(body.messages.length).toBeLessThan(7);
    expect(body.messages.at(-1)?.content).toMatch(/^turn 4/);
    expect(body.messages[0].role).toBe('user');
    await client.close();
  });

  it('should survive split multi-byte characters, empty deltas and pings', async () => {
    claude.enqueue({ reply: 'naïve café ☕ 日本語 🎉', splitWrites: true, emptyDeltas: true, pings: 3 });
    const { client } = await connect();
    client.send({ type: 'user_message', client_id: 'u1', content: 'unicode' });
    const { final, deltas } = await client.reply();
    expect(final.content).toBe('naïve café ☕ 日本語 🎉');
    expect(deltas).toBe(final.content);
    await client.close();
  });

  it('should store the partial reply flagged interrupted after an error event mid-stream', async () => {
    claude.enqueue({ reply: 'partial answer here', errorAfterChunks: 2 });
    const { client } = await connect();
    client.send({ type: 'user_message', client_id: 'e1', content: 'break' });
    let deltas = '';
    let final: Frame | undefined;
    let error: Frame | undefined;
    while (!final || !error) {
      const frame = await client.next(
        (candidate) => candidate.type === 'ai_response' || candidate.type === 'error',
      );
      if (frame.type === 'error') error = frame;
      else if (frame.metadata?.done === true) final = frame;
      else deltas += String(frame.metadata?.delta);
    }
    expect(error.error).toMatchObject({ code: 'LLM_UNAVAILABLE', recoverable: true });
    expect(deltas).toBe('partia');
    expect(final.content).toBe('partia');
    expect(final.metadata?.interrupted).toBe(true);
    expect(chatCalls(claude)).toHaveLength(1);
    await client.close();
  });

  // a stream whose body ended cleanly without message_stop was stored as a complete reply
  // (docs/protocol.md, "Vendor streams end with the vendor's end")
  it('should store the partial reply flagged interrupted when the stream ends without message_stop', async () => {
    claude.enqueue({ reply: 'partial answer here', endAfterChunks: 2 });
    const { client, sessionId, token } = await connect();
    client.send({ type: 'user_message', client_id: 'e2', content: 'end early' });
    const error = await client.nextOfType('error');
    expect(error.error).toMatchObject({ code: 'LLM_UNAVAILABLE', recoverable: true });
    const final = client.frames.find(
      (frame) => frame.type === 'ai_response' && frame.metadata?.done === true,
    );
    expect(final).toMatchObject({ content: 'partia', metadata: { interrupted: true } });
    expect(chatCalls(claude)).toHaveLength(1);
    const session = await getJson<SessionBody>(`${server.httpUrl}/chat/sessions/${sessionId}`, token);
    expect(session.messages.at(-1)).toMatchObject({ content: 'partia', metadata: { interrupted: true } });
    await client.close();
  });

  it('should abort the upstream request on stop_generation and new_session', async () => {
    for (const command of ['stop_generation', 'new_session']) {
      claude.enqueue({ reply: 'word '.repeat(200), chunkSize: 5, delayMs: 20 });
      const { client } = await connect();
      client.send({ type: 'user_message', client_id: 'x', content: 'long one' });
      await client.next((frame: Frame) => frame.type === 'ai_response' && frame.metadata?.done === false);
      const aborted = claude.aborted;
      client.send({ type: command });
      await claude.waitForAbort(aborted + 1);
      if (command === 'stop_generation') expect((await client.reply()).final.metadata?.stopped).toBe(true);
      await client.close();
    }
  });
});
