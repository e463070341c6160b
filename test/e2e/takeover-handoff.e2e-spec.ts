import { ReplyService } from '../../src/modules/replies/reply.service';
import { SessionsService } from '../../src/modules/sessions/sessions.service';
import { TakeoverRepository } from '../../src/modules/takeover/takeover.repository';
import { getJson, startApp, type RunningApp, type SessionBody } from '../helpers/app';
import { adminToken, uniqueUser, userToken } from '../helpers/tokens';
import { TestClient } from '../helpers/ws-client';

// The handoff to a human has no gap: the admin's socket is bound to the session (and caught up from
// before its admin_join) before the user can see admin_join, so what the user sends the instant
// they see it reaches the admin live. Errors about another session name that session.
describe('takeover handoff (e2e)', () => {
  let server: RunningApp;

  beforeAll(async () => {
    server = await startApp({ RATE_LIMIT_MESSAGES_PER_SECOND: '50' });
  });
  afterAll(() => server.close());

  it('should deliver to the admin, live, a message the user sends the instant admin_join arrives', async () => {
    for (let round = 0; round < 5; round++) {
      const user = await TestClient.connect(`${server.wsUrl}?token=${userToken(uniqueUser())}`);
      const sessionId = (await user.nextOfType('connection_status')).session_id as string;
      const admin = await TestClient.connect(`${server.wsUrl}?token=${adminToken(uniqueUser('admin'))}`);
      await admin.nextOfType('connection_status');
      // a fast client: it answers admin_join from inside the frame handler
      const clientId = `right-after-${round}`;
      user.socket.on('message', (data) => {
        if (data.toString().includes('"type":"admin_join"'))
          user.send({ type: 'user_message', client_id: clientId, content: 'are you there?' });
      });
      admin.send({ type: 'admin_join', session_id: sessionId, client_id: 'join' });
      const seen = await admin.next(
        (frame) => frame.type === 'user_message' && frame.client_id === clientId,
        3000,
      );
      expect(seen).toMatchObject({ session_id: sessionId, sender: 'user', content: 'are you there?' });
      await Promise.all([user.close(), admin.close()]);
    }
  });

  // Found by the contract black-box audit in session 42 (45 of 45 rounds): a typing_indicator is never
  // stored, so one the user sends the instant admin_join arrives reaches the admin only if its socket
  // was bound before the user could see admin_join. A refused second admin is never bound: it sees
  // nothing of the session. Control: the user types once the admin has its ack (passed before too).
  it.each([
    ['the instant admin_join arrives', false],
    ["once the admin's join is acked (control)", true],
  ])(
    "should relay to the admin the user's typing sent %s, and nothing to a refused admin",
    async (_when, acked) => {
      for (let round = 0; round < 4; round++) {
        const user = await TestClient.connect(`${server.wsUrl}?token=${userToken(uniqueUser())}`);
        const sessionId = (await user.nextOfType('connection_status')).session_id as string;
        const grace = await TestClient.connect(
          `${server.wsUrl}?token=${adminToken(uniqueUser('adm'), 'Grace')}`,
        );
        const linus = await TestClient.connect(
          `${server.wsUrl}?token=${adminToken(uniqueUser('adm'), 'Linus')}`,
        );
        await Promise.all([grace.nextOfType('connection_status'), linus.nextOfType('connection_status')]);
        if (!acked)
          user.socket.on('message', (data) => {
            if (data.toString().includes('"type":"admin_join"'))
              user.send({ type: 'typing_indicator', metadata: { typing: true } });
          });
        grace.send({ type: 'admin_join', session_id: sessionId, client_id: 'j1' });
        await user.nextOfType('admin_join');
        // the admin's ack and the typing may come in either order: looked for among all its frames
        const has = (type: string) => grace.frames.some((f) => f.type === type && f.session_id === sessionId);
        const seen = async (type: string) => {
          for (let waited = 0; !has(type) && waited < 2_000; waited += 20)
            await new Promise((resolve) => setTimeout(resolve, 20));
          return has(type);
        };
        expect(await seen('ack')).toBe(true);
        linus.send({ type: 'admin_join', session_id: sessionId, client_id: 'j2' });
        expect(await linus.nextOfType('error')).toMatchObject({ error: { code: 'SESSION_LOCKED' } });
        if (acked) user.send({ type: 'typing_indicator', metadata: { typing: true } });
        expect(await seen('typing_indicator')).toBe(true);
        expect(
          linus.frames.filter((frame) => frame.session_id === sessionId && frame.type !== 'error'),
        ).toEqual([]);
        await Promise.all([user.close(), grace.close(), linus.close()]);
      }
    },
  );

  // The takeover's end, a step of it made slower: its read of what no admin answered (the user's new
  // message is stored, and its reply not yet, when it looks), or its claim's close (the user's reply
  // asked for before it): either way the user's message sent the instant admin_leave arrives is
  // answered once, by one reply shown once.
  it.each([
    ['the read of the open turn', SessionsService, 'getAny', 50],
    ["the claim's close", TakeoverRepository, 'close', 300],
  ] as const)(
    'should answer once what the user sends the instant admin_leave arrives, with %s slowed',
    async (_step, type, method, delayMs) => {
      const target = server.app.get<object>(type) as Record<string, (...args: unknown[]) => Promise<unknown>>;
      const original = target[method].bind(target);
      const slowed = jest.spyOn(target, method).mockImplementation(async (...args: unknown[]) => {
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        return original(...args);
      });
      try {
        const token = userToken(uniqueUser());
        const user = await TestClient.connect(`${server.wsUrl}?token=${token}`);
        const sessionId = (await user.nextOfType('connection_status')).session_id as string;
        const admin = await TestClient.connect(`${server.wsUrl}?token=${adminToken(uniqueUser('admin'))}`);
        await admin.nextOfType('connection_status');
        admin.send({ type: 'admin_join', session_id: sessionId, client_id: 'join' });
        await user.nextOfType('admin_join');
        // a turn the admin leaves unanswered
        user.send({ type: 'user_message', client_id: 'during', content: 'hello?' });
        await admin.next((frame) => frame.type === 'user_message' && frame.client_id === 'during');
        user.socket.on('message', (data) => {
          if (data.toString().includes('"type":"admin_leave"'))
            user.send({ type: 'user_message', client_id: 'after', content: 'anyone?' });
        });
        admin.send({ type: 'admin_leave', session_id: sessionId, client_id: 'leave' });
        await user.next(
          (frame) =>
            frame.type === 'ai_response' && frame.client_id === 'after' && frame.metadata?.done === true,
          10_000,
        );
        // everything that would follow has had time to
        await new Promise((resolve) => setTimeout(resolve, 2_000));
        const stored = await getJson<SessionBody>(`${server.httpUrl}/chat/sessions/${sessionId}`, token);
        const leave = stored.messages.findIndex((message) => message.type === 'admin_leave');
        const after = stored.messages.slice(leave + 1);
        expect(after.map((message) => `${message.type}:${message.client_id ?? ''}`)).toEqual([
          'user_message:after',
          'ai_response:after',
        ]);
        // one reply streamed: none cut off and asked again
        const replies = new Set(
          user.frames.filter((frame) => frame.type === 'ai_response').map((frame) => frame.id),
        );
        expect(replies.size).toBe(1);
        const loading = user.frames
          .filter((frame) => frame.type === 'loading')
          .map((frame) => frame.metadata?.loading);
        expect(loading).toEqual([true, false]);
        await Promise.all([user.close(), admin.close()]);
      } finally {
        slowed.mockRestore();
      }
    },
  );

  // Another instance hears the takeover's end over the bus a little after the user does (the user's
  // other device, or a message typed as admin_leave arrived): there the takeover still fences replies
  // when the user's new message is stored after admin_leave. The log the append returns says the
  // takeover is over, so the message is answered by its own reply, not cut off and answered by the
  // turn watch GRACE_MS (3 s) later. Here the end never reaches the replies module at all.
  it("should answer a message stored after admin_leave at once, on an instance that has not yet heard the takeover's end", async () => {
    const replies = server.app.get(ReplyService);
    const unheard = jest.spyOn(replies, 'takeoverClosed').mockImplementation(() => undefined);
    try {
      const token = userToken(uniqueUser());
      const user = await TestClient.connect(`${server.wsUrl}?token=${token}`);
      const sessionId = (await user.nextOfType('connection_status')).session_id as string;
      const admin = await TestClient.connect(`${server.wsUrl}?token=${adminToken(uniqueUser('admin'))}`);
      await admin.nextOfType('connection_status');
      admin.send({ type: 'admin_join', session_id: sessionId, client_id: 'join' });
      await user.nextOfType('admin_join');
      admin.send({ type: 'admin_leave', session_id: sessionId, client_id: 'leave' });
      await user.nextOfType('admin_leave');
      user.send({ type: 'user_message', client_id: 'after', content: 'still there?' });
      // well within GRACE_MS: the turn watch cannot have answered it yet
      const done = await user.next(
        (frame) =>
          frame.type === 'ai_response' && frame.client_id === 'after' && frame.metadata?.done === true,
        2_500,
      );
      expect(done.content).toEqual(expect.any(String));
      expect(unheard).toHaveBeenCalled();
      await Promise.all([user.close(), admin.close()]);
    } finally {
      unheard.mockRestore();
    }
  });

  // The same rule must not open the fence of a takeover whose admin_join is not logged yet: then the
  // log's last word of a takeover is an earlier one's admin_leave, and a message stored meanwhile is
  // the admin's to answer (the claim waits for the replies it cut off before it logs its join).
  it("should not answer a message stored while a second takeover's join is pending, after the first one's leave", async () => {
    const replies = server.app.get(ReplyService);
    const token = userToken(uniqueUser());
    const user = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    const sessionId = (await user.nextOfType('connection_status')).session_id as string;
    const admin = await TestClient.connect(`${server.wsUrl}?token=${adminToken(uniqueUser('admin'))}`);
    await admin.nextOfType('connection_status');
    admin.send({ type: 'admin_join', session_id: sessionId, client_id: 'join-1' });
    await user.nextOfType('admin_join');
    admin.send({ type: 'admin_leave', session_id: sessionId, client_id: 'leave-1' });
    await user.nextOfType('admin_leave');
    const settled = replies.settled.bind(replies);
    const waiting = jest.spyOn(replies, 'settled').mockImplementation(async (...args) => {
      await new Promise((resolve) => setTimeout(resolve, 800));
      return settled(...args);
    });
    try {
      const claimed = fetch(`${server.httpUrl}/chat/admin/sessions/${sessionId}/takeover`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminToken(uniqueUser('admin'))}` },
      });
      // the claim is made (its start told to the replies module) and its join is not logged yet
      await new Promise((resolve) => setTimeout(resolve, 300));
      user.send({ type: 'user_message', client_id: 'between', content: 'hello?' });
      await user.next((frame) => frame.type === 'ack' && frame.client_id === 'between');
      expect((await claimed).status).toBe(200);
      await user.nextOfType('admin_join');
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(user.frames.filter((frame) => frame.type === 'ai_response')).toEqual([]);
      const stored = await getJson<SessionBody>(`${server.httpUrl}/chat/sessions/${sessionId}`, token);
      expect(stored.messages.map((message) => message.type)).toEqual([
        'admin_join',
        'admin_leave',
        'user_message',
        'admin_join',
      ]);
      await Promise.all([user.close(), admin.close()]);
    } finally {
      waiting.mockRestore();
    }
  });

  // A parent app demotes an admin: the refreshed token has no admin role. The socket's admin powers
  // (its takeover among them) must not outlive the role, so the socket is closed to connect again.
  it("should close an admin's socket whose auth_refresh drops the admin role, on both sockets' paths", async () => {
    const user = await TestClient.connect(`${server.wsUrl}?token=${userToken(uniqueUser())}`);
    const sessionId = (await user.nextOfType('connection_status')).session_id as string;
    const adminId = uniqueUser('admin');
    const admin = await TestClient.connect(`${server.wsUrl}?token=${adminToken(adminId)}`);
    await admin.nextOfType('connection_status');
    admin.send({ type: 'admin_join', session_id: sessionId, client_id: 'join' });
    await admin.next((frame) => frame.type === 'ack' && frame.client_id === 'join');
    admin.send({ type: 'auth_refresh', content: userToken(adminId), client_id: 'demoted' });
    expect(await admin.nextOfType('error')).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    expect(await admin.closed).toBe(4401);
    // the rooms socket too
    const rooms = await TestClient.connect(
      `${server.httpUrl.replace('http', 'ws')}/ws/chat?token=${adminToken(adminId)}`,
    );
    await rooms.nextOfType('connection_status');
    rooms.send({ type: 'auth_refresh', content: userToken(adminId), client_id: 'demoted' });
    expect(await rooms.closed).toBe(4401);
    // a refresh that keeps the role is taken as before
    const again = await TestClient.connect(`${server.wsUrl}?token=${adminToken(adminId)}`);
    await again.nextOfType('connection_status');
    again.send({ type: 'auth_refresh', content: adminToken(adminId), client_id: 'same' });
    expect(await again.next((frame) => frame.client_id === 'same')).toMatchObject({ type: 'ack' });
    await Promise.all([user.close(), again.close()]);
  });

  // The takeover waits for the replies it cut off to be stored before it logs admin_join, but only so
  // long (Redis away, a frozen store): a reply whose store write came after the join was stored over
  // the admin (seen once in the chaos test: aiStoredWhileAssisted 1). The store itself refuses it now.
  it('should never store a reply of the model after admin_join, however late its write comes', async () => {
    const sessions = server.app.get(SessionsService);
    const replies = server.app.get(ReplyService);
    const append = sessions.append.bind(sessions);
    const slowed = jest.spyOn(sessions, 'append').mockImplementation(async (...args) => {
      if (args[1].type === 'ai_response') await new Promise((resolve) => setTimeout(resolve, 600));
      return append(...args);
    });
    // the takeover's wait for the replies ran out at once
    const settled = jest.spyOn(replies, 'settled').mockResolvedValue(undefined);
    try {
      const token = userToken(uniqueUser());
      const user = await TestClient.connect(`${server.wsUrl}?token=${token}`);
      const sessionId = (await user.nextOfType('connection_status')).session_id as string;
      user.send({ type: 'user_message', client_id: 'late', content: 'hello' });
      // the reply streamed whole, and is being stored
      await user.next((frame) => frame.type === 'loading' && frame.metadata?.loading === true);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const admin = adminToken(uniqueUser('admin'));
      const claimed = await fetch(`${server.httpUrl}/chat/admin/sessions/${sessionId}/takeover`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}` },
      });
      expect(claimed.status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const stored = await getJson<SessionBody>(`${server.httpUrl}/chat/sessions/${sessionId}`, token);
      const join = stored.messages.findIndex((message) => message.type === 'admin_join');
      expect(join).toBeGreaterThan(0);
      expect(stored.messages.slice(join).filter((message) => message.type === 'ai_response')).toEqual([]);
      await user.close();
    } finally {
      slowed.mockRestore();
      settled.mockRestore();
    }
  });

  it('should name the target session in an error about another session', async () => {
    const user = await TestClient.connect(`${server.wsUrl}?token=${userToken(uniqueUser())}`);
    const sessionId = (await user.nextOfType('connection_status')).session_id as string;
    const first = await TestClient.connect(
      `${server.wsUrl}?token=${adminToken(uniqueUser('admin'), 'First')}`,
    );
    const own = (await first.nextOfType('connection_status')).session_id;
    first.send({ type: 'admin_join', session_id: sessionId, client_id: 'join' });
    await first.next((frame) => frame.type === 'ack' && frame.client_id === 'join');
    const second = await TestClient.connect(
      `${server.wsUrl}?token=${adminToken(uniqueUser('admin'), 'Second')}`,
    );
    const secondOwn = (await second.nextOfType('connection_status')).session_id;
    second.send({ type: 'admin_join', session_id: sessionId, client_id: 'late' });
    const error = await second.nextOfType('error');
    expect(error).toMatchObject({
      client_id: 'late',
      session_id: sessionId,
      error: { code: 'SESSION_LOCKED' },
    });
    expect(error.session_id).not.toBe(secondOwn);
    expect(own).not.toBe(sessionId);
    await Promise.all([user.close(), first.close(), second.close()]);
  });
});
