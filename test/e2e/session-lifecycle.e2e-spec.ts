import { getConnectionToken } from '@nestjs/mongoose';
import type { Connection } from 'mongoose';
import { startOpenAiFake, type OpenAiFake } from '../fakes/openai-fake';
import { authHeaders, getJson, startApp, type RunningApp, type SessionBody } from '../helpers/app';
import { adminToken, uniqueUser, userToken } from '../helpers/tokens';
import { TestClient, type Frame } from '../helpers/ws-client';
import { ReplyPrompt } from '../../src/modules/replies/reply-prompt';
import { SessionsService } from '../../src/modules/sessions/sessions.service';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const openAi = (fake: OpenAiFake) =>
  JSON.stringify([
    { id: 'gpt', name: 'GPT', type: 'openai', endpoint: fake.url, api_key: 'sk-test', model: 'm' },
  ]);
const acked = (client: TestClient, clientId: string) =>
  client.next((frame) => frame.type === 'ack' && frame.client_id === clientId);
const prompted = (fake: OpenAiFake, text: string) =>
  fake.requests.filter((request) => JSON.stringify(request.body).includes(text)).length;

// A session's end of life while its turns are answered (docs/protocol.md, "Every acked turn ends",
// "Session library"), found by a black-box audit of one user's devices on two instances.
describe('session lifecycle while turns are answered (e2e)', () => {
  let fake: OpenAiFake;
  let server: RunningApp;
  const admin = adminToken('lifecycle-admin');

  beforeAll(async () => {
    // ~0.7 s per reply of a short question: the next turn is stored while it streams
    fake = await startOpenAiFake({ chunkSize: 4, delayMs: 100 });
    server = await startApp({ LLM_PROVIDERS: openAi(fake) });
  });
  afterAll(async () => {
    await server?.close();
    await fake?.close();
  });

  const connect = async (token: string, query = '') => {
    const client = await TestClient.connect(`${server.wsUrl}?token=${token}${query}`);
    const status = await client.nextOfType('connection_status');
    return { client, sessionId: String(status.session_id) };
  };
  const log = async (sessionId: string) =>
    (await getJson<SessionBody>(`${server.httpUrl}/chat/sessions/${sessionId}`, admin)).messages;
  const shape = (messages: SessionBody['messages']) =>
    messages.map(
      (message) =>
        `${message.type}/${String(message.client_id)}${message.metadata?.stopped === true ? '/stopped' : ''}`,
    );

  // The audit: m1, m2 back to back, DELETE while m1's reply streams: 204, then m2 was sent to the
  // vendor and its whole reply stored in the deleted session ~1 s later (4 of 4; 18 of 18)
  it('should ask the model nothing more and store nothing more for a session deleted while a turn is queued', async () => {
    const token = userToken(uniqueUser());
    const { client, sessionId } = await connect(token);
    client.send({ type: 'user_message', client_id: 'm1', content: 'first secret question' });
    await acked(client, 'm1');
    client.send({ type: 'user_message', client_id: 'm2', content: 'second secret question' });
    await acked(client, 'm2');
    await client.next((frame) => frame.type === 'ai_response' && frame.client_id === 'm1', 10_000);
    const deleted = await fetch(`${server.httpUrl}/chat/sessions/${sessionId}`, {
      method: 'DELETE',
      headers: authHeaders(token),
    });
    expect(deleted.status).toBe(204);
    // m2's reply would have been asked for and stored by now
    await pause(2_000);
    expect(prompted(fake, 'second secret question')).toBe(0);
    expect(shape(await log(sessionId))).toEqual(['user_message/m1', 'user_message/m2']);
    await client.close();
  });

  // The audit: new_session sent before the reply's first piece left the acked turn without a reply
  // (6 of 6), answered only when the user came back to that chat; a stop_generation there closes it
  // empty, flagged stopped. new_session now does the same, whether the reply is shown or still queued.
  it('should close the turn with an empty stopped reply when new_session comes before its first piece', async () => {
    const token = userToken(uniqueUser());
    // shown (its loading frame out), the vendor silent for a while
    const { client, sessionId } = await connect(token);
    fake.enqueue({ initialDelayMs: 1_500 });
    client.send({ type: 'user_message', client_id: 'n1', content: 'a question left behind' });
    await acked(client, 'n1');
    await client.next((frame) => frame.type === 'loading' && frame.metadata?.loading === true);
    client.send({ type: 'new_session', client_id: 'ns1' });
    await acked(client, 'ns1');
    await pause(500);
    const shown = await log(sessionId);
    expect(shape(shown)).toEqual(['user_message/n1', 'ai_response/n1/stopped']);
    expect(shown[1].content ?? '').toBe('');

    // still asked for (its prompt being read) when new_session comes; no early start (the instance
    // holds no copy of the session)
    const prompt = server.app.get(ReplyPrompt);
    const assemble = prompt.assemble.bind(prompt);
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const spy = jest.spyOn(prompt, 'assemble').mockImplementation(async (...args) => {
      await gate;
      return assemble(...args);
    });
    try {
      const second = await connect(token);
      server.app.get(SessionsService).forget(second.sessionId);
      second.client.send({ type: 'user_message', client_id: 'q1', content: 'another question left' });
      await acked(second.client, 'q1');
      second.client.send({ type: 'new_session', client_id: 'ns2' });
      await acked(second.client, 'ns2');
      open();
      await pause(1_000);
      expect(shape(await log(second.sessionId))).toEqual(['user_message/q1', 'ai_response/q1/stopped']);
      await second.client.close();
    } finally {
      open();
      spy.mockRestore();
    }
    // back in the first chat: nothing more is answered there
    const back = await connect(token, `&session_id=${sessionId}&last_seq=2`);
    await pause(500);
    expect(back.client.frames.filter((frame: Frame) => frame.type === 'ai_response')).toEqual([]);
    await Promise.all([client.close(), back.client.close()]);
  });

  // Found by the audit of session 42's own changes (3 of 3): a message is stamped no earlier than
  // its session's last activity, and one write from a clock far ahead (an hour, ten years) stamped
  // every later message of the session there, for good. A last activity further ahead than a clock
  // may be (MAX_CLOCK_AHEAD_MS) is written over (docs/protocol.md, "Session library").
  it('should stamp the next turn near now after a last activity ten years ahead, and keep it there', async () => {
    const token = userToken(uniqueUser('skew'));
    const { client, sessionId } = await connect(token);
    client.send({ type: 'user_message', client_id: 's1', content: 'first' });
    await client.reply();
    const sessions = server.app.get<Connection>(getConnectionToken()).collection('sessions');
    const future = new Date(Date.now() + 10 * 365 * 86_400_000);
    await sessions.updateOne({ _id: sessionId as never }, { $set: { last_activity: future } });
    client.send({ type: 'user_message', client_id: 's2', content: 'second' });
    await acked(client, 's2');
    await client.reply();
    const late = (await log(sessionId)).filter(
      (message) =>
        new Date((message as { timestamp?: string }).timestamp ?? 0).getTime() > Date.now() + 60_000,
    );
    expect(late).toEqual([]);
    const raw = await sessions.findOne({ _id: sessionId as never }, { projection: { last_activity: 1 } });
    expect((raw?.last_activity as Date).getTime()).toBeLessThan(Date.now() + 60_000);
    await client.close();
  });
});

