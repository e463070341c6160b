import type { RunningApp } from '../helpers/app';
import { uniqueUser, userToken } from '../helpers/tokens';
import type { TestClient } from '../helpers/ws-client';
import { api, createRoom, join, say, TwoInstances, withTwoInstances, type RoomFrame } from './rooms.helpers';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// What a blocked, muted or departed user may no longer do, and a read mark that runs ahead of the
// room, as a client sees it on two instances (black-box audit of the rooms: findings 1 to 4).
describe('rooms: refusals (e2e, two instances)', () => {
  jest.setTimeout(60_000);
  let cluster: TwoInstances;
  let first: RunningApp;
  let second: RunningApp;

  // a budget of messages a second above what the reactions' bound takes to reach (no rate test here)
  withTwoInstances(
    (started) => {
      cluster = started;
      ({ first, second } = started);
    },
    { ROOM_RATE_LIMIT_MESSAGES_PER_SECOND: '100' },
  );

  const person = () => cluster.person();
  const socket = (app: RunningApp, token: string) => cluster.socket(app, token);
  // a frame sent with a client_id, and its answer (ack or error)
  let sent = 0;
  const answer = async (client: TestClient, frame: Record<string, unknown>): Promise<RoomFrame> => {
    const clientId = `q-${++sent}`;
    client.send({ ...frame, client_id: clientId });
    return (await client.next(
      (candidate) =>
        candidate.client_id === clientId && (candidate.type === 'ack' || candidate.type === 'error'),
    )) as RoomFrame;
  };
  // a room of two on two instances, the owner's message posted, and the member's reaction to it
  // (added, or taken back with `remove`) as the server answers it
  const reactionRoom = async (text: string, clientId: string) => {
    const owner = person();
    const member = person();
    const roomId = await createRoom(first, owner.token);
    const o = await socket(first, owner.token);
    const m = await socket(second, member.token);
    await join(o, roomId);
    await join(m, roomId);
    const posted = await say(o, roomId, text, clientId);
    const react = (content: string, remove = false) =>
      answer(m, {
        type: 'react',
        room_id: roomId,
        message_id: posted.message_id,
        content,
        ...(remove ? { metadata: { remove: true } } : {}),
      });
    return { owner, member, roomId, o, m, posted, react };
  };
  const dmsOf = async (app: RunningApp, token: string) =>
    (await api<Array<{ id: string; kind: string }>>(app, token, 'GET', '/rooms')).body.filter(
      (room) => room.kind === 'dm',
    );

  it('should open no direct message with a user who blocked the opener, by chat @user or POST /dms', async () => {
    const alice = person();
    const bob = person();
    const b = await socket(second, bob.token);
    const a = await socket(first, alice.token);
    expect((await api(second, bob.token, 'POST', '/blocks', { user_id: alice.id })).status).toBe(200);
    const refused = await answer(a, { type: 'chat', room_id: `@${bob.id}`, content: 'hi' });
    expect(refused.error?.code).toBe('BLOCKED');
    const joined = await answer(a, { type: 'join', room_id: `@${bob.id}` });
    expect(joined.error?.code).toBe('BLOCKED');
    const opened = await api<{ error: { code: string } }>(first, alice.token, 'POST', '/dms', {
      user_id: bob.id,
    });
    expect({ status: opened.status, code: opened.body.error?.code }).toEqual({
      status: 403,
      code: 'BLOCKED',
    });
    await pause(400);
    expect(b.frames.filter((frame) => frame.type === 'rooms_changed')).toEqual([]);
    expect(await dmsOf(second, bob.token)).toEqual([]);
    expect(await dmsOf(first, alice.token)).toEqual([]);
    // the one who blocked may still open it
    expect((await api(second, bob.token, 'POST', '/dms', { user_id: alice.id })).status).toBe(201);
  });

  it("should refuse a blocked user's edits and reactions in a direct message, and send the other side nothing", async () => {
    const alice = person();
    const bob = person();
    const a = await socket(first, alice.token);
    const b = await socket(second, bob.token);
    const hello = await say(a, `@${bob.id}`, 'hello', 'dm-1');
    const dm = hello.room_id as string;
    await join(a, dm);
    await join(b, dm);
    const reply = await say(b, dm, 'go away', 'dm-2');
    expect((await api(second, bob.token, 'POST', '/blocks', { user_id: alice.id })).status).toBe(200);
    const heard = b.frames.length;
    const edit = { type: 'edit', room_id: dm, message_id: hello.message_id, content: 'new words' };
    expect((await answer(a, edit)).error).toMatchObject({ code: 'BLOCKED', recoverable: true });
    const react = { type: 'react', room_id: dm, message_id: reply.message_id, content: '👍' };
    expect((await answer(a, react)).error).toMatchObject({ code: 'BLOCKED', recoverable: true });
    // nor does the blocked user's typing reach the other side
    const typing = { type: 'typing', room_id: dm, metadata: { typing: true } };
    expect((await answer(a, typing)).error).toMatchObject({ code: 'BLOCKED', recoverable: true });
    await pause(400);
    expect(b.frames.slice(heard).filter((frame) => (frame as RoomFrame).user_id === alice.id)).toEqual([]);
    const history = await api<{ items: RoomFrame[] }>(second, bob.token, 'GET', `/rooms/${dm}/messages`);
    expect(history.body.items.map((item) => [item.content, item.metadata?.reactions])).toEqual([
      ['hello', undefined],
      ['go away', undefined],
    ]);
    // unblocked, both go through again
    expect((await api(second, bob.token, 'DELETE', `/blocks/${alice.id}`)).status).toBe(200);
    expect((await answer(a, edit)).type).toBe('ack');
    expect((await answer(a, react)).type).toBe('ack');
    a.send(typing);
    expect(((await b.next((frame) => frame.type === 'typing')) as RoomFrame).user_id).toBe(alice.id);
  });

  // Found by the DMs black-box audit in session 41 (10 of 10 rounds, 8-12 messages a round). A message
  // of the blocked user checked before the block, then queued behind the room's other appends, was
  // stored after the block's 200 and reached the blocker live (up to 344 ms after it): the check
  // before the insert read the membership and the mute again, not the block (docs/protocol.md, "Rooms,
  // direct messages, moderation").
  it("should store and send the blocker no message of the blocked user's after the block's answer", async () => {
    const perSocket = 8;
    const late: unknown[] = [];
    for (let round = 0; round < 3; round++) {
      const alice = person();
      const bob = person();
      const roomId = (await api<{ id: string }>(first, bob.token, 'POST', '/dms', { user_id: alice.id })).body
        .id;
      const b = await socket(second, bob.token);
      await join(b, roomId);
      const senders = await Promise.all(
        Array.from({ length: 16 }, (_, index) => socket(index % 2 === 0 ? first : second, alice.token)),
      );
      // bob blocks the instant alice's first message reaches him
      let answeredAt = Number.POSITIVE_INFINITY;
      const blocked = b
        .next((frame) => frame.type === 'chat' && (frame as RoomFrame).user_id === alice.id, 10_000)
        .then(async () => {
          const response = await api(second, bob.token, 'POST', '/blocks', { user_id: alice.id });
          answeredAt = Date.now();
          expect(response.status).toBe(200);
        });
      senders.forEach((client, s) => {
        for (let index = 0; index < perSocket; index++)
          client.send({
            type: 'chat',
            room_id: roomId,
            content: `m ${s}-${index}`,
            client_id: `c-${s}-${index}`,
          });
      });
      await blocked;
      const answers = await Promise.all(
        senders.flatMap((client, s) =>
          Array.from({ length: perSocket }, (_, index) =>
            client.next(
              (frame) =>
                frame.client_id === `c-${s}-${index}` && (frame.type === 'ack' || frame.type === 'error'),
              20_000,
            ),
          ),
        ),
      );
      await pause(300);
      const after = (frame: { timestamp?: unknown }) => Date.parse(String(frame.timestamp)) > answeredAt;
      const stored = answers.filter((frame) => frame.type === 'ack' && after(frame)).length;
      const heard = (b.frames as RoomFrame[]).filter(
        (frame) => frame.type === 'chat' && frame.user_id === alice.id && after(frame),
      ).length;
      if (stored > 0 || heard > 0) late.push({ round, stored, heard });
      for (const client of senders) client.socket.terminate();
      b.socket.terminate();
    }
    expect(late).toEqual([]);
  });

  it('should take only one emoji as a reaction, and refuse a muted member MUTED with retry_after', async () => {
    const { owner, member, roomId, o, m, react } = await reactionRoom('hello', 'p-1');
    for (const text of ['aaaaaaaa', 'visit spam.example now', '👍👍', ' 👍', '👍 ok', '1', '🇺'])
      expect({ text, code: (await react(text)).error?.code }).toEqual({ text, code: 'INVALID_MESSAGE' });
    for (const emoji of ['👍', '❤️', '👨‍👩‍👧‍👦', '🇺🇸', '1️⃣', '👍🏽', '🏴󠁧󠁢󠁳󠁣󠁴󠁿'])
      expect({ emoji, type: (await react(emoji)).type }).toEqual({ emoji, type: 'ack' });
    expect(
      (await api(first, owner.token, 'POST', `/rooms/${roomId}/moderation/mute`, { user_id: member.id }))
        .status,
    ).toBe(200);
    const heard = o.frames.length;
    const muted = await react('🎉');
    expect(muted.error).toMatchObject({ code: 'MUTED', recoverable: true });
    expect(muted.error?.retry_after).toBeGreaterThan(3_500_000);
    // taking one's own reaction back stays open, as deleting one's own message does
    expect((await react('👍', true)).type).toBe('ack');
    await pause(300);
    expect(
      o.frames
        .slice(heard)
        .filter((frame) => frame.type === 'react')
        .map((frame) => [frame.content, frame.metadata?.removed]),
    ).toEqual([['👍', true]]);
    // nor is a muted member shown typing to the room
    const typing = await answer(m, { type: 'typing', room_id: roomId, metadata: { typing: true } });
    expect(typing.error).toMatchObject({ code: 'MUTED', recoverable: true });
    await pause(300);
    expect(o.frames.slice(heard).filter((frame) => frame.type === 'typing')).toEqual([]);
  });

  it('should hold one user to 20 reactions on a message, the same emoji again and a taken-back one aside', async () => {
    const { owner, roomId, posted, react } = await reactionRoom('react to me', 'cap-1');
    const emoji = [...'😀😁😂🤣😃😄😅😆😉😊😋😎😍😘🥰😗😙🥲😚🙂🤗🤩'];
    for (const one of emoji.slice(0, 20))
      expect({ one, type: (await react(one)).type }).toEqual({ one, type: 'ack' });
    const refused = await react(emoji[20]);
    expect(refused.error).toMatchObject({ code: 'INVALID_MESSAGE', recoverable: true });
    expect(refused.error?.message).toContain('20');
    // the same emoji again is no new one; a taken-back one frees a place
    expect((await react(emoji[0])).type).toBe('ack');
    expect((await react(emoji[1], true)).type).toBe('ack');
    expect((await react(emoji[20])).type).toBe('ack');
    // tag letters beyond the three subdivision flags spell invisible text: refused
    const tags = (letters: string) =>
      String.fromCodePoint(...[...letters].map((letter) => 0xe0000 + letter.charCodeAt(0)));
    expect((await react(`\u{1F3F4}${tags('hello')}\u{E007F}`)).error?.code).toBe('INVALID_MESSAGE');
    const history = await api<{ items: RoomFrame[] }>(first, owner.token, 'GET', `/rooms/${roomId}/messages`);
    const reactions = history.body.items.find((item) => item.message_id === posted.message_id)?.metadata
      ?.reactions as Record<string, string[]>;
    expect(Object.keys(reactions).sort()).toEqual([...emoji.slice(0, 1), ...emoji.slice(2, 21)].sort());
  });

  it("should show a private room's details to its members and admins only, never to one who left or was kicked", async () => {
    const owner = person();
    const kicked = person();
    const left = person();
    const never = person();
    const roomId = await createRoom(first, owner.token, 'private', [kicked.id, left.id]);
    const read = (app: RunningApp, token: string) =>
      api<{ name?: string; error?: { code: string } }>(app, token, 'GET', `/rooms/${roomId}`);
    // an invitation shows the room (as the list does)
    expect((await read(second, kicked.token)).status).toBe(200);
    expect((await api(second, kicked.token, 'POST', `/rooms/${roomId}/join`)).status).toBe(200);
    expect((await api(second, left.token, 'POST', `/rooms/${roomId}/join`)).status).toBe(200);
    expect((await read(second, kicked.token)).status).toBe(200);
    expect(
      (await api(first, owner.token, 'POST', `/rooms/${roomId}/moderation/kick`, { user_id: kicked.id }))
        .status,
    ).toBe(200);
    expect((await api(second, left.token, 'POST', `/rooms/${roomId}/leave`)).status).toBe(200);
    await api(first, owner.token, 'PATCH', `/rooms/${roomId}`, { name: 'Layoffs', topic: 'who goes' });
    for (const [who, token] of [
      ['kicked', kicked.token],
      ['left', left.token],
      ['never', never.token],
    ]) {
      const got = await read(second, token);
      expect({ who, status: got.status, body: got.body }).toEqual({
        who,
        status: 404,
        body: { error: expect.objectContaining({ code: 'NOT_FOUND' }) },
      });
    }
    expect((await read(first, owner.token)).body.name).toBe('Layoffs');
    const admin = userToken(uniqueUser('admin'), { roles: ['chat_admin'] });
    expect((await read(second, admin)).body.name).toBe('Layoffs');
  });

  it("should hold a read mark at the room's newest message, in the mark, the receipt and the unread count", async () => {
    const alice = person();
    const bob = person();
    const a = await socket(first, alice.token);
    const b = await socket(second, bob.token);
    const first1 = await say(a, `@${bob.id}`, 'dm 1', 'r-1');
    const dm = first1.room_id as string;
    await join(a, dm);
    await join(b, dm);
    expect((await answer(b, { type: 'read', room_id: dm, seq: 999_999 })).type).toBe('ack');
    const receipt = await a.next((frame) => frame.type === 'read' && (frame as RoomFrame).user_id === bob.id);
    expect(receipt.seq).toBe(first1.seq);
    for (let index = 0; index < 3; index++) await say(a, dm, `after the read ${index}`, `r-after-${index}`);
    const listed = await api<Array<{ id: string; unread_count: number }>>(second, bob.token, 'GET', '/rooms');
    expect(listed.body.find((room) => room.id === dm)?.unread_count).toBe(3);
    const again = await socket(first, bob.token);
    expect((await join(again, dm)).metadata?.read_seq).toBe(first1.seq);
    // a mark within the room moves as before
    expect((await answer(b, { type: 'read', room_id: dm, seq: 3 })).type).toBe('ack');
    expect((await a.next((frame) => frame.type === 'read' && frame.seq === 3)).seq).toBe(3);
  });

  it('should send no read receipt for a read behind the mark, nor across a block either way', async () => {
    const alice = person();
    const bob = person();
    const a = await socket(first, alice.token);
    const b = await socket(second, bob.token);
    const hello = await say(a, `@${bob.id}`, 'one', 'rb-1');
    const dm = hello.room_id as string;
    await join(a, dm);
    await join(b, dm);
    await say(a, dm, 'two', 'rb-2');
    await say(a, dm, 'three', 'rb-3');
    const receipts = () =>
      a.frames.filter((frame) => frame.type === 'read' && (frame as RoomFrame).user_id === bob.id);
    expect((await answer(b, { type: 'read', room_id: dm, seq: 3 })).type).toBe('ack');
    await a.next((frame) => frame.type === 'read' && frame.seq === 3);
    // an older device reads up to 1: acked, the mark stays at 3, alice is told nothing lower
    expect((await answer(b, { type: 'read', room_id: dm, seq: 1 })).type).toBe('ack');
    await pause(400);
    expect(receipts().map((frame) => frame.seq)).toEqual([3]);
    const again = await socket(first, bob.token);
    expect((await join(again, dm)).metadata?.read_seq).toBe(3);
    // bob blocks alice: alice's reads reach bob no more, nor bob's reads alice; bob's own other
    // device still hears bob's read (its mark moves: the second rooms audit found it did not)
    expect((await api(second, bob.token, 'POST', '/blocks', { user_id: alice.id })).status).toBe(200);
    const bobHeard = b.frames.length;
    expect((await answer(a, { type: 'read', room_id: dm, seq: 3 })).type).toBe('ack');
    await say(b, dm, 'four', 'rb-4');
    expect((await answer(b, { type: 'read', room_id: dm, seq: 4 })).type).toBe('ack');
    expect(
      (await again.next((frame) => frame.type === 'read' && (frame as RoomFrame).user_id === bob.id)).seq,
    ).toBe(4);
    await pause(400);
    expect(
      b.frames
        .slice(bobHeard)
        .filter((frame) => frame.type === 'read' && (frame as RoomFrame).user_id !== bob.id),
    ).toEqual([]);
    expect(receipts().map((frame) => frame.seq)).toEqual([3]);
  });

  it("should leave a blocked user's messages out of the unread counts, in the list and the room's own", async () => {
    const owner = person();
    const reader = person();
    const pest = person();
    const roomId = await createRoom(first, owner.token);
    const o = await socket(first, owner.token);
    const r = await socket(second, reader.token);
    const p = await socket(first, pest.token);
    for (const client of [o, r, p]) await join(client, roomId);
    expect((await api(second, reader.token, 'POST', '/blocks', { user_id: pest.id })).status).toBe(200);
    await say(o, roomId, 'from the owner', 'ub-1');
    for (let index = 0; index < 3; index++) await say(p, roomId, `noise ${index}`, `ub-p-${index}`);
    await say(o, roomId, 'from the owner again', 'ub-2');
    type Listed = { id: string; unread_count: number; unread_more?: boolean };
    const counted = async () => ({
      listed: (await api<Listed[]>(first, reader.token, 'GET', '/rooms')).body.find(
        (room) => room.id === roomId,
      )?.unread_count,
      own: (await api<Listed>(second, reader.token, 'GET', `/rooms/${roomId}`)).body.unread_count,
    });
    expect(await counted()).toEqual({ listed: 2, own: 2 });
    // the owner, who blocked no one, counts all five
    const ownerListed = await api<Listed[]>(second, owner.token, 'GET', '/rooms');
    expect(ownerListed.body.find((room) => room.id === roomId)?.unread_count).toBe(3);
    // unblocked, the pest's messages count again
    expect((await api(second, reader.token, 'DELETE', `/blocks/${pest.id}`)).status).toBe(200);
    expect(await counted()).toEqual({ listed: 5, own: 5 });
  });

  // A kick is not a ban, and a pair has one room: opening it again (POST /dms, chat or join to
  // @user) brings the kicked user back; a banned one is refused BANNED until unbanned (the second
  // rooms audit: a kick, or a ban lifted, shut the user out of the pair's conversation for good)
  it('should let a user kicked from a direct message, or unbanned, open it again, and keep a banned one out', async () => {
    const alice = person();
    const bob = person();
    const admin = userToken(uniqueUser('admin'), { roles: ['chat_admin'] });
    const b = await socket(second, bob.token);
    const hello = await say(b, `@${alice.id}`, 'hello', 'dk-1');
    const dm = hello.room_id as string;
    const moderate = (action: string) =>
      api(first, admin, 'POST', `/rooms/${dm}/moderation/${action}`, { user_id: alice.id });
    const reopen = () => api<{ id: string }>(first, alice.token, 'POST', '/dms', { user_id: bob.id });
    const listed = async () => (await dmsOf(first, alice.token)).map((room) => room.id);
    expect((await moderate('kick')).status).toBe(200);
    expect(await listed()).toEqual([]);
    expect((await reopen()).body.id).toBe(dm);
    expect(await listed()).toEqual([dm]);
    const a = await socket(first, alice.token);
    await join(a, dm);
    await say(b, dm, 'welcome back', 'dk-2');
    expect((await a.next((frame) => frame.type === 'chat' && frame.client_id === 'dk-2')).content).toBe(
      'welcome back',
    );
    // banned: refused, over REST and on the socket, until unbanned
    expect((await moderate('ban')).status).toBe(200);
    const refused = await reopen();
    expect(refused.status).toBe(403);
    expect(JSON.stringify(refused.body)).toContain('BANNED');
    expect((await answer(a, { type: 'chat', room_id: `@${bob.id}`, content: 'let me in' })).error?.code).toBe(
      'BANNED',
    );
    expect((await moderate('unban')).status).toBe(200);
    expect((await answer(a, { type: 'chat', room_id: `@${bob.id}`, content: 'back' })).type).toBe('ack');
    expect(await listed()).toEqual([dm]);
  });
});
