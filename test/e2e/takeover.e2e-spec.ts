import { gptModel, startOpenAiFake, type OpenAiFake } from '../fakes/openai-fake';
import { authHeaders, getJson, startApp, type RunningApp, type SessionBody } from '../helpers/app';
import { adminToken, uniqueUser, userToken } from '../helpers/tokens';
import { TestClient, type Frame } from '../helpers/ws-client';
import { SessionsService } from '../../src/modules/sessions/sessions.service';
import { PNG } from './uploads.fixtures';
import { fileLink, upload } from './uploads.helpers';

interface AdminItem {
  id: string;
  admin_assisted: boolean;
  assisting_admin_name: string | null;
  takeovers: Array<{ admin_id: string; admin_name: string; start: string; end: string }>;
}

// Human takeover (CONTRACT §4) on one instance: REST and WS claims, routing while assisted, the lease.
describe('takeover (e2e)', () => {
  let server: RunningApp;
  // a model whose prompts are seen (the demo echoes the user's last turn only)
  let openai: OpenAiFake;

  beforeAll(async () => {
    openai = await startOpenAiFake({ chunkSize: 8 });
    server = await startApp({
      RATE_LIMIT_MESSAGES_PER_SECOND: '50',
      LLM_PROVIDERS: JSON.stringify([
        { id: 'demo', name: 'Demo', type: 'demo', delay_ms: 5 },
        { id: 'slow', name: 'Slow', type: 'demo', delay_ms: 150 },
        { id: 'late', name: 'Late', type: 'demo', delay_ms: 1_500 },
        gptModel(openai),
      ]),
    });
  });
  afterAll(async () => {
    await server?.close();
    await openai?.close();
  });

  const connect = async (token: string) => {
    const client = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    const status = await client.nextOfType('connection_status');
    return { client, sessionId: status.session_id as string, status };
  };
  const post = (path: string, token: string) =>
    fetch(`${server.httpUrl}${path}`, { method: 'POST', headers: authHeaders(token) });
  const adminItem = async (sessionId: string, userId: string) => {
    const list = await getJson<{ items: AdminItem[] }>(
      `${server.httpUrl}/chat/admin/sessions?user_id=${userId}`,
      adminToken(uniqueUser('reader')),
    );
    return list.items.find((item) => item.id === sessionId) as AdminItem;
  };

  // An instance that stored a user's message and died before it sent it on (or a store that ran an
  // append the instance had given up on): the resend is acked with the stored copy, and the copy goes
  // out again, so the assisting admin gets it now rather than once a later event shows the gap
  // (docs/protocol.md, "One record path").
  it('should bring the admin a resent user message whose first copy was stored and never sent', async () => {
    const userId = uniqueUser();
    const token = userToken(userId);
    const phone = await connect(token);
    const admin = await connect(adminToken(uniqueUser('admin'), 'Grace Hopper'));
    admin.client.send({ type: 'admin_join', session_id: phone.sessionId, client_id: 'join-lost' });
    await admin.client.next((frame) => frame.type === 'ack' && frame.client_id === 'join-lost');
    await phone.client.nextOfType('admin_join');

    const message = { type: 'user_message', client_id: 'lost', content: 'stored, never sent' } as const;
    await server.app.get(SessionsService).append(phone.sessionId, { ...message, sender: 'user' }, undefined, {
      owner: userId,
    });
    phone.client.send(message);
    const ack = await phone.client.next((frame) => frame.type === 'ack' && frame.client_id === 'lost');
    const atAdmin = await admin.client.next(
      (frame) => frame.type === 'user_message' && frame.client_id === 'lost',
      3_000,
    );
    expect(atAdmin).toMatchObject({ seq: ack.seq, id: ack.id, content: 'stored, never sent' });
    // once: a second resend changes nothing for a socket that has the seq
    phone.client.send(message);
    await phone.client.next((frame) => frame.type === 'ack' && frame.client_id === 'lost');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(admin.client.frames.filter((frame) => frame.client_id === 'lost')).toHaveLength(1);
    await Promise.all([phone.client.close(), admin.client.close()]);
  });

  it('should hand the session to the admin: user messages go to the admin, admin messages to every device', async () => {
    const userId = uniqueUser();
    const token = userToken(userId);
    const phone = await connect(token);
    const laptop = await connect(token);
    expect(laptop.sessionId).toBe(phone.sessionId);
    const admin = await connect(adminToken(uniqueUser('admin'), 'Grace Hopper'));

    admin.client.send({ type: 'admin_join', session_id: phone.sessionId, client_id: 'join-1' });
    const ack = await admin.client.next((frame) => frame.type === 'ack' && frame.client_id === 'join-1');
    expect(ack.metadata).toMatchObject({ admin_name: 'Grace Hopper', user_id: userId });
    for (const device of [phone, laptop]) {
      const joined = await device.client.nextOfType('admin_join');
      expect(joined).toMatchObject({ sender: 'admin', metadata: { admin_name: 'Grace Hopper' } });
    }

    phone.client.send({ type: 'user_message', client_id: 'u1', content: 'is anyone there?' });
    const userAck = await phone.client.nextOfType('ack');
    const atAdmin = await admin.client.nextOfType('user_message');
    expect(atAdmin).toMatchObject({ sender: 'user', content: 'is anyone there?', seq: userAck.seq });
    expect((await laptop.client.nextOfType('user_message')).content).toBe('is anyone there?');

    phone.client.send({ type: 'typing_indicator', metadata: { typing: true } });
    expect((await admin.client.nextOfType('typing_indicator')).metadata?.typing).toBe(true);
    admin.client.send({ type: 'typing_indicator', metadata: { typing: true } });
    expect(await phone.client.nextOfType('typing_indicator')).toMatchObject({ sender: 'admin' });

    admin.client.send({ type: 'user_message', client_id: 'a1', content: 'Hi, Grace here.' });
    const adminAck = await admin.client.next((frame) => frame.type === 'ack' && frame.client_id === 'a1');
    for (const device of [phone, laptop]) {
      const reply = await device.client.next((frame) => frame.client_id === 'a1');
      expect(reply).toMatchObject({ type: 'user_message', sender: 'admin', content: 'Hi, Grace here.' });
      expect(reply.seq).toBe(adminAck.seq);
    }

    // no LLM while assisted
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(
      phone.client.frames.filter((frame) => frame.type === 'ai_response' || frame.type === 'loading'),
    ).toEqual([]);

    const reconnect = await connect(token);
    expect(reconnect.status.metadata?.assisting_admin).toBe('Grace Hopper');

    admin.client.send({ type: 'admin_leave', session_id: phone.sessionId, client_id: 'leave-1' });
    await admin.client.next((frame) => frame.type === 'ack' && frame.client_id === 'leave-1');
    const left = await phone.client.nextOfType('admin_leave');
    expect(left.metadata).toMatchObject({ admin_name: 'Grace Hopper', reason: 'released' });

    // the LLM answers again
    phone.client.send({ type: 'user_message', client_id: 'u2', content: 'thanks' });
    expect((await phone.client.reply()).final.sender).toBe('ai');

    const item = await adminItem(phone.sessionId, userId);
    expect(item).toMatchObject({ admin_assisted: true, assisting_admin_name: 'Grace Hopper' });
    expect(item.takeovers).toHaveLength(1);
    expect(item.takeovers[0]).toMatchObject({ admin_name: 'Grace Hopper' });
    expect(Date.parse(item.takeovers[0].end)).toBeGreaterThanOrEqual(Date.parse(item.takeovers[0].start));
    const history = await getJson<SessionBody>(`${server.httpUrl}/chat/sessions/${phone.sessionId}`, token);
    expect(history.messages.map((message) => [message.type, message.sender])).toEqual([
      ['admin_join', 'admin'],
      ['user_message', 'user'],
      ['user_message', 'admin'],
      ['admin_leave', 'admin'],
      ['user_message', 'user'],
      ['ai_response', 'ai'],
    ]);
    for (const client of [phone, laptop, admin, reconnect]) await client.client.close();
  });

  // Found by the contract black-box audit in session 44 (every run): the assisting admin's
  // `file_upload` (CONTRACT §2 names no role; §4 "the admin's messages reach every device of the user
  // with sender: admin") was refused NOT_FOUND "Session not found." for the session it held, and the
  // user got nothing.
  it("should take the assisting admin's file into the session it holds, as sender admin, readable by the user", async () => {
    const token = userToken(uniqueUser());
    const phone = await connect(token);
    const adminTokenOf = adminToken(uniqueUser('admin'), 'Grace Hopper');
    const admin = await connect(adminTokenOf);
    admin.client.send({ type: 'admin_join', session_id: phone.sessionId, client_id: 'join' });
    await admin.client.next((frame) => frame.type === 'ack' && frame.client_id === 'join');
    const file = await upload(server.httpUrl, adminTokenOf, PNG, 'from-admin.png', 'image/png');
    expect(file.status).toBe(201);
    const sent = { type: 'file_upload', file_id: file.body.file_id, content: 'here it is', client_id: 'af' };
    admin.client.send(sent);
    const answer = await admin.client.next(
      (frame) => (frame.type === 'ack' || frame.type === 'error') && frame.client_id === 'af',
    );
    expect({ type: answer.type, error: answer.error }).toEqual({ type: 'ack', error: undefined });
    const atUser = await phone.client.next((frame) => frame.client_id === 'af', 3_000);
    expect(atUser).toMatchObject({
      type: 'file_upload',
      sender: 'admin',
      seq: answer.seq,
      file_id: file.body.file_id,
      content: 'here it is',
      metadata: { admin_name: 'Grace Hopper', file: { name: 'from-admin.png', mime_type: 'image/png' } },
    });
    // a resend is the one stored message
    admin.client.send(sent);
    const again = await admin.client.next((frame) => frame.type === 'ack' && frame.client_id === 'af');
    expect(again.id).toBe(answer.id);
    // the session's user and the admin read it; anyone else does not
    expect((await fileLink(server.httpUrl, token, file.body.file_id)).status).toBe(302);
    expect((await fileLink(server.httpUrl, adminTokenOf, file.body.file_id)).status).toBe(302);
    expect((await fileLink(server.httpUrl, userToken(uniqueUser()), file.body.file_id)).status).toBe(404);
    expect((await fileLink(server.httpUrl, adminToken(uniqueUser('admin')), file.body.file_id)).status).toBe(
      404,
    );
    // no model answers an admin's caption
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(
      phone.client.frames.filter((frame) => frame.type === 'ai_response' || frame.type === 'loading'),
    ).toEqual([]);
    const history = await getJson<SessionBody>(`${server.httpUrl}/chat/sessions/${phone.sessionId}`, token);
    expect(history.messages.map((message) => [message.type, message.sender])).toEqual([
      ['admin_join', 'admin'],
      ['file_upload', 'admin'],
    ]);
    // the user's export links it, signed for the user
    const exported = await getJson<{
      messages: Array<{ type: string; attachment?: { url: string; expires_at?: string } }>;
    }>(`${server.httpUrl}/chat/sessions/${phone.sessionId}/export?format=json`, token);
    expect(exported.messages.find((message) => message.type === 'file_upload')?.attachment).toMatchObject({
      name: 'from-admin.png',
      expires_at: expect.any(String) as unknown,
    });
    await Promise.all([phone.client.close(), admin.client.close()]);
  });

  // Found by the takeover black-box audit in session 44 (3 of 3 runs): once the takeover ended, the
  // model answered from the session's history, whose files it read as the user's: the admin's text
  // file, which the user reads, was put to it as "[The user attached the document …; it is no longer
  // available.]" (docs/protocol.md, "Takeover handoff").
  it("should give the model the text of the admin's file the user can read, as the admin's, not call it gone", async () => {
    const token = userToken(uniqueUser());
    const phone = await connect(token);
    const answer = (client: TestClient, clientId: string): Promise<Frame> =>
      client.next(
        (frame) => (frame.type === 'ack' || frame.type === 'error') && frame.client_id === clientId,
      );
    phone.client.send({ type: 'model_select', model_id: 'gpt', client_id: 'm' });
    expect((await answer(phone.client, 'm')).type).toBe('ack');
    const adminTokenOf = adminToken(uniqueUser('admin'), 'Ada');
    const admin = await connect(adminTokenOf);
    admin.client.send({ type: 'admin_join', session_id: phone.sessionId, client_id: 'j' });
    expect((await answer(admin.client, 'j')).type).toBe('ack');
    const text = Buffer.from('Your reset code is PINEAPPLE-42.\n');
    const file = await upload(server.httpUrl, adminTokenOf, text, 'reset.txt', 'text/plain');
    expect(file.status).toBe(201);
    admin.client.send({
      type: 'file_upload',
      file_id: file.body.file_id,
      content: 'see this',
      client_id: 'f',
    });
    expect((await answer(admin.client, 'f')).type).toBe('ack');
    admin.client.send({ type: 'admin_leave', session_id: phone.sessionId, client_id: 'l' });
    expect((await answer(admin.client, 'l')).type).toBe('ack');
    expect((await fileLink(server.httpUrl, token, file.body.file_id)).status).toBe(302);
    openai.reset();
    phone.client.send({ type: 'user_message', content: 'What code did the admin send me?', client_id: 'u' });
    await phone.client.next((frame) => frame.type === 'ai_response' && frame.metadata?.done === true, 10_000);
    const messages = (openai.requests.at(-1)?.body.messages ?? []) as Array<{
      role: string;
      content: unknown;
    }>;
    expect(JSON.stringify(messages)).not.toContain('no longer available');
    // the admin's turn, as the admin's text is put to the model: an assistant turn
    expect(messages.find((message) => JSON.stringify(message.content).includes('PINEAPPLE-42'))).toEqual({
      role: 'assistant',
      content:
        '[The admin Ada, a human colleague assisting this chat, sent the user the document "reset.txt" ' +
        '(text/plain, 33 bytes). Its text:]\nYour reset code is PINEAPPLE-42.\n\nsee this',
    });
    await Promise.all([phone.client.close(), admin.client.close()]);
  });

  // Every admin sends as `admin`: two admins taking one session in turn, each counting its client_ids
  // from 1, had the second one's message acked as the first one's and never stored or shown.
  it("should store and show a second admin's message whose client_id the first admin used", async () => {
    const token = userToken(uniqueUser());
    const phone = await connect(token);
    for (const [name, text] of [
      ['Ada', 'from Ada'],
      ['Grace', 'from Grace'],
    ]) {
      const admin = await connect(adminToken(uniqueUser('admin'), name));
      admin.client.send({ type: 'admin_join', session_id: phone.sessionId, client_id: 'join' });
      await admin.client.next((frame) => frame.type === 'ack' && frame.client_id === 'join');
      await phone.client.next((frame) => frame.type === 'admin_join' && frame.metadata?.admin_name === name);
      admin.client.send({ type: 'user_message', client_id: 'c1', content: text });
      await admin.client.next((frame) => frame.type === 'ack' && frame.client_id === 'c1');
      const shown = await phone.client.next((frame) => frame.client_id === 'c1' && frame.content === text);
      expect(shown).toMatchObject({ type: 'user_message', sender: 'admin' });
      admin.client.send({ type: 'admin_leave', session_id: phone.sessionId, client_id: 'leave' });
      await phone.client.next((frame) => frame.type === 'admin_leave' && frame.metadata?.admin_name === name);
      await admin.client.close();
    }
    const stored = await getJson<SessionBody>(`${server.httpUrl}/chat/sessions/${phone.sessionId}`, token);
    expect(
      stored.messages
        .filter((message) => message.sender === 'admin' && message.client_id === 'c1')
        .map((m) => m.content),
    ).toEqual(['from Ada', 'from Grace']);
    await phone.client.close();
  });

  it('should answer a second admin with SESSION_LOCKED naming the holder, and non-admins with 403', async () => {
    const user = await connect(userToken(uniqueUser()));
    const first = adminToken(uniqueUser('admin'), 'Ada');
    const second = adminToken(uniqueUser('admin'), 'Bob');
    const claimed = await post(`/chat/admin/sessions/${user.sessionId}/takeover`, first);
    expect(claimed.status).toBe(200);
    expect(await claimed.json()).toMatchObject({
      session_id: user.sessionId,
      admin_name: 'Ada',
      started: true,
    });
    expect((await user.client.nextOfType('admin_join')).metadata?.admin_name).toBe('Ada');

    const locked = await post(`/chat/admin/sessions/${user.sessionId}/takeover`, second);
    expect(locked.status).toBe(409);
    const body = (await locked.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('SESSION_LOCKED');
    expect(body.error.message).toContain('Ada');
    expect((await post(`/chat/admin/sessions/${user.sessionId}/release`, second)).status).toBe(409);

    const bob = await connect(second);
    bob.client.send({ type: 'admin_join', session_id: user.sessionId, client_id: 'j' });
    const error = await bob.client.nextOfType('error');
    expect(error.error).toMatchObject({ code: 'SESSION_LOCKED', recoverable: true });
    expect(error.error?.message).toContain('Ada');

    const plain = userToken(uniqueUser());
    expect((await post(`/chat/admin/sessions/${user.sessionId}/takeover`, plain)).status).toBe(403);
    const sneaky = await connect(plain);
    sneaky.client.send({ type: 'admin_join', session_id: user.sessionId });
    expect((await sneaky.client.nextOfType('error')).error?.code).toBe('FORBIDDEN');
    // a resume too, whatever it would say of the session (it was NOT_FOUND)
    sneaky.client.send({ type: 'admin_join', session_id: user.sessionId, metadata: { resume: true } });
    expect((await sneaky.client.nextOfType('error')).error?.code).toBe('FORBIDDEN');
    expect((await post(`/chat/admin/sessions/missing-session/takeover`, first)).status).toBe(404);

    expect((await post(`/chat/admin/sessions/${user.sessionId}/release`, first)).status).toBe(200);
    expect((await user.client.nextOfType('admin_leave')).metadata?.reason).toBe('released');
    expect((await post(`/chat/admin/sessions/${user.sessionId}/release`, first)).status).toBe(404);
    // free again: Bob may take it now
    expect((await post(`/chat/admin/sessions/${user.sessionId}/takeover`, second)).status).toBe(200);
    for (const client of [user, bob, sneaky]) await client.client.close();
  });

  // Found by the text-limits black-box audit (round 2) in session 42 (4 of 4 runs): the admin's name
  // (the JWT's `name`) was cut at 200 UTF-16 units inside an emoji, kept a lone surrogate and any
  // control or bidi control character. The user's live admin_join and the takeover's answer held
  // `\ud83d` or `Ada\ud800` where the stored copy (SESSION_LOCKED, connection_status, the session
  // list) read U+FFFD; a right-to-left override, an ANSI escape or a NUL reached the user and every
  // other admin (docs/protocol.md, "Tokens").
  describe("an admin's display name as others see it", () => {
    const LONE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
    // eslint-disable-next-line no-control-regex -- control characters are what is looked for
    const CONTROL_OR_BIDI = /[\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]/;

    // a user with a conversation, an admin named `name` who takes it over, and what everyone is shown
    async function takeoverSeenBy(name: string) {
      const userId = uniqueUser();
      const user = await connect(userToken(userId));
      user.client.send({ type: 'user_message', client_id: 'hi', content: 'hello, anyone there?' });
      await user.client.next((frame) => frame.type === 'ai_response' && frame.metadata?.done === true);
      const taken = await post(
        `/chat/admin/sessions/${user.sessionId}/takeover`,
        adminToken(uniqueUser('ada'), name),
      );
      const takeover = (await taken.json()) as { admin_name: string };
      const join = await user.client.nextOfType('admin_join');
      const refused = await post(
        `/chat/admin/sessions/${user.sessionId}/takeover`,
        adminToken(uniqueUser('bob'), 'Bob'),
      );
      const refusal = (await refused.json()) as { error: { message: string } };
      const list = await getJson<Array<{ id: string; assisting_admin_name: string | null }>>(
        `${server.httpUrl}/chat/sessions`,
        userToken(userId),
      );
      await user.client.close();
      const again = await TestClient.connect(
        `${server.wsUrl}?token=${userToken(userId)}&session_id=${user.sessionId}`,
      );
      const status = await again.nextOfType('connection_status');
      await again.close();
      return {
        status: taken.status,
        takeover: takeover.admin_name,
        live: String(join.metadata?.admin_name),
        refusal: refusal.error.message,
        listed: list.find((item) => item.id === user.sessionId)?.assisting_admin_name ?? null,
        onReconnect: String(status.metadata?.assisting_admin),
      };
    }

    it('should cut a long admin name at a whole character, the same live, in the answer and stored', async () => {
      const seen = await takeoverSeenBy(`${'a'.repeat(199)}😀 Support`);
      expect(seen).toEqual({
        status: 200,
        takeover: 'a'.repeat(199),
        live: 'a'.repeat(199),
        refusal: expect.stringContaining('a'.repeat(199)) as unknown,
        listed: 'a'.repeat(199),
        onReconnect: 'a'.repeat(199),
      });
      expect(seen.refusal).not.toMatch(/\uFFFD/);
    });

    it('should show one admin name live and after a reconnect when the name claim holds a lone surrogate', async () => {
      const seen = await takeoverSeenBy('Ada\uD800');
      expect([seen.live, LONE.test(seen.takeover)]).toEqual(['Ada', false]);
      expect([seen.onReconnect, seen.listed]).toEqual([seen.live, seen.live]);
    });

    it('should show no control or bidi control character of an admin name to the user or other admins', async () => {
      const names = ['Ada \u202Eevil.exe', 'Ada\u001b[2J', 'Ada\u0000Root', '\u202E\u0000'];
      const seen = await Promise.all(names.map(takeoverSeenBy));
      const shown = seen.map((one) =>
        [one.live, one.takeover, one.refusal, one.listed ?? '', one.onReconnect].some((text) =>
          CONTROL_OR_BIDI.test(text),
        ),
      );
      expect(shown).toEqual(names.map(() => false));
      expect(seen.map((one) => one.live)).toEqual([
        'Ada evil.exe',
        'Ada[2J',
        'AdaRoot',
        expect.stringMatching(/^ada-/) as unknown,
      ]);
    });
  });

  it('should refuse with SESSION_LOCKED, storing nothing, an admin message naming a session the admin does not hold', async () => {
    const userId = uniqueUser();
    const user = await connect(userToken(userId));
    const holder = await connect(adminToken(uniqueUser('admin'), 'Ada'));
    const other = await connect(adminToken(uniqueUser('admin'), 'Bob'));
    holder.client.send({ type: 'admin_join', session_id: user.sessionId, client_id: 'join' });
    await holder.client.next((frame) => frame.type === 'ack' && frame.client_id === 'join');

    // an admin with no lease, naming the user's session
    other.client.send({
      type: 'user_message',
      session_id: user.sessionId,
      client_id: 'x1',
      content: 'intruder',
    });
    expect((await other.client.nextOfType('error')).error).toMatchObject({
      code: 'SESSION_LOCKED',
      recoverable: true,
    });
    // the lease holder naming another session than the one it holds
    holder.client.send({
      type: 'user_message',
      session_id: other.sessionId,
      client_id: 'x2',
      content: 'wrong',
    });
    expect((await holder.client.nextOfType('error')).error?.code).toBe('SESSION_LOCKED');
    // after the release the former holder no longer speaks there
    holder.client.send({ type: 'admin_leave', session_id: user.sessionId, client_id: 'leave' });
    await holder.client.next((frame) => frame.type === 'ack' && frame.client_id === 'leave');
    holder.client.send({
      type: 'user_message',
      session_id: user.sessionId,
      client_id: 'x3',
      content: 'late',
    });
    expect((await holder.client.nextOfType('error')).error?.code).toBe('SESSION_LOCKED');
    // nor may it upload into, stop or type in a session it does not hold
    for (const type of ['file_upload', 'stop_generation', 'typing_indicator', 'help_request']) {
      other.client.send({ type, session_id: user.sessionId, file_id: 'f', content: 'late', metadata: {} });
      expect((await other.client.nextOfType('error')).error?.code).toBe('SESSION_LOCKED');
    }

    await new Promise((resolve) => setTimeout(resolve, 200));
    for (const [client, sessionId] of [
      [user, user.sessionId],
      [other, other.sessionId],
      [holder, holder.sessionId],
    ] as const) {
      const session = await getJson<SessionBody>(
        `${server.httpUrl}/chat/sessions/${sessionId}`,
        adminToken(uniqueUser('reader')),
      );
      const refused = ['intruder', 'wrong', 'late'];
      expect(session.messages.filter((message) => refused.includes(String(message.content)))).toEqual([]);
      expect(
        client.client.frames.some((frame) => frame.type === 'ack' && /^x\d$/.test(String(frame.client_id))),
      ).toBe(false);
    }
    for (const client of [user, holder, other]) await client.client.close();
  });

  // Found by the contract black-box audit in session 44 (1 of 1 each): CONTRACT §4 refuses an admin's
  // messages only to a session whose lease the admin does not hold, and the holder's were refused
  // SESSION_LOCKED ("You do not hold this session.") from any socket that had not sent admin_join: the
  // admin who claimed it over REST, and the holder whose socket came back within TAKEOVER_GRACE.
  describe('the lease holder naming its session on a socket that never joined it', () => {
    const answerTo = (client: TestClient, clientId: string) =>
      client.next(
        (frame) => (frame.type === 'ack' || frame.type === 'error') && frame.client_id === clientId,
        3_000,
      );

    it('should take the messages of the admin who claimed the session over HTTP, and bring it the user’s', async () => {
      const user = await connect(userToken(uniqueUser()));
      const token = adminToken(uniqueUser('admin'), 'Hopper');
      expect((await post(`/chat/admin/sessions/${user.sessionId}/takeover`, token)).status).toBe(200);
      const admin = await connect(token);
      admin.client.send({
        type: 'user_message',
        session_id: user.sessionId,
        content: 'Hi, Hopper here.',
        client_id: 'a1',
      });
      const answer = await answerTo(admin.client, 'a1');
      expect({ type: answer.type, error: answer.error }).toEqual({ type: 'ack', error: undefined });
      expect(await user.client.next((frame) => frame.client_id === 'a1', 3_000)).toMatchObject({
        sender: 'admin',
        content: 'Hi, Hopper here.',
      });
      // the socket is now the takeover's: the user's messages reach it, and the model stays out
      user.client.send({ type: 'user_message', content: 'thanks', client_id: 'u1' });
      expect(await admin.client.next((frame) => frame.client_id === 'u1', 3_000)).toMatchObject({
        type: 'user_message',
        session_id: user.sessionId,
        content: 'thanks',
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(user.client.frames.some((frame: Frame) => frame.type === 'ai_response')).toBe(false);
      await Promise.all([user.client.close(), admin.client.close()]);
    });

    it('should take the messages of the holder whose socket reconnected within TAKEOVER_GRACE', async () => {
      const userId = uniqueUser();
      const user = await connect(userToken(userId));
      const token = adminToken(uniqueUser('admin'), 'Hopper');
      let admin = await connect(token);
      admin.client.send({ type: 'admin_join', session_id: user.sessionId, client_id: 'join' });
      expect((await answerTo(admin.client, 'join')).type).toBe('ack');
      await admin.client.close();
      admin = await connect(token);
      // still the holder: the lease lasts TAKEOVER_GRACE (60 s) past the close
      expect(await adminItem(user.sessionId, userId)).toMatchObject({ assisting_admin_name: 'Hopper' });
      admin.client.send({
        type: 'user_message',
        session_id: user.sessionId,
        content: 'back again',
        client_id: 'a2',
      });
      const answer = await answerTo(admin.client, 'a2');
      expect({ type: answer.type, error: answer.error }).toEqual({ type: 'ack', error: undefined });
      expect(await user.client.next((frame) => frame.client_id === 'a2', 3_000)).toMatchObject({
        sender: 'admin',
      });
      // a message naming no session now goes there too: the socket is the takeover's
      admin.client.send({ type: 'user_message', content: 'and again', client_id: 'a3' });
      expect((await answerTo(admin.client, 'a3')).type).toBe('ack');
      expect(await user.client.next((frame) => frame.client_id === 'a3', 3_000)).toMatchObject({
        sender: 'admin',
      });
      await Promise.all([user.client.close(), admin.client.close()]);
    });
  });

  // Found by the contract black-box audit in session 44 (1 of 1): CONTRACT §2 has every server frame
  // of a session carry seq, and an error naming a session other than the socket's own (a second
  // admin's join refused SESSION_LOCKED) carried none.
  it('should carry seq on an error frame that names a session (SESSION_LOCKED to a second admin)', async () => {
    const user = await connect(userToken(uniqueUser()));
    user.client.send({ type: 'user_message', content: 'hello', client_id: 'u1' });
    await user.client.reply();
    const holder = await connect(adminToken(uniqueUser('admin'), 'Grace'));
    holder.client.send({ type: 'admin_join', session_id: user.sessionId, client_id: 'join' });
    const joined = await holder.client.next((frame) => frame.type === 'ack' && frame.client_id === 'join');
    const other = await connect(adminToken(uniqueUser('admin'), 'Other'));
    other.client.send({ type: 'admin_join', session_id: user.sessionId, client_id: 'join-2' });
    const refused = await other.client.next(
      (frame) => frame.type === 'error' && frame.client_id === 'join-2',
    );
    expect(refused).toMatchObject({ session_id: user.sessionId, error: { code: 'SESSION_LOCKED' } });
    // where the user's session stands: its admin_join is the last stored event
    expect(refused.seq).toBe(joined.seq);
    await Promise.all([user.client.close(), holder.client.close(), other.client.close()]);
  });

  // Found by the review of session 44's changes (3 of 3 runs, admin_join and admin_leave alike): the
  // seq above was stamped on a plain user's refusal too, so anyone naming another user's session in
  // an admin_join learned whether it existed and how many events it held, and could watch it grow.
  // A user's refusal names the user's own session (docs/protocol.md, "Frames").
  it("should show a plain user nothing of another user's session in the refusal of admin_join or admin_leave", async () => {
    const victim = await connect(userToken(uniqueUser()));
    victim.client.send({ type: 'user_message', content: 'a secret', client_id: 'v1' });
    await victim.client.reply();
    const attacker = await connect(userToken(uniqueUser()));
    const shown: unknown[] = [];
    for (const type of ['admin_join', 'admin_leave'])
      for (const [name, sessionId] of [
        ['victim', victim.sessionId],
        ['nobody', '0123456789abcdef01234567'],
      ]) {
        attacker.client.send({ type, session_id: sessionId, client_id: `${type}-${name}` });
        const refused = await attacker.client.next(
          (frame) => frame.type === 'error' && frame.client_id === `${type}-${name}`,
        );
        shown.push({ code: refused.error?.code, session: refused.session_id, seq: refused.seq });
      }
    expect(shown).toEqual(
      Array.from({ length: 4 }, () => ({ code: 'FORBIDDEN', session: attacker.sessionId, seq: 0 })),
    );
    await Promise.all([victim.client.close(), attacker.client.close()]);
  });

  it('should let exactly one of 20 admins win when they claim one session at once over REST', async () => {
    const user = await connect(userToken(uniqueUser()));
    const admins = Array.from({ length: 20 }, (_, index) =>
      adminToken(uniqueUser('racer'), `Racer ${index}`),
    );
    const statuses = await Promise.all(
      admins.map((token) =>
        post(`/chat/admin/sessions/${user.sessionId}/takeover`, token).then((r) => r.status),
      ),
    );
    expect(statuses.filter((status) => status === 200)).toHaveLength(1);
    expect(statuses.filter((status) => status === 409)).toHaveLength(19);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(user.client.frames.filter((frame) => frame.type === 'admin_join')).toHaveLength(1);
    await user.client.close();
  });

  it('should let exactly one of 20 admins win when they send admin_join at once over WebSocket', async () => {
    const user = await connect(userToken(uniqueUser()));
    const admins = await Promise.all(
      Array.from({ length: 20 }, (_, index) => connect(adminToken(uniqueUser('ws-racer'), `WS ${index}`))),
    );
    admins.forEach((admin, index) =>
      admin.client.send({ type: 'admin_join', session_id: user.sessionId, client_id: `race-${index}` }),
    );
    const outcomes = await Promise.all(
      admins.map((admin) =>
        admin.client.next((frame) => frame.type === 'error' || (frame.type === 'ack' && !!frame.client_id)),
      ),
    );
    expect(outcomes.filter((frame) => frame.type === 'ack')).toHaveLength(1);
    const errors = outcomes.filter((frame) => frame.type === 'error');
    expect(errors).toHaveLength(19);
    for (const error of errors) expect(error.error?.code).toBe('SESSION_LOCKED');
    for (const client of [user, ...admins]) await client.client.close();
  });

  it('should stop a reply that is streaming when an admin takes over', async () => {
    const { client, sessionId } = await connect(userToken(uniqueUser()));
    client.send({ type: 'model_select', model_id: 'slow', client_id: 'm' });
    await client.nextOfType('model_select');
    client.send({ type: 'user_message', client_id: 'long', content: 'tell me a long story please' });
    await client.next((frame) => frame.type === 'ai_response' && frame.metadata?.done === false);
    expect(
      (await post(`/chat/admin/sessions/${sessionId}/takeover`, adminToken(uniqueUser('a')))).status,
    ).toBe(200);
    const final = await client.next((frame) => frame.type === 'ai_response' && frame.metadata?.done === true);
    expect(final.metadata?.stopped).toBe(true);
    // what it showed is stored before the admin_join, on the device and in the log
    const shown = client.frames
      .filter(
        (frame) => frame.type === 'admin_join' || (frame.type === 'ai_response' && frame.metadata?.done),
      )
      .map((frame) => frame.type);
    expect(shown).toEqual(['ai_response', 'admin_join']);
    const session = await getJson<SessionBody>(
      `${server.httpUrl}/chat/sessions/${sessionId}`,
      adminToken(uniqueUser('reader')),
    );
    const logged = session.messages
      .filter((message) => message.type === 'admin_join' || message.type === 'ai_response')
      .map((message) => message.type);
    expect(logged).toEqual(['ai_response', 'admin_join']);
    await client.close();
  });

  // The takeover's start stopped the reply as a user's stop does, which stores an empty reply flagged
  // stopped to close the turn: logged after the admin_join (the chaos test's takeovers: 4 of 564), and
  // the turn, closed by it, was never answered once the admin left without a word.
  it('should store nothing of a reply a takeover stopped before its first piece, and answer the turn after the takeover', async () => {
    const { client, sessionId } = await connect(userToken(uniqueUser()));
    client.send({ type: 'model_select', model_id: 'late', client_id: 'm' });
    await client.nextOfType('model_select');
    client.send({ type: 'user_message', client_id: 'unheard', content: 'is anyone there?' });
    await client.next((frame) => frame.type === 'ack' && frame.client_id === 'unheard');
    const admin = adminToken(uniqueUser('quiet'), 'Quiet Admin');
    expect((await post(`/chat/admin/sessions/${sessionId}/takeover`, admin)).status).toBe(200);
    await client.nextOfType('admin_join');
    expect((await post(`/chat/admin/sessions/${sessionId}/release`, admin)).status).toBe(200);
    await client.nextOfType('admin_leave');
    // the model answers the turn nobody answered
    const piece = await client.next(
      (frame) =>
        frame.type === 'ai_response' && frame.client_id === 'unheard' && frame.metadata?.done === false,
      10_000,
    );
    expect(piece.content).not.toBe('');
    const session = await getJson<SessionBody>(
      `${server.httpUrl}/chat/sessions/${sessionId}`,
      adminToken(uniqueUser('reader')),
    );
    expect(session.messages.map((message) => message.type)).toEqual([
      'user_message',
      'admin_join',
      'admin_leave',
    ]);
    await client.close();
  });

  it('should end the takeover TAKEOVER_GRACE after the admin lost every connection, and then use the LLM again', async () => {
    // a short grace on its own server, so slow claims in the other tests never see a lapse
    const main = server;
    server = await startApp({ TAKEOVER_GRACE: '1s' });
    try {
      await lapses();
    } finally {
      await server.close();
      server = main;
    }
  });

  it('should have the AI answer what the user asked while the admin was away, once the takeover ends', async () => {
    const main = server;
    server = await startApp({ TAKEOVER_GRACE: '1s' });
    try {
      for (const ending of ['lapsed', 'released'] as const) {
        const user = await connect(userToken(uniqueUser()));
        const adminToken1 = adminToken(uniqueUser('admin'), 'Away Admin');
        // claimed over HTTP: no admin socket renews the lease
        expect((await post(`/chat/admin/sessions/${user.sessionId}/takeover`, adminToken1)).status).toBe(200);
        await user.client.nextOfType('admin_join');
        user.client.send({ type: 'user_message', client_id: `asked-${ending}`, content: 'anyone there?' });
        await user.client.next((frame) => frame.type === 'ack' && frame.client_id === `asked-${ending}`);
        if (ending === 'released')
          expect((await post(`/chat/admin/sessions/${user.sessionId}/release`, adminToken1)).status).toBe(
            200,
          );
        expect((await user.client.nextOfType('admin_leave', 5000)).metadata?.reason).toBe(ending);
        const { final } = await user.client.reply();
        expect(final).toMatchObject({ sender: 'ai', client_id: `asked-${ending}` });
        expect(final.content).toContain('anyone there?');
        await user.client.close();
      }
      // nothing pending: the end of a takeover alone makes no reply
      const quiet = await connect(userToken(uniqueUser()));
      const token = adminToken(uniqueUser('admin'));
      await post(`/chat/admin/sessions/${quiet.sessionId}/takeover`, token);
      await quiet.client.nextOfType('admin_join');
      await post(`/chat/admin/sessions/${quiet.sessionId}/release`, token);
      await quiet.client.nextOfType('admin_leave');
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(quiet.client.frames.some((frame: Frame) => frame.type === 'ai_response')).toBe(false);
      await quiet.client.close();
    } finally {
      await server.close();
      server = main;
    }
  });

  async function lapses(): Promise<void> {
    const userId = uniqueUser();
    const user = await connect(userToken(userId));
    const admin = await connect(adminToken(uniqueUser('admin'), 'Lapsing Admin'));
    admin.client.send({ type: 'admin_join', session_id: user.sessionId, client_id: 'j' });
    await admin.client.next((frame) => frame.type === 'ack' && frame.client_id === 'j');
    await user.client.nextOfType('admin_join');
    // renewals keep the lease while the admin is connected, well past the grace
    await new Promise((resolve) => setTimeout(resolve, 1600));
    expect(user.client.frames.some((frame: Frame) => frame.type === 'admin_leave')).toBe(false);

    const closedAt = Date.now();
    await admin.client.close();
    const left = await user.client.nextOfType('admin_leave', 5000);
    const waited = Date.now() - closedAt;
    expect(left.metadata).toMatchObject({ reason: 'lapsed', admin_name: 'Lapsing Admin' });
    expect(waited).toBeGreaterThanOrEqual(900);
    expect(waited).toBeLessThan(3000);
    user.client.send({ type: 'user_message', client_id: 'after', content: 'hello again' });
    expect((await user.client.reply()).final.sender).toBe('ai');
    const item = await adminItem(user.sessionId, userId);
    expect(item.takeovers).toHaveLength(1);
    await user.client.close();
  }
});
