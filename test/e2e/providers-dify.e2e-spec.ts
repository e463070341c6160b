import { startDifyFake, type DifyFake } from '../fakes/dify-fake';
import { getJson, startApp, type RunningApp, type SessionBody } from '../helpers/app';
import { uniqueUser, userToken } from '../helpers/tokens';
import { type Frame, TestClient } from '../helpers/ws-client';

// The dify provider (fetch + SSE; Dify has no official Node SDK) against a server speaking Dify's
// chat-messages stream exactly: Python json.dumps payloads with \uXXXX escapes, `event: ping`
// keep-alives, message_file, message_end with usage, error events.
describe('Dify provider (e2e)', () => {
  let dify: DifyFake;
  let server: RunningApp;
  const dify1 = (id: string, extra: Record<string, unknown> = {}) => ({
    id,
    name: id,
    type: 'dify',
    endpoint: dify.url,
    api_key: 'app-test',
    retry_base_ms: 20,
    ...extra,
  });

  beforeAll(async () => {
    dify = await startDifyFake({ chunkSize: 3, pings: 1, usage: { promptTokens: 12, completionTokens: 4 } });
    server = await startApp({
      LLM_PROVIDERS: JSON.stringify([dify1('dify'), dify1('dify-links', { files: 'external' })]),
    });
  });
  afterAll(async () => {
    await server.close();
    await dify.close();
  });
  beforeEach(() => dify.reset());

  async function connect(): Promise<{ client: TestClient; sessionId: string; token: string; user: string }> {
    const user = uniqueUser();
    const token = userToken(user);
    const client = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    const status = await client.nextOfType('connection_status');
    return { client, sessionId: status.session_id as string, token, user };
  }

  it('should give a Dify conversation that starts mid-session the turns before it, once', async () => {
    const { client } = await connect();
    client.send({ type: 'user_message', client_id: 'm1', content: 'my name is Ada' });
    await client.reply();
    client.send({ type: 'model_select', model_id: 'dify-links' });
    await client.nextOfType('model_select');
    client.send({ type: 'user_message', client_id: 'm2', content: 'what is my name?' });
    await client.reply();
    client.send({ type: 'user_message', client_id: 'm3', content: 'thanks' });
    await client.reply();
    const [first, switched, continued] = dify.chatCalls;
    expect(first.query).toBe('my name is Ada');
    expect(switched.conversationId).toBe('');
    expect(switched.query).toBe(
      'Earlier in this conversation:\nUser: my name is Ada\nAssistant: Echo: my name is Ada\n\n' +
        'The user now says:\nwhat is my name?',
    );
    // from then on Dify has the history in its own conversation
    expect(continued.conversationId).toMatch(/^[0-9a-f-]{36}$/);
    expect(continued.query).toBe('thanks');
    await client.close();
  });

  it('should give a Dify conversation it holds the turns another model answered meanwhile', async () => {
    const { client } = await connect();
    client.send({ type: 'user_message', client_id: 'm1', content: 'my name is Ada' });
    await client.reply();
    client.send({ type: 'model_select', model_id: 'dify-links' });
    await client.nextOfType('model_select');
    client.send({ type: 'user_message', client_id: 'm2', content: 'I live in Paris' });
    await client.reply();
    client.send({ type: 'model_select', model_id: 'dify' });
    await client.nextOfType('model_select');
    client.send({ type: 'user_message', client_id: 'm3', content: 'where do I live?' });
    await client.reply();
    const [first, other, back] = dify.chatCalls;
    // the first conversation goes on, and learns only what it missed: the other model's turn (the
    // fake echoes its whole query), not its own first exchange again
    expect(first.conversationId).toBe('');
    expect(back.conversationId).toMatch(/^[0-9a-f-]{36}$/);
    expect(back.query).toBe(
      `Earlier in this conversation:\nUser: I live in Paris\nAssistant: Echo: ${other.query}\n\n` +
        'The user now says:\nwhere do I live?',
    );
    await client.close();
  });

  async function untilReplyAndError(
    client: TestClient,
  ): Promise<{ final: Frame; error: Frame; deltas: string }> {
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
    return { final, error, deltas };
  }

  it('should stream the answer, keep the conversation_id on the session, and count message_end usage', async () => {
    const { client, sessionId, token, user } = await connect();
    client.send({ type: 'user_message', client_id: 'd1', content: 'hello dify' });
    const first = await client.reply();
    expect(first.final.content).toBe('Echo: hello dify');
    expect(first.deltas).toBe(first.final.content);
    expect(first.final.metadata?.usage).toEqual({
      prompt_tokens: 12,
      completion_tokens: 4,
      total_tokens: 16,
    });
    client.send({ type: 'user_message', client_id: 'd2', content: 'and again' });
    await client.reply();
    const [call1, call2] = dify.chatCalls;
    expect(call1).toMatchObject({ query: 'hello dify', user, conversationId: '', responseMode: 'streaming' });
    expect(call1.inputs).toEqual({});
    // Dify keeps the history: the second turn sends only the new message, in the same conversation
    expect(call2.query).toBe('and again');
    expect(call2.conversationId).toMatch(/^[0-9a-f-]{36}$/);
    expect(dify.requests[0].headers.authorization).toBe('Bearer app-test');
    const session = await getJson<SessionBody>(`${server.httpUrl}/chat/sessions/${sessionId}`, token);
    expect(session.total_tokens).toBe(32);

    // a new session is a new Dify conversation; another Dify model has its own
    client.send({ type: 'new_session', client_id: 'n' });
    await client.nextOfType('connection_status');
    client.send({ type: 'user_message', client_id: 'd3', content: 'fresh start' });
    await client.reply();
    expect(dify.chatCalls[2].conversationId).toBe('');
    client.send({ type: 'model_select', model_id: 'dify-links' });
    await client.nextOfType('model_select');
    client.send({ type: 'user_message', client_id: 'd4', content: 'other app' });
    await client.reply();
    expect(dify.chatCalls[3].conversationId).toBe('');
    await client.close();
  });

  it('should decode \\uXXXX escapes and characters split across network chunks', async () => {
    dify.enqueue({ reply: 'Grüße 👋 日本語 ☕', splitWrites: true, emptyDeltas: true });
    const { client } = await connect();
    client.send({ type: 'user_message', client_id: 'u1', content: 'unicode' });
    const { final, deltas } = await client.reply();
    expect(final.content).toBe('Grüße 👋 日本語 ☕');
    expect(deltas).toBe(final.content);
    await client.close();
  });

  it('should list message_file events as attachments, kept as links in external mode', async () => {
    const { client } = await connect();
    client.send({ type: 'model_select', model_id: 'dify-links' });
    await client.nextOfType('model_select');
    dify.enqueue({ files: [{ url: '/files/tools/chart.png?sign=abc', type: 'image' }] });
    client.send({ type: 'user_message', client_id: 'f1', content: 'draw a chart' });
    const { final } = await client.reply();
    const origin = new URL(dify.url).origin;
    expect(final.metadata?.attachments).toEqual([
      { kind: 'image', source: 'ai', file_url: `${origin}/files/tools/chart.png?sign=abc`, external: true },
    ]);
    await client.close();
  });

  it('should retry an error event that comes before the first token', async () => {
    dify.enqueue({ errorAfterChunks: 0 });
    const { client } = await connect();
    client.send({ type: 'user_message', client_id: 'e0', content: 'retry me' });
    await client.next((frame) => frame.type === 'loading' && frame.metadata?.retrying === true);
    expect((await client.reply()).final.content).toBe('Echo: retry me');
    expect(dify.chatCalls).toHaveLength(2);
    await client.close();
  });

  it('should store the partial answer flagged interrupted after an error event mid-stream', async () => {
    dify.enqueue({ reply: 'abcdefghijkl', errorAfterChunks: 2 });
    const { client } = await connect();
    client.send({ type: 'user_message', client_id: 'e1', content: 'break' });
    const { final, error, deltas } = await untilReplyAndError(client);
    expect(error.error).toMatchObject({ code: 'LLM_UNAVAILABLE', recoverable: true });
    expect(deltas).toBe('abcdef');
    expect(final.content).toBe('abcdef');
    expect(final.metadata?.interrupted).toBe(true);
    expect(dify.chatCalls).toHaveLength(1);
    await client.close();
  });

  // output moderation: message_replace's answer replaces the reply (Dify's API); it was ignored, and
  // the flagged text stored and shown (docs/protocol.md, "Vendor streams end with the vendor's end")
  it('should end the reply with the answer of message_replace, shown and stored in place of the text it replaces', async () => {
    dify.enqueue({ reply: 'FLAGGED CONTENT', replaceWith: 'Sorry, I cannot help with that.' });
    const { client, sessionId, token } = await connect();
    client.send({ type: 'user_message', client_id: 'mr', content: 'say something bad' });
    const { final, deltas } = await client.reply();
    // the pieces showed the flagged text; the final frame's content is the reply
    expect(deltas).toBe('FLAGGED CONTENT');
    expect(final.content).toBe('Sorry, I cannot help with that.');
    expect(final.metadata?.interrupted).toBeUndefined();
    const session = await getJson<SessionBody>(`${server.httpUrl}/chat/sessions/${sessionId}`, token);
    expect(session.messages.at(-1)).toMatchObject({
      type: 'ai_response',
      content: 'Sorry, I cannot help with that.',
    });
    await client.close();
  });

  // SSE lines may end in a lone CR: the last one (message_end's) was never read, and a whole reply was
  // flagged interrupted with "try again"
  it('should answer whole, with no error, when the stream ends its lines with a lone CR', async () => {
    dify.enqueue({ reply: 'line é end', eol: '\r', splitWrites: true });
    const { client } = await connect();
    client.send({ type: 'user_message', client_id: 'cr', content: 'cr' });
    const { final } = await client.reply();
    expect(final.content).toBe('line é end');
    expect(final.metadata?.interrupted).toBeUndefined();
    await client.next((frame) => frame.type === 'loading' && frame.metadata?.loading === false);
    expect(client.frames.some((frame) => frame.type === 'error')).toBe(false);
    await client.close();
  });

  it('should honour a 429 retry-after, then answer', async () => {
    dify.enqueue({ status: 429, retryAfter: 0.2 });
    const { client } = await connect();
    client.send({ type: 'user_message', client_id: 'r1', content: 'busy?' });
    const notice = await client.next(
      (frame) => frame.type === 'loading' && frame.metadata?.retrying === true,
    );
    expect(notice.metadata?.retry_in_ms).toBe(200);
    expect((await client.reply()).final.content).toBe('Echo: busy?');
    await client.close();
  });

  it('should close the stream and stop the Dify task on stop_generation', async () => {
    dify.enqueue({ reply: 'word '.repeat(200), chunkSize: 5, delayMs: 20 });
    const { client } = await connect();
    client.send({ type: 'user_message', client_id: 's1', content: 'long one' });
    await client.next((frame) => frame.type === 'ai_response' && frame.metadata?.done === false);
    client.send({ type: 'stop_generation' });
    await dify.waitForAbort(1);
    const { final } = await client.reply();
    expect(final.metadata?.stopped).toBe(true);
    await dify.waitForRequests(2);
    expect(dify.stoppedTasks).toHaveLength(1);
    await client.close();
  });
});
