import mongoose from 'mongoose';
import { authHeaders, getJson, startApp, type RunningApp, type SessionBody } from '../helpers/app';
import { adminToken, unsignedToken, uniqueUser, userToken } from '../helpers/tokens';
import { ReplyPrompt } from '../../src/modules/replies/reply-prompt';
import { SessionsService } from '../../src/modules/sessions/sessions.service';
import { type Frame, TestClient, UpgradeRefused } from '../helpers/ws-client';

describe('chat over WebSocket (e2e)', () => {
  let server: RunningApp;

  beforeAll(async () => {
    server = await startApp({ RATE_LIMIT_MESSAGES_PER_SECOND: '5', MAX_MESSAGE_LENGTH: '100' });
  });
  afterAll(() => server.close());

  const connect = (token: string, query = '') => TestClient.connect(`${server.wsUrl}?token=${token}${query}`);
  const refusal = async (promise: Promise<TestClient>) => {
    const error = await promise.then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(UpgradeRefused);
    return (error as UpgradeRefused).status;
  };

  describe('upgrade', () => {
    it('should refuse with 401 when the token is missing, bad, expired, unsigned or signed with another key', async () => {
      const user = uniqueUser();
      expect(await refusal(TestClient.connect(server.wsUrl))).toBe(401);
      expect(await refusal(connect('not-a-jwt'))).toBe(401);
      expect(await refusal(connect(userToken(user, { expiresInSeconds: -10 })))).toBe(401);
      expect(await refusal(connect(unsignedToken(user)))).toBe(401);
      expect(
        await refusal(connect(userToken(user, { secret: 'another-secret-that-is-long-enough-xxxxx' }))),
      ).toBe(401);
    });

    // Found by the audit of session 42's own changes (3 of 3, both paths): once the server chose
    // `chatbox` for the bearer subprotocol, a client offering a subprotocol of its own, with
    // `?token=`, was refused the socket ("Server sent no subprotocol"); ws had chosen its own.
    it('should open a socket for a client that offers its own subprotocol with ?token=, on both paths', async () => {
      const token = userToken(uniqueUser());
      for (const url of [server.wsUrl, `${server.httpUrl.replace('http', 'ws')}/ws/chat`]) {
        const client = await TestClient.connect(`${url}?token=${token}`, { protocols: ['v1.chat'] });
        expect((await client.nextOfType('connection_status')).type).toBe('connection_status');
        await client.close();
      }
    });

    // Found by the text-limits black-box audit (round 2) in session 42 (3 of 3 runs): the store's UTF-8
    // writes U+FFFD for a lone surrogate, in documents and queries alike, so the subjects `…\uD800`
    // and `…\uDFFF` were one user: the second listed the first's session and its name (its first
    // message).
    it('should refuse with 401 a token whose subject is not whole Unicode, on both sockets, REST and admin tokens', async () => {
      const base = uniqueUser('sub');
      const first = userToken(`${base}\uD800`);
      const second = userToken(`${base}\uDFFF`);
      const rooms = server.wsUrl.replace('/chat/ws', '/ws/chat');
      expect(await refusal(connect(first))).toBe(401);
      expect(await refusal(TestClient.connect(`${rooms}?token=${second}`))).toBe(401);
      for (const [path, token] of [
        ['/chat/sessions', second],
        ['/chat/admin/sessions', adminToken(`${base}\uDFFF`)],
      ] as const) {
        const response = await fetch(`${server.httpUrl}${path}`, { headers: authHeaders(token) });
        const body = (await response.json()) as { error?: { code: string; message: string } };
        expect({ path, status: response.status, error: body.error }).toEqual({
          path,
          status: 401,
          error: { code: 'UNAUTHORIZED', message: 'Token subject is not valid Unicode.' },
        });
      }
    });

    it('should refuse with 403 when the browser Origin is not allowed', async () => {
      const token = userToken(uniqueUser());
      const status = await refusal(
        TestClient.connect(`${server.wsUrl}?token=${token}`, { headers: { origin: 'http://evil.example' } }),
      );
      expect(status).toBe(403);
      const allowed = await TestClient.connect(`${server.wsUrl}?token=${token}`, {
        headers: { origin: 'http://allowed.example' },
      });
      expect((await allowed.nextOfType('connection_status')).metadata?.status).toBe('connected');
      await allowed.close();
    });

    it('should accept the token in the Authorization header', async () => {
      const client = await TestClient.connect(server.wsUrl, {
        headers: authHeaders(userToken(uniqueUser())),
      });
      const status = await client.nextOfType('connection_status');
      expect(status.metadata).toMatchObject({ status: 'connected', restored: false, model_id: 'demo' });
      expect(status.metadata?.models).toEqual([{ id: 'demo', name: 'Demo' }]);
      await client.close();
    });
  });

  it('should store, ack and stream a reply token by token, then store the reply', async () => {
    const user = uniqueUser();
    const token = userToken(user);
    const client = await connect(token);
    const status = await client.nextOfType('connection_status');
    client.send({ type: 'user_message', client_id: 'c1', content: 'Hello there, how are you?' });
    const ack = await client.nextOfType('ack');
    expect(ack).toMatchObject({ client_id: 'c1', seq: 1, session_id: status.session_id });
    expect(typeof ack.id).toBe('string');
    const loading = await client.next((frame) => frame.type === 'loading');
    expect(loading.metadata?.loading).toBe(true);
    const { final, deltas } = await client.reply();
    expect(deltas.length).toBeGreaterThan(0);
    expect(final.content).toBe(deltas);
    expect(final.content).toContain('Hello there, how are you?');
    expect(final).toMatchObject({ seq: 2, client_id: 'c1', sender: 'ai' });
    expect(final.metadata?.usage).toMatchObject({ total_tokens: expect.any(Number) });
    expect(typeof final.metadata?.response_ms).toBe('number');
    expect((await client.next((frame) => frame.type === 'loading')).metadata?.loading).toBe(false);

    const detail = await getJson<SessionBody>(`${server.httpUrl}/chat/sessions/${status.session_id}`, token);
    expect(detail.messages.map((message) => [message.seq, message.sender, message.content])).toEqual([
      [1, 'user', 'Hello there, how are you?'],
      [2, 'ai', deltas],
    ]);
    expect(detail.name).toBe('Hello there, how are you?');
    expect(detail.total_tokens).toBe((final.metadata?.usage as { total_tokens: number }).total_tokens);
    expect(detail.avg_response_ms).toBeGreaterThanOrEqual(0);
    await client.close();
  });

  it('should store a turn in two writes to its session and no reads: the message comes back with its history held', async () => {
    const client = await connect(userToken(uniqueUser()));
    await client.nextOfType('connection_status');
    client.send({ type: 'user_message', client_id: 't1', content: 'first question' });
    await client.reply();
    // the first turn's renames are done once the next one begins; count only the second turn
    await new Promise((resolve) => setTimeout(resolve, 200));
    const calls: string[] = [];
    mongoose.set('debug', (collection: string, method: string) => calls.push(`${collection}.${method}`));
    try {
      client.send({ type: 'user_message', client_id: 't2', content: 'second question' });
      const { final } = await client.reply();
      expect(final.content).toContain('second question');
    } finally {
      mongoose.set('debug', false);
    }
    const sessionCalls = calls.filter((call) => call.startsWith('sessions.'));
    expect(sessionCalls.filter((call) => /\.find(One)?$/.test(call))).toEqual([]);
    // the user's append, guarded on the session as this instance holds it (the first turn's title
    // included), and the reply's: each a batch of one here, sent as the single command
    // (docs/protocol.md, "Coalesced writes")
    expect(sessionCalls.filter((call) => call === 'sessions.updateOne')).toHaveLength(2);
    expect(sessionCalls).toHaveLength(2);
    await client.close();
  });

  it('should share one session between two devices of a user, each seeing every message', async () => {
    const token = userToken(uniqueUser());
    const phone = await connect(token);
    const phoneStatus = await phone.nextOfType('connection_status');
    const laptop = await connect(token);
    const laptopStatus = await laptop.nextOfType('connection_status');
    expect(laptopStatus.session_id).toBe(phoneStatus.session_id);
    expect(laptopStatus.metadata?.restored).toBe(true);

    phone.send({ type: 'user_message', client_id: 'p1', content: 'from the phone' });
    const echoed = await laptop.nextOfType('user_message');
    expect(echoed).toMatchObject({ content: 'from the phone', sender: 'user', client_id: 'p1', seq: 1 });
    const [onPhone, onLaptop] = await Promise.all([phone.reply(), laptop.reply()]);
    expect(onLaptop.final.content).toBe(onPhone.final.content);
    expect(onLaptop.final.id).toBe(onPhone.final.id);
    await Promise.all([phone.close(), laptop.close()]);
  });

  it('should replay everything after last_seq on reconnect, including a reply that finished while offline', async () => {
    const token = userToken(uniqueUser());
    const first = await connect(token);
    const status = await first.nextOfType('connection_status');
    first.send({ type: 'user_message', client_id: 'r1', content: 'question one' });
    const ack = await first.nextOfType('ack');
    await first.close(); // gone before the reply is done
    await new Promise((resolve) => setTimeout(resolve, 600));

    const again = await connect(token, `&session_id=${status.session_id}&last_seq=${ack.seq}`);
    const restored = await again.nextOfType('connection_status');
    expect(restored.metadata?.restored).toBe(true);
    const replayed = await again.next(
      (frame) => frame.type === 'ai_response' && frame.metadata?.done === true,
    );
    expect(replayed).toMatchObject({ seq: 2, sender: 'ai', client_id: 'r1' });
    expect(replayed.content).toContain('question one');
    await again.close();
  });

  it('should stand connection_status at last_seq on a resume, so the replayed events follow it in order', async () => {
    const token = userToken(uniqueUser());
    const first = await connect(token);
    const status = await first.nextOfType('connection_status');
    first.send({ type: 'user_message', client_id: 'q1', content: 'one' });
    await first.reply();
    await first.close();

    for (const lastSeq of [0, 1, 2, 7]) {
      const again = await connect(token, `&session_id=${status.session_id}&last_seq=${lastSeq}`);
      const restored = await again.nextOfType('connection_status');
      // the head is 2 (the message and its reply); a client claiming more stands at the head
      expect(restored.seq).toBe(Math.min(lastSeq, 2));
      const replayed: number[] = [];
      for (let seq = lastSeq + 1; seq <= 2; seq++)
        replayed.push(
          (await again.next((frame) => frame.seq === seq && frame.id !== undefined)).seq as number,
        );
      expect(replayed).toEqual([1, 2].filter((seq) => seq > lastSeq));
      await again.close();
    }
  });

  it('should give every frame of the session its seq, errors included, and ack each accepted command', async () => {
    const client = await connect(userToken(uniqueUser()));
    const status = await client.nextOfType('connection_status');
    client.send({ type: 'user_message', client_id: 'bad' });
    const error = await client.nextOfType('error');
    expect(error).toMatchObject({ session_id: status.session_id, seq: 0, client_id: 'bad' });
    client.send({ type: 'typing_indicator', client_id: 't1', metadata: { typing: true } });
    expect(await client.next((frame) => frame.type === 'ack' && frame.client_id === 't1')).toMatchObject({
      session_id: status.session_id,
      seq: 0,
    });
    client.send({ type: 'stop_generation', client_id: 's1' });
    expect(await client.next((frame) => frame.type === 'ack' && frame.client_id === 's1')).toMatchObject({
      session_id: status.session_id,
      seq: 0,
    });
    await client.close();
  });

  it('should deliver a reply in progress as its text so far, then the live rest, once', async () => {
    const token = userToken(uniqueUser());
    const first = await connect(token);
    const status = await first.nextOfType('connection_status');
    first.send({ type: 'user_message', client_id: 'm1', content: 'tell me something' });
    await first.next((frame) => frame.type === 'ai_response' && frame.metadata?.done === false);
    await first.close();

    const again = await connect(token, `&session_id=${status.session_id}&last_seq=1`);
    const { final, deltas } = await again.reply();
    expect(deltas).toBe(final.content);
    await again.close();
  });

  it('should store a resent client_id once and ack it with the same id', async () => {
    const token = userToken(uniqueUser());
    const client = await connect(token);
    const status = await client.nextOfType('connection_status');
    client.send({ type: 'user_message', client_id: 'dup', content: 'only once' });
    const firstAck = await client.nextOfType('ack');
    await client.reply();
    client.send({ type: 'user_message', client_id: 'dup', content: 'only once' });
    const secondAck = await client.nextOfType('ack');
    expect(secondAck.id).toBe(firstAck.id);
    expect(secondAck.seq).toBe(firstAck.seq);
    const detail = await getJson<SessionBody>(`${server.httpUrl}/chat/sessions/${status.session_id}`, token);
    expect(
      detail.messages.filter((message) => message.client_id === 'dup' && message.sender === 'user'),
    ).toHaveLength(1);
    await client.close();
  });

  // Found by the contract black-box audit in session 44 (3 of 3 runs): CONTRACT §2 "the server echoes
  // it on the ack and on every message it causes", but the model_select a device's model_select
  // causes on the user's other devices carried no client_id.
  it("should echo client_id on the model_select a model_select causes on the user's other devices", async () => {
    const token = userToken(uniqueUser());
    const [phone, laptop] = [await connect(token), await connect(token)];
    await Promise.all([phone.nextOfType('connection_status'), laptop.nextOfType('connection_status')]);
    phone.send({ type: 'model_select', model_id: 'demo', client_id: 'pick-1' });
    await phone.next((frame) => frame.type === 'ack' && frame.client_id === 'pick-1');
    expect(await laptop.nextOfType('model_select')).toMatchObject({ model_id: 'demo', client_id: 'pick-1' });
    await Promise.all([phone.close(), laptop.close()]);
  });

  // Found by the text-limits black-box audit in session 42 (every connect): the chat client reads
  // metadata.max_message_length to count its composer, its edit box and a room's, but no
  // connection_status carried it, so with MAX_MESSAGE_LENGTH=100 the client let 4,096 through and the
  // server refused them MESSAGE_TOO_LONG after they were shown sent.
  it('should tell each socket the longest message it takes (connection_status.metadata.max_message_length)', async () => {
    const client = await connect(userToken(uniqueUser()));
    expect((await client.nextOfType('connection_status')).metadata).toMatchObject({
      max_message_length: 100,
    });
    await client.close();
  });

  it('should answer bad input with clear recoverable errors and keep the socket open', async () => {
    const client = await connect(userToken(uniqueUser()));
    await client.nextOfType('connection_status');
    client.socket.send('not json');
    expect((await client.nextOfType('error')).error).toMatchObject({
      code: 'INVALID_MESSAGE',
      recoverable: true,
    });
    client.socket.send('{"type":"user_message","content":"a"}{"type":"user_message","content":"b"}');
    expect((await client.nextOfType('error')).error?.code).toBe('INVALID_MESSAGE');
    client.send({ type: 'user_message', client_id: 'long', content: 'x'.repeat(101) });
    const tooLong = await client.nextOfType('error');
    expect(tooLong).toMatchObject({
      client_id: 'long',
      error: { code: 'MESSAGE_TOO_LONG', recoverable: true },
    });
    client.send({ type: 'model_select', model_id: 'nope' });
    expect((await client.nextOfType('error')).error?.code).toBe('UNKNOWN_MODEL');
    client.send({ type: 'warp_drive' });
    expect((await client.nextOfType('error')).error?.code).toBe('INVALID_MESSAGE');
    client.send({ type: 'user_message', client_id: 'ok', content: 'still here' });
    expect((await client.nextOfType('ack')).client_id).toBe('ok');
    await client.close();
  });

  it('should rate-limit a user with RATE_LIMITED and retry_after', async () => {
    const client = await connect(userToken(uniqueUser()));
    await client.nextOfType('connection_status');
    for (let index = 0; index < 8; index++)
      client.send({ type: 'typing_indicator', metadata: { typing: true } });
    for (let index = 0; index < 8; index++)
      client.send({ type: 'model_select', client_id: `s${index}`, model_id: 'demo' });
    const limited = await client.nextOfType('error');
    expect(limited.error).toMatchObject({ code: 'RATE_LIMITED', recoverable: true });
    expect(limited.error?.retry_after).toBeGreaterThan(0);
    await client.close();
  });

  it('should rate-limit a flood of typing indicators on a budget of their own', async () => {
    const client = await connect(userToken(uniqueUser()));
    await client.nextOfType('connection_status');
    for (let index = 0; index < 8; index++)
      client.send({
        type: 'typing_indicator',
        client_id: `t${index}`,
        metadata: { typing: index % 2 === 0 },
      });
    const limited = await client.nextOfType('error');
    expect(limited).toMatchObject({ client_id: 't5', error: { code: 'RATE_LIMITED', recoverable: true } });
    // the messages' budget is untouched
    client.send({ type: 'user_message', client_id: 'm', content: 'still mine' });
    expect((await client.next((frame) => frame.type === 'ack' && frame.client_id === 'm')).id).toBeDefined();
    await client.close();
  });

  it('should close the socket with UNAUTHORIZED when the token expires without refresh, and not when refreshed', async () => {
    const user = uniqueUser();
    const expiring = await connect(userToken(user, { expiresInSeconds: 2 }));
    await expiring.nextOfType('connection_status');
    const error = await expiring.nextOfType('error', 5000);
    expect(error.error).toMatchObject({ code: 'UNAUTHORIZED', recoverable: false });
    expect(await expiring.closed).toBe(4401);

    const refreshed = await connect(userToken(user, { expiresInSeconds: 2 }));
    await refreshed.nextOfType('connection_status');
    refreshed.send({
      type: 'auth_refresh',
      client_id: 'a1',
      content: userToken(user, { expiresInSeconds: 600 }),
    });
    expect((await refreshed.nextOfType('ack')).metadata?.token_expires_at).toBeDefined();
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(refreshed.closeCode).toBeUndefined();
    refreshed.send({ type: 'auth_refresh', content: userToken('someone-else') });
    expect((await refreshed.nextOfType('error')).error).toMatchObject({
      code: 'UNAUTHORIZED',
      recoverable: false,
    });
    await refreshed.closed;
  });

  // Found by the timers black-box audit in session 43 (an auth_refresh whose `nbf` was 1 s ahead was
  // refused and the socket closed 4401, the upgrade refused 401 alike): a parent app whose clock runs a
  // second ahead and stamps nbf = iat was refused. `nbf` has JWT_CLOCK_TOLERANCE (5 s); `exp` none.
  it('should take a token whose nbf is a second ahead, on the upgrade and on auth_refresh, and refuse one a minute ahead', async () => {
    const user = uniqueUser();
    const ahead = (seconds: number) => userToken(user, { extra: { notBefore: seconds } });
    expect(await refusal(connect(ahead(60)))).toBe(401);
    const client = await connect(ahead(1));
    await client.nextOfType('connection_status');
    client.send({ type: 'auth_refresh', client_id: 'soon', content: ahead(1) });
    expect(await client.next((frame) => frame.client_id === 'soon')).toMatchObject({ type: 'ack' });
    client.send({ type: 'auth_refresh', client_id: 'later', content: ahead(60) });
    expect((await client.nextOfType('error')).error).toMatchObject({ code: 'UNAUTHORIZED' });
    expect(await client.closed).toBe(4401);
  });

  // auth_refresh was exempt from every budget (so a limited client can still refresh its token): a
  // client could make the instance check tokens without end, a core's worth from one socket
  it('should bound auth_refresh with a budget of its own, refusing past it with RATE_LIMITED and keeping the socket', async () => {
    const user = uniqueUser();
    const client = await connect(userToken(user));
    await client.nextOfType('connection_status');
    const token = userToken(user, { expiresInSeconds: 600 });
    for (let index = 0; index < 20; index++)
      client.send({ type: 'auth_refresh', client_id: `r${index}`, content: token });
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, index) => client.next((frame) => frame.client_id === `r${index}`)),
    );
    // RATE_LIMIT_MESSAGES_PER_SECOND is 5 here
    expect(answers.filter((frame) => frame.type === 'ack').length).toBe(5);
    const refused = answers.filter((frame) => frame.type === 'error');
    expect(refused.length).toBe(15);
    expect(refused[0].error).toMatchObject({ code: 'RATE_LIMITED', recoverable: true });
    // the message budget is apart: a message still goes through
    client.send({ type: 'user_message', client_id: 'm', content: 'hi' });
    expect((await client.next((frame) => frame.client_id === 'm')).type).toBe('ack');
    await new Promise((resolve) => setTimeout(resolve, (refused[0].error?.retry_after ?? 1000) + 100));
    client.send({ type: 'auth_refresh', client_id: 'later', content: token });
    expect((await client.next((frame) => frame.client_id === 'later')).type).toBe('ack');
    expect(client.closeCode).toBeUndefined();
    await client.close();
  });

  it('should open a new session on new_session for every device of the user', async () => {
    const token = userToken(uniqueUser());
    const one = await connect(token);
    const before = await one.nextOfType('connection_status');
    const two = await connect(token);
    await two.nextOfType('connection_status');
    one.send({ type: 'new_session', client_id: 'n1' });
    const [onOne, onTwo] = await Promise.all([
      one.next((frame) => frame.type === 'connection_status'),
      two.next((frame) => frame.type === 'connection_status'),
    ]);
    expect(onOne.session_id).not.toBe(before.session_id);
    expect(onTwo.session_id).toBe(onOne.session_id);
    const sessions = await getJson<SessionBody[]>(`${server.httpUrl}/chat/sessions`, token);
    expect(sessions.map((session) => [session.id, session.is_active])).toEqual(
      expect.arrayContaining([
        [onOne.session_id, true],
        [before.session_id, false],
      ]),
    );
    await Promise.all([one.close(), two.close()]);
  });

  it('should refuse another user session with NOT_FOUND and keep HTTP reads owner-only', async () => {
    const owner = userToken(uniqueUser());
    const client = await connect(owner);
    const status = await client.nextOfType('connection_status');
    await client.close();
    const intruder = userToken(uniqueUser());
    const other = await connect(intruder, `&session_id=${status.session_id}`);
    const error = await other.nextOfType('error');
    expect(error.error?.code).toBe('NOT_FOUND');
    await other.closed;
    const response = await fetch(`${server.httpUrl}/chat/sessions/${status.session_id}`, {
      headers: authHeaders(intruder),
    });
    expect(response.status).toBe(404);
    const asAdmin = await fetch(`${server.httpUrl}/chat/sessions/${status.session_id}`, {
      headers: authHeaders(adminToken(uniqueUser('admin'))),
    });
    expect(asAdmin.status).toBe(200);
  });

  it('should stop a reply on stop_generation and store the part so far flagged stopped', async () => {
    const slow = await startApp({
      LLM_PROVIDERS: JSON.stringify([{ id: 'slow', type: 'demo', delay_ms: 100 }]),
    });
    try {
      const client = await TestClient.connect(`${slow.wsUrl}?token=${userToken(uniqueUser())}`);
      await client.nextOfType('connection_status');
      client.send({ type: 'user_message', client_id: 's1', content: 'a long answer please' });
      await client.next((frame) => frame.type === 'ai_response' && frame.metadata?.done === false);
      client.send({ type: 'stop_generation' });
      const { final } = await client.reply();
      expect(final.metadata?.stopped).toBe(true);
      expect((final.content ?? '').length).toBeGreaterThan(0);
      await client.close();
    } finally {
      await slow.close();
    }
  });

  it('should close a reply stopped before its first token with a final frame, stored empty and flagged stopped', async () => {
    const slow = await startApp({
      LLM_PROVIDERS: JSON.stringify([{ id: 'slow', type: 'demo', delay_ms: 1000 }]),
    });
    try {
      const token = userToken(uniqueUser());
      const client = await TestClient.connect(`${slow.wsUrl}?token=${token}`);
      const status = await client.nextOfType('connection_status');
      client.send({ type: 'user_message', client_id: 'early', content: 'never mind' });
      await client.next((frame) => frame.type === 'loading' && frame.metadata?.loading === true);
      client.send({ type: 'stop_generation' });
      const { final, deltas } = await client.reply();
      expect(deltas).toBe('');
      expect(final).toMatchObject({ seq: 2, client_id: 'early', content: '', metadata: { stopped: true } });
      const session = await getJson<SessionBody>(`${slow.httpUrl}/chat/sessions/${status.session_id}`, token);
      expect(session.messages.at(-1)).toMatchObject({ type: 'ai_response', seq: 2, content: '' });
      await client.close();
    } finally {
      await slow.close();
    }
  });

  // A reply asked for after its message is stored (this instance holds no copy of the session) is
  // queued until its prompt is read: a stop, an edit or a regenerate sent the instant the ack arrives
  // finds it not yet streaming. It is the reply in flight all the same.
  it.each(['stop_generation', 'edit_message', 'regenerate'] as const)(
    'should treat a reply asked for but not yet shown as in flight: %s sent the instant the ack arrives',
    async (sent) => {
      const slow = await startApp({
        LLM_PROVIDERS: JSON.stringify([{ id: 'slow', type: 'demo', delay_ms: 50 }]),
      });
      const sessions = slow.app.get(SessionsService);
      jest.spyOn(sessions, 'snapshot').mockReturnValue(undefined);
      const prompt = slow.app.get(ReplyPrompt);
      const assemble = prompt.assemble.bind(prompt);
      jest.spyOn(prompt, 'assemble').mockImplementation(async (...args) => {
        await new Promise((resolve) => setTimeout(resolve, 300));
        return assemble(...args);
      });
      try {
        const token = userToken(uniqueUser());
        const client = await TestClient.connect(`${slow.wsUrl}?token=${token}`);
        const status = await client.nextOfType('connection_status');
        client.send({ type: 'user_message', client_id: 'first', content: 'hello' });
        await client.reply();
        client.socket.on('message', (data) => {
          const frame = JSON.parse(data.toString()) as Frame;
          if (frame.type !== 'ack' || frame.client_id !== 'asked') return;
          if (sent === 'stop_generation') client.send({ type: 'stop_generation', client_id: 'stop' });
          else if (sent === 'edit_message')
            client.send({ type: 'edit_message', id: frame.id, content: 'changed', client_id: 'stop' });
          else client.send({ type: 'regenerate', client_id: 'stop' });
        });
        client.send({ type: 'user_message', client_id: 'asked', content: 'a long answer please' });
        const answer = await client.next((frame) => frame.client_id === 'stop');
        const { final } = await client.reply();
        expect(final.client_id).toBe('asked');
        if (sent === 'stop_generation') {
          expect(answer.type).toBe('ack');
          expect(final).toMatchObject({ content: '', metadata: { stopped: true } });
        } else {
          expect(answer).toMatchObject({ type: 'error', error: { code: 'INVALID_MESSAGE' } });
          expect(final.metadata?.stopped).toBeUndefined();
        }
        await new Promise((resolve) => setTimeout(resolve, 500));
        const session = await getJson<SessionBody>(
          `${slow.httpUrl}/chat/sessions/${status.session_id}`,
          token,
        );
        // one reply to each turn
        expect(session.messages.map((message) => `${message.type}:${message.client_id}`)).toEqual([
          'user_message:first',
          'ai_response:first',
          'user_message:asked',
          'ai_response:asked',
        ]);
        await client.close();
      } finally {
        await slow.close();
      }
    },
  );

  it('should close a client silent past the heartbeat window and one that sends an oversized frame', async () => {
    const strict = await startApp({
      HEARTBEAT_INTERVAL: '150ms',
      WS_MAX_PAYLOAD_BYTES: '1024',
      MAX_MESSAGE_LENGTH: '100',
    });
    try {
      const url = `${strict.wsUrl}?token=${userToken(uniqueUser())}`;
      const silent = await TestClient.connect(url, { autoPong: false });
      await silent.nextOfType('connection_status');
      expect(await silent.closed).toBe(1006);
      // one that keeps sending but answers no ping (it reads nothing: its pong would come after all it
      // was sent) is closed too; frames of its own kept it open while its unsent frames grew to 4 MiB
      // (third black-box audit, docs/protocol.md "Socket limits")
      const talking = await TestClient.connect(url, { autoPong: false });
      await talking.nextOfType('connection_status');
      const chatter = setInterval(
        () => talking.send({ type: 'typing_indicator', metadata: { typing: true } }),
        30,
      );
      try {
        expect(await talking.closed).toBe(1006);
      } finally {
        clearInterval(chatter);
      }

      const answering = await TestClient.connect(url);
      await answering.nextOfType('connection_status');
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(answering.closeCode).toBeUndefined();
      // past the accepted frame size: refused with a clear error, the socket stays
      answering.socket.send(
        JSON.stringify({ type: 'user_message', client_id: 'big', content: 'x'.repeat(5000) }),
      );
      expect(await answering.nextOfType('error')).toMatchObject({
        error: { code: 'MESSAGE_TOO_LONG', recoverable: true },
      });
      answering.send({ type: 'user_message', client_id: 'fine', content: 'short' });
      expect(
        (await answering.next((frame) => frame.type === 'ack' && frame.client_id === 'fine')).id,
      ).toBeDefined();
      // far past it (16 × the accepted size, 5,296 bytes here: 12 a character and the envelope's):
      // the transport's own limit closes with 1009
      answering.socket.send(JSON.stringify({ type: 'user_message', content: 'x'.repeat(120_000) }));
      expect(await answering.closed).toBe(1009);

      // a token expiring many heartbeats after connect: the heartbeat arms its timer in time
      const expiring = await TestClient.connect(
        `${strict.wsUrl}?token=${userToken(uniqueUser(), { expiresInSeconds: 2 })}`,
      );
      await expiring.nextOfType('connection_status');
      expect((await expiring.nextOfType('error', 5000)).error).toMatchObject({ code: 'UNAUTHORIZED' });
      expect(await expiring.closed).toBe(4401);
    } finally {
      await strict.close();
    }
  });

  describe('HTTP', () => {
    it('should deny by default and serve models, sessions and probes', async () => {
      expect((await fetch(`${server.httpUrl}/chat/models`)).status).toBe(401);
      expect((await fetch(`${server.httpUrl}/chat/sessions`)).status).toBe(401);
      const models = await fetch(`${server.httpUrl}/chat/models`, {
        headers: authHeaders(userToken(uniqueUser())),
      });
      expect(await models.json()).toEqual([{ id: 'demo', name: 'Demo' }]);
      expect((await fetch(`${server.httpUrl}/chat/healthz`)).status).toBe(200);
      expect((await fetch(`${server.httpUrl}/chat/readyz`)).status).toBe(200);
      const metrics = await (await fetch(`${server.httpUrl}/metrics`)).text();
      expect(metrics).toContain('chatbox_ws_connections');
      expect(metrics).toContain('chatbox_llm_response_seconds_bucket');
      expect(metrics).toContain('chatbox_messages_in_total');
    });

    it('should send /chat and /admin to their pages with a trailing slash, query kept', async () => {
      const to = async (path: string) => {
        const response = await fetch(`${server.httpUrl}${path}`, { redirect: 'manual' });
        return { status: response.status, location: response.headers.get('location') };
      };
      // an embedding app may link the page without the slash, the token in the query
      expect(await to('/chat?token=abc&session_id=s1')).toEqual({
        status: 301,
        location: '/chat/?token=abc&session_id=s1',
      });
      expect(await to('/admin')).toEqual({ status: 301, location: '/admin/' });
      // the API under the same prefix is untouched
      expect((await fetch(`${server.httpUrl}/chat/models`)).status).toBe(401);
    });
  });
});