// MAX_SESSION_BYTES bounds what a user adds; the reply of a turn acked before it is stored whole
// (docs/protocol.md, "Every acked turn ends"). The audit (MAX_SESSION_BYTES=3000): a message acked,
// its reply streamed whole, then SESSION_FULL "The reply could not be saved.", and every resume asked
// the model again and threw the reply away.
describe('a session at its size bound (e2e)', () => {
  let fake: OpenAiFake;
  let server: RunningApp;

  beforeAll(async () => {
    fake = await startOpenAiFake({ chunkSize: 64 });
    server = await startApp({ LLM_PROVIDERS: openAi(fake), MAX_SESSION_BYTES: '1024' });
  });
  afterAll(async () => {
    await server?.close();
    await fake?.close();
  });

  it('should store the reply of an acked turn past MAX_SESSION_BYTES, and refuse the next message before its ack', async () => {
    const token = userToken(uniqueUser());
    const client = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    const sessionId = String((await client.nextOfType('connection_status')).session_id);
    const question = `fits alone ${'x'.repeat(300)}`;
    client.send({ type: 'user_message', client_id: 'b1', content: question });
    await acked(client, 'b1');
    const { final } = await client.reply();
    expect(final.content).toBe(`Echo: ${question}`);
    const session = await getJson<SessionBody & { bytes?: number }>(
      `${server.httpUrl}/chat/sessions/${sessionId}`,
      token,
    );
    expect(session.messages.map((message) => message.type)).toEqual(['user_message', 'ai_response']);
    expect(session.messages[1].id).toBe(final.id);

    client.send({ type: 'user_message', client_id: 'b2', content: 'one more' });
    const refused = await client.next(
      (frame) => (frame.type === 'ack' || frame.type === 'error') && frame.client_id === 'b2',
    );
    expect(refused).toMatchObject({ type: 'error', error: { code: 'SESSION_FULL' } });
    const requests = fake.requests.length;
    await pause(300);
    expect(fake.requests.length).toBe(requests);
    await client.close();
  });
});
