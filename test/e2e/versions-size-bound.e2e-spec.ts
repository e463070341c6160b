import type { OpenAiFake } from '../fakes/openai-fake';
import { getJson, type RunningApp, type SessionBody } from '../helpers/app';
import { uniqueUser, userToken } from '../helpers/tokens';
import { answerTo, connectTo, startTwoInstances, type TwoInstances } from '../helpers/two-instances';
import { TestClient, type Frame } from '../helpers/ws-client';
import { SessionsService } from '../../src/modules/sessions/sessions.service';

const MAX_SESSION_BYTES = 2048;

// A regenerate or an edit is what the user adds: held to MAX_SESSION_BYTES before the model is asked,
// and the reply it is given, once streamed, is stored like any reply (docs/protocol.md, "Every acked
// turn ends"). Until then a regenerated reply was held to the bound at its store write: in a session
// near it the user was shown the whole new reply, then SESSION_FULL "The reply could not be saved.".
// One user's session on two instances sharing Redis and the store; the requests go to the instance
// that did not store the session's last message.
describe('versions of a turn at the session size bound (e2e)', () => {
  jest.setTimeout(120_000);
  let instances: TwoInstances;
  let fake: OpenAiFake;
  let first: RunningApp;
  let second: RunningApp;

  beforeAll(async () => {
    instances = await startTwoInstances(
      { chunkSize: 64, delayMs: 1 },
      { MAX_SESSION_BYTES: String(MAX_SESSION_BYTES) },
    );
    ({ fake, first, second } = instances);
  });
  afterAll(() => instances?.close());

  const connect = connectTo;
  // the reply's stored copy, or the error that ended it
  const doneOf = (client: TestClient, clientId: string) =>
    client.next(
      (frame) =>
        frame.client_id === clientId &&
        (frame.type === 'error' || (frame.type === 'ai_response' && frame.metadata?.done === true)),
      10_000,
    );
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const log = async (token: string, sessionId: string) =>
    (await getJson<SessionBody>(`${first.httpUrl}/chat/sessions/${sessionId}`, token)).messages;
  const shape = (messages: SessionBody['messages']) =>
    messages.map((message) => `${message.type}:${message.client_id}`);
  const bytesOf = async (sessionId: string) =>
    (await first.app.get(SessionsService).getAny(sessionId))!.bytes;
  const replyFrames = (client: TestClient) =>
    client.frames.filter((frame: Frame) => frame.type === 'ai_response').length;

  // one turn asked on the first instance, answered, its reply stored there; a device on the second
  const answeredTurn = async (question: string) => {
    const token = userToken(uniqueUser());
    const { client: a, sessionId } = await connect(first, token);
    const { client: b } = await connect(second, token, { session_id: sessionId });
    a.send({ type: 'user_message', client_id: 'm1', content: question });
    const m1 = await answerTo(a, 'm1');
    expect(m1.type).toBe('ack');
    expect(await doneOf(a, 'm1')).toMatchObject({ type: 'ai_response' });
    await doneOf(b, 'm1');
    return { token, sessionId, a, b, m1Id: String(m1.id) };
  };

  // a refusal before anything is asked: SESSION_FULL, no reply frame on any device, no model call,
  // the stored log as it was
  const refusedAtOnce = async (
    turn: Awaited<ReturnType<typeof answeredTurn>>,
    send: () => void,
    clientId: string,
  ) => {
    const before = { log: await log(turn.token, turn.sessionId), requests: fake.requests.length };
    const frames = [replyFrames(turn.a), replyFrames(turn.b)];
    send();
    expect(await answerTo(turn.b, clientId)).toMatchObject({
      type: 'error',
      error: { code: 'SESSION_FULL', recoverable: true },
    });
    await pause(500);
    expect([replyFrames(turn.a), replyFrames(turn.b)]).toEqual(frames);
    expect(fake.requests.length).toBe(before.requests);
    expect(await log(turn.token, turn.sessionId)).toEqual(before.log);
  };

  it('should refuse a regenerate at once, asking the model nothing, when the session is past MAX_SESSION_BYTES', async () => {
    // the question fits, its reply is stored past the bound ("Every acked turn ends")
    const turn = await answeredTurn(`fits alone ${'x'.repeat(700)}`);
    expect(await bytesOf(turn.sessionId)).toBeGreaterThan(MAX_SESSION_BYTES);
    await refusedAtOnce(turn, () => turn.b.send({ type: 'regenerate', client_id: 'r1' }), 'r1');
    // and on the instance that stored the reply
    turn.a.send({ type: 'regenerate', client_id: 'r2' });
    expect(await answerTo(turn.a, 'r2')).toMatchObject({ type: 'error', error: { code: 'SESSION_FULL' } });
    expect(shape(await log(turn.token, turn.sessionId))).toEqual(['user_message:m1', 'ai_response:m1']);
    await Promise.all([turn.a.close(), turn.b.close()]);
  });

  it('should store a regenerated reply that takes the session past MAX_SESSION_BYTES, never refuse it after streaming', async () => {
    const turn = await answeredTurn('hi');
    const under = await bytesOf(turn.sessionId);
    expect(under).toBeLessThan(MAX_SESSION_BYTES);
    const long = `long ${'z'.repeat(1500)}`;
    fake.enqueue({ reply: long });
    turn.b.send({ type: 'regenerate', client_id: 'r1' });
    expect(await answerTo(turn.b, 'r1')).toMatchObject({ type: 'ack' });
    const shown = await doneOf(turn.b, 'r1');
    expect(shown).toMatchObject({ type: 'ai_response', content: long });
    await pause(300);
    const errors = [...turn.a.frames, ...turn.b.frames].filter((frame: Frame) => frame.type === 'error');
    expect(errors).toEqual([]);
    const stored = await log(turn.token, turn.sessionId);
    expect(shape(stored)).toEqual(['user_message:m1', 'ai_response:m1', 'ai_response:r1']);
    expect(stored[2]).toMatchObject({
      id: shown.id,
      content: long,
      metadata: { alternative_of: stored[1].id },
    });
    expect(stored[2].metadata?.truncated).toBeUndefined();
    expect(await bytesOf(turn.sessionId)).toBeGreaterThan(MAX_SESSION_BYTES);
    // the session is past the bound now: the next regenerate is refused before the model is asked
    await refusedAtOnce(turn, () => turn.b.send({ type: 'regenerate', client_id: 'r2' }), 'r2');
    await Promise.all([turn.a.close(), turn.b.close()]);
  });

  it("should check an edit's text before its ack and store its reply past MAX_SESSION_BYTES", async () => {
    // past the bound: the edit's text is refused before anything is asked
    const full = await answeredTurn(`fits alone ${'x'.repeat(700)}`);
    await refusedAtOnce(
      full,
      () => full.b.send({ type: 'edit_message', client_id: 'e1', id: full.m1Id, content: 'short' }),
      'e1',
    );
    await Promise.all([full.a.close(), full.b.close()]);

    // under it: the edit is stored, and its reply, which takes the session past it, is too
    const turn = await answeredTurn('hi');
    const long = `long ${'z'.repeat(1500)}`;
    fake.enqueue({ reply: long });
    turn.b.send({ type: 'edit_message', client_id: 'e1', id: turn.m1Id, content: 'hello' });
    expect(await answerTo(turn.b, 'e1')).toMatchObject({ type: 'ack' });
    const shown = await doneOf(turn.b, 'e1');
    expect(shown).toMatchObject({ type: 'ai_response', content: long });
    await pause(300);
    expect([...turn.a.frames, ...turn.b.frames].filter((frame: Frame) => frame.type === 'error')).toEqual([]);
    const stored = await log(turn.token, turn.sessionId);
    expect(shape(stored)).toEqual(['user_message:m1', 'ai_response:m1', 'user_message:e1', 'ai_response:e1']);
    expect(stored[3]).toMatchObject({ id: shown.id, content: long });
    expect(await bytesOf(turn.sessionId)).toBeGreaterThan(MAX_SESSION_BYTES);
    await Promise.all([turn.a.close(), turn.b.close()]);
  });
});
