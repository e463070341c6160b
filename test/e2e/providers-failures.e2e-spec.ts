import { startOpenAiFake, type OpenAiFake } from '../fakes/openai-fake';
import { getJson, startApp, type RunningApp, type SessionBody } from '../helpers/app';
import { SessionsService } from '../../src/modules/sessions/sessions.service';
import { uniqueUser, userToken } from '../helpers/tokens';
import { type Frame, TestClient } from '../helpers/ws-client';

// Failure handling of the chat flow against OpenAI's wire format through the official SDK:
// retries before the first token, never after it, timeouts, and the circuit breaker.
describe('LLM failures (e2e)', () => {
  let fake: OpenAiFake;
  let server: RunningApp;

  const model = (id: string, extra: Record<string, unknown> = {}) => ({
    id,
    name: id,
    type: 'openai',
    endpoint: fake.url,
    api_key: 'sk-test',
    model: 'gpt-test',
    titles: false,
    retry_base_ms: 20,
    ...extra,
  });

  beforeAll(async () => {
    fake = await startOpenAiFake({
      chunkSize: 3,
      delayMs: 2,
      usage: { promptTokens: 10, completionTokens: 5 },
    });
    server = await startApp({
      LLM_PROVIDERS: JSON.stringify([
        model('gpt'),
        model('slow', { timeout_ms: 300, retry_attempts: 2 }),
        model('fragile', { breaker_failures: 2, breaker_cooldown_ms: 60_000, retry_attempts: 1 }),
        // the streams cut short below: their failures are not the other tests' circuit's
        model('ends', { breaker_failures: 100 }),
      ]),
      // every reply here takes well under a second but the endless one below
      LLM_REPLY_TIMEOUT: '2s',
    });
  });
  afterAll(async () => {
    await server.close();
    await fake.close();
  });
  beforeEach(() => fake.reset());

  async function connect(modelId = 'gpt'): Promise<{ client: TestClient; sessionId: string; token: string }> {
    const token = userToken(uniqueUser());
    const client = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    const status = await client.nextOfType('connection_status');
    if (modelId !== 'gpt') {
      client.send({ type: 'model_select', model_id: modelId });
      await client.nextOfType('model_select');
    }
    return { client, sessionId: status.session_id as string, token };
  }

  const retrying = (frame: Frame) => frame.type === 'loading' && frame.metadata?.retrying === true;

  // A cut-off reply: its deltas, its stored copy and the "try again" error (sent once the reply is
  // stored, so after it).
  async function cutOff(client: TestClient): Promise<{ deltas: string; final: Frame; error: Frame }> {
    let deltas = '';
    let final: Frame | undefined;
    let error: Frame | undefined;
    while (!error) {
      const frame = await client.next(
        (candidate) => candidate.type === 'ai_response' || candidate.type === 'error',
      );
      if (frame.type === 'error') error = frame;
      else if (frame.metadata?.done === true) final = frame;
      else deltas += String(frame.metadata?.delta);
    }
    if (!final) throw new Error(`the error came before the stored reply: ${JSON.stringify(error)}`);
    return { deltas, final, error };
  }

  it('should retry after a 429, waiting as long as retry-after says and telling the client', async () => {
    fake.enqueue({ status: 429, retryAfter: 0.3 });
    const { client } = await connect();
    client.send({ type: 'user_message', client_id: 'r1', content: 'rate limited' });
    const notice = await client.next(retrying);
    expect(notice.metadata).toMatchObject({ attempt: 2, max_attempts: 3, retry_in_ms: 300 });
    const { final, deltas } = await client.reply();
    expect(final.content).toBe('Echo: rate limited');
    expect(deltas).toBe(final.content);
    expect(fake.requests).toHaveLength(2);
    expect(fake.requests[1].receivedAt - fake.requests[0].receivedAt).toBeGreaterThanOrEqual(290);
    await client.close();
  });

  it('should store one reply without duplicated text when a 500 is followed by success', async () => {
    // the answer that follows also has empty deltas and frames cut inside characters
    fake.enqueue({ status: 500 }, { emptyDeltas: true, splitWrites: true });
    const { client, sessionId, token } = await connect();
    client.send({ type: 'user_message', client_id: 'r2', content: 'flaky' });
    const { final, deltas } = await client.reply();
    expect(final.content).toBe('Echo: flaky');
    expect(deltas).toBe('Echo: flaky');
    const session = await getJson<SessionBody>(`${server.httpUrl}/chat/sessions/${sessionId}`, token);
    expect(session.messages.filter((message) => message.type === 'ai_response')).toHaveLength(1);
    expect(session.total_tokens).toBe(15);
    await client.close();
  });

  it('should say "try again" only once the cut-off reply is stored: a regenerate sent the instant it arrives is taken', async () => {
    // the store takes 300 ms to keep the reply
    const sessions = server.app.get(SessionsService);
    const append = sessions.append.bind(sessions);
    const slowed = jest.spyOn(sessions, 'append').mockImplementation(async (...args) => {
      if (args[1].type === 'ai_response') await new Promise((resolve) => setTimeout(resolve, 300));
      return append(...args);
    });
    try {
      fake.enqueue({ reply: 'one two three four five six', cutAfterChunks: 3 });
      const { client, sessionId, token } = await connect();
      client.send({ type: 'user_message', client_id: 'c0', content: 'cut me' });
      // sent from the frame handler, the instant the error arrives
      client.socket.on('message', (data) => {
        if (data.toString().includes('"code":"LLM_UNAVAILABLE"'))
          client.send({ type: 'regenerate', client_id: 'again' });
      });
      const { error } = await cutOff(client);
      expect(error.error).toMatchObject({ code: 'LLM_UNAVAILABLE', recoverable: true });
      expect(await client.next((frame) => frame.client_id === 'again')).toMatchObject({ type: 'ack' });
      const cut = client.frames.find(
        (frame) => frame.type === 'ai_response' && frame.metadata?.done === true,
      );
      expect(cut?.metadata?.interrupted).toBe(true);
      await client.next(
        (frame) => frame.type === 'ai_response' && frame.metadata?.done === true && frame.id !== cut?.id,
        5_000,
      );
      const session = await getJson<SessionBody>(`${server.httpUrl}/chat/sessions/${sessionId}`, token);
      const replies = session.messages.filter((message) => message.type === 'ai_response');
      expect(replies.map((reply) => reply.metadata?.interrupted ?? false)).toEqual([true, false]);
      await client.close();
    } finally {
      slowed.mockRestore();
    }
  });

  it('should keep the partial reply flagged interrupted, without a retry, when the connection is cut mid-stream', async () => {
    fake.enqueue({ reply: 'one two three four five six', cutAfterChunks: 3 });
    const { client, sessionId, token } = await connect();
    client.send({ type: 'user_message', client_id: 'c1', content: 'cut me' });
    const { deltas, final, error } = await cutOff(client);
    expect(error.error).toMatchObject({ code: 'LLM_UNAVAILABLE', recoverable: true });
    // what reached the client before the cut, never replayed nor repeated
    expect(deltas.length).toBeGreaterThan(0);
    expect('one two three four five six'.startsWith(deltas)).toBe(true);
    expect(final.content).toBe(deltas);
    expect(final.metadata?.interrupted).toBe(true);
    expect(fake.requests).toHaveLength(1);
    const session = await getJson<SessionBody>(`${server.httpUrl}/chat/sessions/${sessionId}`, token);
    expect(session.messages.at(-1)).toMatchObject({ content: deltas, metadata: { interrupted: true } });
    await client.close();
  });

  it('should keep the partial reply after an error event mid-stream', async () => {
    fake.enqueue({ reply: 'abcdefghijkl', errorAfterChunks: 2 });
    const { client } = await connect();
    client.send({ type: 'user_message', client_id: 'e1', content: 'error event' });
    const { error, final } = await cutOff(client);
    expect(error.error?.code).toBe('LLM_UNAVAILABLE');
    expect(final).toMatchObject({ content: 'abcdef', metadata: { interrupted: true } });
    expect(fake.requests).toHaveLength(1);
    await client.close();
  });

  // Vendor streams end with the vendor's end (docs/protocol.md): a stream whose body ended cleanly
  // without a finish_reason (a proxy, a vendor restarting) was stored as a complete reply
  it('should keep the text so far flagged interrupted, and say "try again", when the stream ends without finish_reason', async () => {
    fake.enqueue({ reply: 'abcdefghijkl', endAfterChunks: 2 });
    const { client, sessionId, token } = await connect('ends');
    client.send({ type: 'user_message', client_id: 'f1', content: 'no finish' });
    const { error, final, deltas } = await cutOff(client);
    expect(error.error).toMatchObject({ code: 'LLM_UNAVAILABLE', recoverable: true });
    expect(final).toMatchObject({ content: 'abcdef', metadata: { interrupted: true } });
    expect(deltas).toBe('abcdef');
    expect(fake.requests).toHaveLength(1);
    const session = await getJson<SessionBody>(`${server.httpUrl}/chat/sessions/${sessionId}`, token);
    expect(session.messages.at(-1)).toMatchObject({ content: 'abcdef', metadata: { interrupted: true } });
    await client.close();
  });

  // a 200 with no event at all, or a gateway's JSON error where the stream should be, was stored as
  // an empty successful ai_response
  it('should retry a 200 that carries no event, then send LLM_UNAVAILABLE and store nothing', async () => {
    fake.enqueue({ endAfterChunks: 0 }, { endAfterChunks: 0 }, { endAfterChunks: 0 });
    const { client, sessionId, token } = await connect('ends');
    client.send({ type: 'user_message', client_id: 'f2', content: 'nothing comes' });
    await client.next(retrying);
    const error = await client.nextOfType('error');
    expect(error).toMatchObject({ client_id: 'f2', error: { code: 'LLM_UNAVAILABLE', recoverable: true } });
    expect(fake.requests).toHaveLength(3);
    const session = await getJson<SessionBody>(`${server.httpUrl}/chat/sessions/${sessionId}`, token);
    expect(session.messages.filter((message) => message.type === 'ai_response')).toEqual([]);
    await client.close();
  });

  it('should send LLM_UNAVAILABLE without retrying, and store nothing, when the reply ends properly with no text', async () => {
    fake.enqueue({ reply: '' });
    const { client, sessionId, token } = await connect('ends');
    client.send({ type: 'user_message', client_id: 'f3', content: 'say nothing' });
    const error = await client.nextOfType('error');
    expect(error).toMatchObject({ client_id: 'f3', error: { code: 'LLM_UNAVAILABLE', recoverable: true } });
    expect(client.frames.some(retrying)).toBe(false);
    expect(fake.requests).toHaveLength(1);
    const session = await getJson<SessionBody>(`${server.httpUrl}/chat/sessions/${sessionId}`, token);
    expect(session.messages.filter((message) => message.type === 'ai_response')).toEqual([]);
    await client.close();
  });

  // a vendor that never stopped (a piece every 100 ms) held the session's reply, and the turns after
  // it, until the user stopped it
  it('should end a reply at LLM_REPLY_TIMEOUT, keep its text flagged interrupted, and answer the next turn', async () => {
    fake.enqueue({ reply: 'x'.repeat(1_000), chunkSize: 1, delayMs: 100 });
    const { client, sessionId, token } = await connect('ends');
    const started = Date.now();
    client.send({ type: 'user_message', client_id: 'l1', content: 'go on for ever' });
    await client.next((frame) => frame.type === 'ai_response');
    client.send({ type: 'user_message', client_id: 'l2', content: 'and then?' });
    const { error, final } = await cutOff(client);
    expect(error.error).toMatchObject({ code: 'LLM_UNAVAILABLE', recoverable: true });
    expect(final.client_id).toBe('l1');
    expect(final.metadata?.interrupted).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_900);
    expect(Date.now() - started).toBeLessThan(5_000);
    const next = await client.next(
      (frame) => frame.type === 'ai_response' && frame.metadata?.done === true,
      5_000,
    );
    expect(next).toMatchObject({ client_id: 'l2', content: 'Echo: and then?' });
    const session = await getJson<SessionBody>(`${server.httpUrl}/chat/sessions/${sessionId}`, token);
    const replies = session.messages.filter((message) => message.type === 'ai_response');
    expect(
      replies.map((reply) => [(reply.content ?? '').length > 0, reply.metadata?.interrupted ?? false]),
    ).toEqual([
      [true, true],
      [true, false],
    ]);
    await client.close();
  });

  it('should time out a provider that never answers, retry, then send LLM_UNAVAILABLE', async () => {
    fake.enqueue({ hang: true }, { hang: true });
    const { client } = await connect('slow');
    const started = Date.now();
    client.send({ type: 'user_message', client_id: 't1', content: 'anyone there?' });
    await client.next(retrying);
    const error = await client.nextOfType('error');
    expect(error).toMatchObject({ client_id: 't1', error: { code: 'LLM_UNAVAILABLE', recoverable: true } });
    expect(Date.now() - started).toBeGreaterThanOrEqual(550);
    // both attempts were given up on: the fake saw its connections close
    await fake.waitForAbort(2);
    expect(fake.requests).toHaveLength(2);
    await client.close();
  });

  it('should time out a stream that stalls after its first token and keep what arrived', async () => {
    fake.enqueue({ reply: 'abcdefghijkl', hangAfterChunks: 2 });
    const { client } = await connect('slow');
    client.send({ type: 'user_message', client_id: 't2', content: 'stall' });
    const { error, final } = await cutOff(client);
    expect(error.error?.code).toBe('LLM_UNAVAILABLE');
    expect(final.content).toBe('abcdef');
    expect(final.metadata?.interrupted).toBe(true);
    expect(fake.requests).toHaveLength(1);
    await client.close();
  });

  it('should open the circuit after repeated failures and fail fast with retry_after', async () => {
    const { client } = await connect('fragile');
    fake.enqueue({ status: 503 }, { status: 503 });
    for (const id of ['b1', 'b2']) {
      client.send({ type: 'user_message', client_id: id, content: id });
      expect((await client.nextOfType('error')).error?.code).toBe('LLM_UNAVAILABLE');
    }
    expect(fake.requests).toHaveLength(2);
    client.send({ type: 'user_message', client_id: 'b3', content: 'b3' });
    const fast = await client.nextOfType('error');
    expect(fast.error).toMatchObject({ code: 'LLM_UNAVAILABLE', recoverable: true });
    expect(fast.error?.retry_after).toBeGreaterThan(50_000);
    expect(fake.requests).toHaveLength(2);
    const metrics = await (await fetch(`${server.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/chatbox_llm_circuit_open\{provider="openai",model="fragile"\} 1/);
    await client.close();
  });

  it('should not retry a request the provider refuses (400)', async () => {
    fake.enqueue({ status: 400 });
    const { client } = await connect();
    client.send({ type: 'user_message', client_id: 'n1', content: 'bad request' });
    expect((await client.nextOfType('error')).error?.code).toBe('LLM_UNAVAILABLE');
    expect(client.frames.some(retrying)).toBe(false);
    expect(fake.requests).toHaveLength(1);
    await client.close();
  });

  it('should count retries and time to first token by provider and model in /metrics', async () => {
    const metrics = await (await fetch(`${server.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/chatbox_llm_retries_total\{provider="openai",model="gpt"\} [1-9]/);
    expect(metrics).toMatch(/chatbox_llm_first_token_seconds_count\{provider="openai",model="gpt"\} [1-9]/);
    expect(metrics).toMatch(
      /chatbox_llm_tokens_total\{provider="openai",model="gpt",kind="completion"\} [1-9]/,
    );
    expect(metrics).toMatch(
      /chatbox_llm_requests_total\{provider="openai",model="gpt",outcome="interrupted"\} [1-9]/,
    );
  });
});
