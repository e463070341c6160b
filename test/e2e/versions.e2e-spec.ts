import { startOpenAiFake, type OpenAiFake } from '../fakes/openai-fake';
import { getJson, startApp, type RunningApp, type SessionBody } from '../helpers/app';
import { uniqueUser, userToken } from '../helpers/tokens';
import { TestClient } from '../helpers/ws-client';

// Issue 15, items 1 and 2: regenerate the last reply (alternatives of one turn, the chosen one is
// the history) and edit the last message (a new version, answered again; earlier versions kept).
describe('versions of a turn (e2e)', () => {
  let fake: OpenAiFake;
  let server: RunningApp;

  beforeAll(async () => {
    fake = await startOpenAiFake({ chunkSize: 4, delayMs: 1 });
    server = await startApp({
      LLM_PROVIDERS: JSON.stringify([
        { id: 'gpt', name: 'GPT', type: 'openai', endpoint: fake.url, api_key: 'sk-test', model: 'gpt-test' },
        { id: 'demo', name: 'Demo', type: 'demo', delay_ms: 1 },
      ]),
    });
  });
  afterAll(async () => {
    await server.close();
    await fake.close();
  });

  const open = async () => {
    const token = userToken(uniqueUser());
    const client = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    const status = await client.nextOfType('connection_status');
    return { token, client, sessionId: String(status.session_id) };
  };
  const lastPrompt = () =>
    (fake.requests.at(-1)?.body as { messages: Array<{ role: string; content: string }> }).messages;

  it('should store a regenerated reply as an alternative of the same turn and send the chosen one as history', async () => {
    const { token, client, sessionId } = await open();
    client.send({ type: 'user_message', client_id: 'u1', content: 'first question' });
    const first = (await client.reply()).final;
    expect(first.content).toBe('Echo: first question');

    client.send({ type: 'regenerate', client_id: 'r1', model_id: 'demo' });
    expect(await client.nextOfType('ack')).toMatchObject({ client_id: 'r1' });
    const second = (await client.reply()).final;
    expect(second).toMatchObject({ model_id: 'demo', client_id: 'r1', sender: 'ai' });
    expect(second.metadata?.alternative_of).toBe(first.id);
    // the demo model saw the turn without the reply it replaces: one user message
    expect(second.content).toContain('You said: "first question"');
    expect(second.content).toContain('message 1 of this conversation');

    // the newest alternative is the history by default
    client.send({ type: 'user_message', client_id: 'u2', content: 'next' });
    await client.reply();
    expect(lastPrompt().map((message) => message.content)).toEqual([
      'first question',
      second.content,
      'next',
    ]);

    // choose the first alternative: the turn after it is asked with it
    client.send({ type: 'reply_select', client_id: 's1', id: String(first.id) });
    expect(await client.nextOfType('ack')).toMatchObject({ client_id: 's1', id: expect.any(String) });
    client.send({ type: 'regenerate', client_id: 'r2' });
    await client.reply();
    expect(lastPrompt().map((message) => message.content)).toEqual([
      'first question',
      'Echo: first question',
      'next',
    ]);

    const detail = await getJson<SessionBody>(`${server.httpUrl}/chat/sessions/${sessionId}`, token);
    const types = detail.messages.map((message) => message.type);
    expect(types.filter((type) => type === 'ai_response')).toHaveLength(4);
    expect(detail.messages.find((message) => message.type === 'reply_select')?.metadata).toMatchObject({
      reply_id: first.id,
      alternative_of: first.id,
    });
    await client.close();
  });

  it('should refuse to regenerate when there is no reply, and to select a reply that is not there', async () => {
    const { client } = await open();
    client.send({ type: 'regenerate', client_id: 'r0' });
    expect((await client.nextOfType('error')).error).toMatchObject({
      code: 'INVALID_MESSAGE',
      recoverable: true,
    });
    client.send({ type: 'reply_select', client_id: 's0', id: 'nope' });
    expect((await client.nextOfType('error')).error?.code).toBe('NOT_FOUND');
    client.send({ type: 'user_message', client_id: 'u1', content: 'hi' });
    await client.reply();
    client.send({ type: 'regenerate', client_id: 'r1', model_id: 'nope' });
    expect((await client.nextOfType('error')).error?.code).toBe('UNKNOWN_MODEL');
    await client.close();
  });

  it('should store an edit as a new version, answer the turn again, and keep the earlier version', async () => {
    const { token, client, sessionId } = await open();
    client.send({ type: 'user_message', client_id: 'u1', content: 'hello' });
    await client.reply();
    client.send({ type: 'user_message', client_id: 'u2', content: 'wrong text' });
    const ack = await client.next((frame) => frame.type === 'ack' && frame.client_id === 'u2');
    await client.reply();

    client.send({ type: 'edit_message', client_id: 'e1', id: String(ack.id), content: 'right text' });
    const edited = await client.next((frame) => frame.type === 'ack' && frame.client_id === 'e1');
    expect(edited.id).not.toBe(ack.id);
    const answer = (await client.reply()).final;
    expect(answer.content).toBe('Echo: right text');
    // the old text and its answer are not history any more
    expect(lastPrompt().map((message) => message.content)).toEqual(['hello', 'Echo: hello', 'right text']);

    // an earlier message is not the last one: refused
    const detail = await getJson<SessionBody>(`${server.httpUrl}/chat/sessions/${sessionId}`, token);
    const firstId = detail.messages[0].id;
    client.send({ type: 'edit_message', client_id: 'e2', id: firstId, content: 'again' });
    expect((await client.nextOfType('error')).error?.code).toBe('INVALID_MESSAGE');
    const versions = detail.messages.filter((message) => message.type === 'user_message');
    expect(versions.map((message) => [message.content, message.metadata?.edit_of])).toEqual([
      ['hello', undefined],
      ['wrong text', undefined],
      ['right text', ack.id],
    ]);
    // editing the newest version keeps the first version's id as the root
    client.send({ type: 'edit_message', client_id: 'e3', id: String(edited.id), content: 'third try' });
    await client.reply();
    const after = await getJson<SessionBody>(`${server.httpUrl}/chat/sessions/${sessionId}`, token);
    expect(after.messages.at(-2)?.metadata?.edit_of).toBe(ack.id);
    await client.close();
  });
});
