import { buildThread } from '../../src/protocol/thread';
import type { OpenAiFake } from '../fakes/openai-fake';
import { getJson, type RunningApp, type SessionBody } from '../helpers/app';
import { uniqueUser, userToken } from '../helpers/tokens';
import { answerTo, connectTo, startTwoInstances, type TwoInstances } from '../helpers/two-instances';
import { TestClient, type Frame } from '../helpers/ws-client';

// Versions of a turn (docs/protocol.md, "Versions") racing a new message on the other instance, and
// resent with the same client_id after a cut, on one user's session served by two instances sharing
// Redis and the store (found by a black-box audit of races).
describe('versions of a turn across instances and resends (e2e)', () => {
  jest.setTimeout(180_000);
  let instances: TwoInstances;
  let fake: OpenAiFake;
  let first: RunningApp;
  let second: RunningApp;

  beforeAll(async () => {
    instances = await startTwoInstances({ chunkSize: 4, delayMs: 5 });
    ({ fake, first, second } = instances);
  });
  afterAll(() => instances?.close());

  const connect = connectTo;
  const doneOf = (client: TestClient, clientId: string) =>
    client.next(
      (frame) =>
        frame.type === 'ai_response' && frame.metadata?.done === true && frame.client_id === clientId,
      10_000,
    );
  const detail = (token: string, sessionId: string) =>
    getJson<SessionBody>(`${first.httpUrl}/chat/sessions/${sessionId}`, token);
  // the log once every typed turn has a reply and nothing has been stored for `quietMs`
  const settled = async (token: string, sessionId: string, quietMs = 800) => {
    let last = -1;
    let since = Date.now();
    for (const until = Date.now() + 20_000; Date.now() < until;) {
      const session = await detail(token, sessionId);
      const seq = session.messages.at(-1)?.seq ?? 0;
      if (seq !== last) [last, since] = [seq, Date.now()];
      else if (Date.now() - since >= quietMs) return session;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error('the session did not settle');
  };
  const lastSeqOf = (client: TestClient) =>
    client.frames.reduce(
      (max, frame: Frame) => (typeof frame.seq === 'number' ? Math.max(max, frame.seq) : max),
      0,
    );
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const completions = () =>
    fake.requests.filter((request) => request.path.endsWith('/chat/completions')).length;

  // protocol.md: edit_message takes the user's last typed message only. An edit of m1 reaching one
  // instance while m2 is stored on the other was stored after m2 (8 of 10 rounds), and m2 left the
  // conversation as it reads now.
  it('should never store an edit after a newer message sent on the other instance at nearly the same time', async () => {
    // 6 rounds (the audit's race: 8 of 10 before the fix), 0–4 ms apart
    for (let round = 0; round < 6; round++) {
      const token = userToken(uniqueUser());
      const { client: a, sessionId } = await connect(first, token);
      const { client: b } = await connect(second, token, { session_id: sessionId });
      a.send({ type: 'user_message', client_id: 'm1', content: `one ${round}` });
      const m1 = await answerTo(a, 'm1');
      await doneOf(a, 'm1');
      await doneOf(b, 'm1');
      await sleep(100);
      a.send({ type: 'user_message', client_id: 'm2', content: `two ${round}` });
      await sleep(round % 5);
      b.send({ type: 'edit_message', client_id: 'v', id: String(m1.id), content: `one edited ${round}` });
      const m2Answer = await answerTo(a, 'm2');
      const editAnswer = await answerTo(b, 'v');
      expect(m2Answer.type).toBe('ack');
      const session = await settled(token, sessionId);
      const stored = (clientId: string) =>
        session.messages.find((message) => message.type === 'user_message' && message.client_id === clientId);
      if (editAnswer.type === 'ack') {
        // taken only as the last typed message when stored: before m2
        expect(stored('v')!.seq).toBeLessThan(stored('m2')!.seq);
      } else {
        expect(editAnswer.error?.code).toBe('INVALID_MESSAGE');
        expect(stored('v')).toBeUndefined();
      }
      // nothing acked is hidden from the conversation as it reads now
      const thread = buildThread(session.messages).current.map((message) => message.content);
      expect(thread).toContain(`two ${round}`);
      if (editAnswer.type === 'ack') expect(thread).toContain(`one edited ${round}`);
      await a.close();
      await b.close();
    }
  });

  // protocol.md, "Versions": an edit is refused while a reply of the session is being made on any
  // instance. From a device on the other instance the edit of m1 was acked while
  // m1's reply streamed, and that reply was stored after the edit: two replies in the edited turn
  // (log m1, e1, ai(m1), ai(e1); 3 of 3 rounds in the library audit).
  it("should refuse an edit from the other instance while the turn's reply, or its regeneration, streams there", async () => {
    const streaming = (client: TestClient, clientId: string) =>
      client.next(
        (frame) =>
          frame.type === 'ai_response' && frame.metadata?.done === false && frame.client_id === clientId,
        10_000,
      );
    const slow = { reply: 'one two three four five six seven eight nine ten eleven', delayMs: 40 };
    for (let round = 0; round < 2; round++) {
      const token = userToken(uniqueUser());
      const { client: a, sessionId } = await connect(first, token);
      const { client: b } = await connect(second, token, { session_id: sessionId });
      fake.enqueue(slow);
      a.send({ type: 'user_message', client_id: 'm1', content: `what is two plus two ${round}` });
      const m1 = await answerTo(a, 'm1');
      await streaming(b, 'm1');
      b.send({ type: 'edit_message', client_id: 'e1', id: String(m1.id), content: `three ${round}` });
      expect(await answerTo(b, 'e1')).toMatchObject({ type: 'error', error: { code: 'INVALID_MESSAGE' } });
      await doneOf(a, 'm1');
      // a regeneration streaming on the first instance: the same rule
      fake.enqueue(slow);
      a.send({ type: 'regenerate', client_id: 'g1' });
      expect(await answerTo(a, 'g1')).toMatchObject({ type: 'ack' });
      await streaming(b, 'g1');
      b.send({ type: 'edit_message', client_id: 'e2', id: String(m1.id), content: `four ${round}` });
      expect(await answerTo(b, 'e2')).toMatchObject({ type: 'error', error: { code: 'INVALID_MESSAGE' } });
      await doneOf(a, 'g1');
      const session = await settled(token, sessionId);
      expect(session.messages.map((message) => `${message.type}:${message.client_id}`)).toEqual([
        'user_message:m1',
        'ai_response:m1',
        'ai_response:g1',
      ]);
      expect(buildThread(session.messages).current.map((message) => message.client_id)).toEqual(['m1', 'g1']);
      await a.close();
      await b.close();
    }
  });

  // protocol.md, "Versions": the last message, stored by the other instance, was refused "Only your
  // last message can be edited." on the instance whose copy of the log it was not in (4 of 4 in the
  // library audit): the rule was asked on that copy before the compare-and-set could show it old.
  it('should take an edit of the last message when it was stored by the other instance', async () => {
    for (let round = 0; round < 2; round++) {
      const token = userToken(uniqueUser());
      const { client: a, sessionId } = await connect(first, token);
      const { client: b } = await connect(second, token, { session_id: sessionId });
      a.send({ type: 'user_message', client_id: 'm1', content: `one ${round}` });
      await answerTo(a, 'm1');
      await doneOf(b, 'm1');
      b.send({ type: 'user_message', client_id: 'm2', content: `two ${round}` });
      const m2 = await answerTo(b, 'm2');
      await doneOf(a, 'm2');
      await sleep(100);
      a.send({ type: 'edit_message', client_id: 'e2', id: String(m2.id), content: `two edited ${round}` });
      expect(await answerTo(a, 'e2')).toMatchObject({ type: 'ack', client_id: 'e2' });
      await doneOf(a, 'e2');
      const session = await settled(token, sessionId);
      expect(buildThread(session.messages).current.map((message) => message.content)).toEqual([
        `one ${round}`,
        `Echo: one ${round}`,
        `two edited ${round}`,
        `Echo: two edited ${round}`,
      ]);
      // and its resend, from the instance whose copy stops before it: the stored copy's ack
      const stored = session.messages.find(
        (message) => message.client_id === 'e2' && message.type === 'user_message',
      );
      b.send({ type: 'edit_message', client_id: 'e2', id: String(m2.id), content: `two edited ${round}` });
      expect(await answerTo(b, 'e2')).toMatchObject({ type: 'ack', id: stored?.id });
      await a.close();
      await b.close();
    }
  });

  // protocol.md, "Resends": a regenerate resent with its client_id after a cut was answered again
  // (two alternatives tagged with it, the vendor asked twice: 8 of 8 on the other instance, 5 of 5
  // on the same one after the first finished), or refused INVALID_MESSAGE while the first streamed.
  it.each([
    ['the other instance', true, false],
    ['the same instance, once the first is done', false, true],
    ['the same instance, while the first streams', false, false],
  ])('should regenerate once when a regenerate is resent on %s', async (_name, other, waitDone) => {
    for (let round = 0; round < 4; round++) {
      const token = userToken(uniqueUser());
      const { client: a, sessionId } = await connect(first, token);
      a.send({ type: 'user_message', client_id: 'm0', content: `zero ${round}` });
      await answerTo(a, 'm0');
      await doneOf(a, 'm0');
      await sleep(100);
      const before = completions();
      // slow enough that the same instance still streams it when the resend comes
      if (!waitDone && !other) fake.enqueue({ delayMs: 100 });
      a.send({ type: 'regenerate', client_id: 'X' });
      await sleep((round * 13) % 41);
      a.socket.terminate();
      await a.closed;
      if (waitDone) {
        for (const until = Date.now() + 10_000; Date.now() < until; await sleep(50)) {
          const session = await detail(token, sessionId);
          if (session.messages.some((message) => message.client_id === 'X')) break;
        }
      }
      const { client: b } = await connect(other ? second : first, token, {
        session_id: sessionId,
        last_seq: String(lastSeqOf(a)),
      });
      b.send({ type: 'regenerate', client_id: 'X' });
      const answer = await answerTo(b, 'X');
      expect(answer).toMatchObject({ type: 'ack', client_id: 'X' });
      const session = await settled(token, sessionId, 1500);
      const regenerated = session.messages.filter(
        (message) =>
          message.type === 'ai_response' && message.client_id === 'X' && message.metadata?.alternative_of,
      );
      expect(regenerated).toHaveLength(1);
      expect(completions() - before).toBe(1);
      await b.close();
    }
  });

  // protocol.md, "Resends": an edit resent after a cut, once stored and answered, was refused
  // INVALID_MESSAGE "Only your last message can be edited." instead of acked.
  it.each([
    ['the other instance', true],
    ['the same instance', false],
  ])('should ack a resent edit already stored with its stored copy, on %s', async (_name, other) => {
    for (let round = 0; round < 3; round++) {
      const token = userToken(uniqueUser());
      const { client: a, sessionId } = await connect(first, token);
      a.send({ type: 'user_message', client_id: 'm0', content: `zero ${round}` });
      const m0 = await answerTo(a, 'm0');
      await doneOf(a, 'm0');
      a.send({ type: 'edit_message', client_id: 'X', id: String(m0.id), content: `edited ${round}` });
      await sleep((round * 13) % 41);
      a.socket.terminate();
      await a.closed;
      for (const until = Date.now() + 10_000; Date.now() < until; await sleep(50)) {
        const session = await detail(token, sessionId);
        if (session.messages.some((message) => message.type === 'ai_response' && message.client_id === 'X'))
          break;
      }
      const { client: b } = await connect(other ? second : first, token, {
        session_id: sessionId,
        last_seq: String(lastSeqOf(a)),
      });
      b.send({ type: 'edit_message', client_id: 'X', id: String(m0.id), content: `edited ${round}` });
      const answer = await answerTo(b, 'X');
      const session = await settled(token, sessionId);
      const edits = session.messages.filter(
        (message) => message.type === 'user_message' && message.client_id === 'X',
      );
      expect(edits).toHaveLength(1);
      expect(answer).toMatchObject({ type: 'ack', client_id: 'X', id: edits[0].id });
      await b.close();
    }
  });

  // Found by the metrics black-box audit in session 42 (3 of 3): a regeneration's resend (same
  // client_id) reaching the other instance while it streamed was acked there as that one, and
  // chatbox_regenerations_total counted it twice: once per acked request (docs/operations.md).
  it('should count one regeneration once when its resend reaches the other instance while it streams', async () => {
    // both instances run in this process and share prom-client's registry: the cluster's sum
    const regenerations = async () =>
      (await (await fetch(`${first.httpUrl}/metrics`)).text())
        .split('\n')
        .filter((line) => line.startsWith('chatbox_regenerations_total{'))
        .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
    const token = userToken(uniqueUser('regen'));
    const { client: a, sessionId } = await connect(first, token);
    const { client: b } = await connect(second, token, { session_id: sessionId });
    a.send({ type: 'user_message', client_id: 'm1', content: 'question' });
    await answerTo(a, 'm1');
    await doneOf(a, 'm1');
    const before = await regenerations();
    fake.enqueue({ reply: 'a slow alternative answer', chunkSize: 2, delayMs: 100 });
    a.send({ type: 'regenerate', client_id: 'r1' });
    expect(await answerTo(a, 'r1')).toMatchObject({ type: 'ack' });
    b.send({ type: 'regenerate', client_id: 'r1' });
    expect(await answerTo(b, 'r1')).toMatchObject({ type: 'ack' });
    await doneOf(a, 'r1');
    const session = await settled(token, sessionId);
    expect(session.messages.filter((message) => message.metadata?.alternative_of !== undefined)).toHaveLength(
      1,
    );
    expect((await regenerations()) - before).toBe(1);
    await a.close();
    await b.close();
  });
});
