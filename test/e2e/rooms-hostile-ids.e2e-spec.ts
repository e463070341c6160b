import { getConnectionToken } from '@nestjs/mongoose';
import type { Connection } from 'mongoose';
import type { RunningApp } from '../helpers/app';
import { userToken } from '../helpers/tokens';
import { dmRoomId, plainDmRoomId } from '../../src/modules/rooms/room-rules';
import type { TestClient } from '../helpers/ws-client';
import { api, createRoom, join, say, TwoInstances, withTwoInstances, type RoomFrame } from './rooms.helpers';

const PROTOTYPE_NAMES = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf'];

// Strings a client controls, or a store holds from before a rule, used as keys (black-box audit of
// the rooms, second pass: findings 1 to 4): reactions named like Object.prototype's members stored
// before reactions had to be emoji, user ids holding the separator of composed keys (a JWT `sub` may
// hold any character), a direct message to nobody, names that show nothing.
describe('rooms: hostile ids and stored names (e2e, two instances)', () => {
  jest.setTimeout(60_000);
  let cluster: TwoInstances;
  let first: RunningApp;
  let second: RunningApp;

  withTwoInstances((started) => {
    cluster = started;
    ({ first, second } = started);
  });

  const person = (id = cluster.person().id) => ({ id, token: userToken(id) });
  const socket = (app: RunningApp, token: string) => cluster.socket(app, token);
  const store = () => first.app.get<Connection>(getConnectionToken());
  let sent = 0;
  const answer = async (client: TestClient, frame: Record<string, unknown>): Promise<RoomFrame> => {
    const clientId = `h-${++sent}`;
    client.send({ ...frame, client_id: clientId });
    return (await client.next(
      (candidate) =>
        candidate.client_id === clientId && (candidate.type === 'ack' || candidate.type === 'error'),
    )) as RoomFrame;
  };

  it("should read a room whose stored reactions are named like Object.prototype's members, polluting nothing", async () => {
    const owner = person();
    const reacters = PROTOTYPE_NAMES.map((name) => person(`${cluster.person().id}-${name}`));
    const roomId = await createRoom(first, owner.token);
    const o = await socket(first, owner.token);
    await join(o, roomId);
    const posted = await say(o, roomId, 'hello', 'k-1');
    const messageId = posted.message_id as string;
    // a reaction through the protocol, for a change-log entry naming the message
    expect(
      (await answer(o, { type: 'react', room_id: roomId, message_id: messageId, content: '👍' })).type,
    ).toBe('ack');
    // as written before reactions had to be one emoji (or by another version in a rolling deploy)
    const at = new Date();
    await store()
      .collection('chat_reactions')
      .insertMany(
        PROTOTYPE_NAMES.map((emoji, index) => ({
          _id: `${messageId}|${reacters[index].id}|${emoji}` as unknown as never,
          room_id: roomId,
          message_id: messageId,
          user_id: reacters[index].id,
          emoji,
          message_at: at,
          removed: false,
          at,
          client_ids: [],
          change: 100 + index,
        })),
      );
    const expected = Object.fromEntries([
      ['👍', [owner.id]],
      ...PROTOTYPE_NAMES.map((emoji, index) => [emoji, [reacters[index].id]]),
    ]);
    const prototypeBefore = Object.getOwnPropertyNames(Object.prototype).sort();
    try {
      for (const app of [first, second]) {
        const history = await api<{ items: RoomFrame[] }>(
          app,
          owner.token,
          'GET',
          `/rooms/${roomId}/messages`,
        );
        expect(history.status).toBe(200);
        const reactions = history.body.items.find((item) => item.message_id === messageId)?.metadata
          ?.reactions as Record<string, string[]>;
        // every name arrives as data (JSON.parse makes `__proto__` an own key)
        expect(Object.keys(reactions).sort()).toEqual(Object.keys(expected).sort());
        for (const [emoji, users] of Object.entries(expected)) expect(reactions[emoji]).toEqual(users);
        const changes = await api<{ items: RoomFrame[] }>(
          app,
          owner.token,
          'GET',
          `/rooms/${roomId}/messages?changed_after=0`,
        );
        expect(changes.status).toBe(200);
        const numbers = changes.body.items[0]?.metadata?.reaction_changes as Record<
          string,
          Record<string, number>
        >;
        PROTOTYPE_NAMES.forEach((emoji, index) =>
          expect(Object.entries(numbers[emoji])).toEqual([[reacters[index].id, 100 + index]]),
        );
        const reader = await socket(app, owner.token);
        await join(reader, roomId);
        const frame = (reader.frames as RoomFrame[]).find((each) => each.message_id === messageId);
        expect(Object.keys(frame?.metadata?.reactions as object).sort()).toEqual(
          Object.keys(expected).sort(),
        );
      }
      expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeBefore);
    } finally {
      // what a build without the fix did to this process, undone for the suites after it
      for (const reacter of reacters) delete (Object.prototype as Record<string, unknown>)[reacter.id];
    }
  });

  it('should store the messages of users "u" and "u|x" once each, whatever their client_ids', async () => {
    const owner = person();
    const base = cluster.person().id;
    const plain = person(base);
    const piped = person(`${base}|x`);
    const roomId = await createRoom(first, owner.token);
    const p = await socket(first, piped.token);
    const u = await socket(second, plain.token);
    await join(p, roomId);
    await join(u, roomId);
    // the two composed `room|u|x|1` before keys were escaped
    const one = await say(p, roomId, 'from u|x', '1');
    const two = await say(u, roomId, 'from u', 'x|1');
    expect([one.type, two.type]).toEqual(['ack', 'ack']);
    expect(two.message_id).not.toBe(one.message_id);
    // and a resend of either is still that message
    expect((await say(u, roomId, 'from u', 'x|1')).message_id).toBe(two.message_id);
    expect((await say(p, roomId, 'from u|x', '1')).message_id).toBe(one.message_id);
    const history = await api<{ items: RoomFrame[] }>(first, owner.token, 'GET', `/rooms/${roomId}/messages`);
    expect(
      history.body.items
        .filter((item) => item.metadata?.kind === 'text')
        .map((item) => [item.user_id, item.content]),
    ).toEqual([
      [piped.id, 'from u|x'],
      [plain.id, 'from u'],
    ]);
  });

  it('should not take a block by "a|b" of "c" for one by "a" of "b|c"', async () => {
    const a = person();
    const b = `${cluster.person().id}`;
    const ab = person(`${a.id}|${b}`);
    const bc = person(`${b}|c`);
    expect((await api(first, ab.token, 'POST', '/blocks', { user_id: 'c' })).status).toBe(200);
    // `a|b|c` both, before keys were escaped: "a" had blocked "b|c", who could not write to them
    const opened = await api<{ id: string }>(second, bc.token, 'POST', '/dms', { user_id: a.id });
    expect(opened.status).toBe(201);
    expect((await api<{ user_ids: string[] }>(first, a.token, 'GET', '/blocks')).body.user_ids).toEqual([]);
    expect((await api(first, a.token, 'DELETE', `/blocks/${encodeURIComponent(`${b}|c`)}`)).status).toBe(200);
    expect((await api<{ user_ids: string[] }>(first, ab.token, 'GET', '/blocks')).body.user_ids).toEqual([
      'c',
    ]);
  });

  it('should refuse a direct message to "@" (no user) over a socket, as POST /dms does', async () => {
    const alice = person();
    const a = await socket(first, alice.token);
    for (const type of ['chat', 'join']) {
      const refused = await answer(a, {
        type,
        room_id: '@',
        ...(type === 'chat' ? { content: 'to nobody' } : {}),
      });
      expect({ type, code: refused.error?.code }).toEqual({ type, code: 'INVALID_MESSAGE' });
    }
    expect((await api(first, alice.token, 'POST', '/dms', { user_id: '' })).status).toBe(400);
    expect((await api<unknown[]>(first, alice.token, 'GET', '/rooms')).body).not.toContainEqual(
      expect.objectContaining({ kind: 'dm' }),
    );
  });

  it('should refuse room names that show nothing, carry bidi controls or a lone surrogate', async () => {
    const owner = person();
    const roomId = await createRoom(first, owner.token);
    const refused = [
      '\u200B',
      '\u200B\u200C\u200D\u2060\uFEFF',
      ' \u200B ',
      '\u3164',
      'pay\u202Egnp.exe',
      'a\u2066b\u2069',
      'caf\uD800',
      '\uDC00x',
    ];
    for (const name of refused) {
      const created = await api<{ error?: { code: string; message: string } }>(
        first,
        owner.token,
        'POST',
        '/rooms',
        {
          name,
          kind: 'public',
        },
      );
      expect({ name, status: created.status, code: created.body.error?.code }).toEqual({
        name,
        status: 400,
        code: 'INVALID_MESSAGE',
      });
      const patched = await api(second, owner.token, 'PATCH', `/rooms/${roomId}`, { name });
      expect({ name, status: patched.status }).toEqual({ name, status: 400 });
    }
    const surrogate = await api<{ error: { message: string } }>(first, owner.token, 'POST', '/rooms', {
      name: 'caf\uD800',
      kind: 'public',
    });
    expect(surrogate.body.error.message).toMatch(/surrogate/);
    // a topic is stored as sent, so it is never half a character either
    expect((await api(first, owner.token, 'PATCH', `/rooms/${roomId}`, { topic: 'x\uDBFF' })).status).toBe(
      400,
    );
    // joiners inside a name (an emoji sequence, Persian) and right-to-left text stay fine
    for (const name of ['👨‍👩‍👧 family', 'می‌خواهم', 'שלום']) {
      const created = await api<{ name: string }>(first, owner.token, 'POST', '/rooms', {
        name,
        kind: 'public',
      });
      expect({ status: created.status, name: created.body.name }).toEqual({ status: 201, name });
    }
  });

  it('should still open a direct message stored under its id from before ids were escaped', async () => {
    const back = person(`${cluster.person().id}\\q`);
    const other = person(`zz-${cluster.person().id}`);
    const users = [back.id, other.id].sort();
    const id = plainDmRoomId(back.id, other.id);
    expect(dmRoomId(back.id, other.id)).not.toBe(id);
    const now = new Date();
    await store()
      .collection('chat_rooms')
      .insertOne({
        _id: id as unknown as never,
        kind: 'dm',
        name: users.join(', '),
        topic: null,
        owner_id: back.id,
        dm_users: users,
        created_at: now,
        last_seq: 0,
        last_message_at: null,
      });
    await store()
      .collection('chat_participants')
      .insertMany(
        users.map((user) => ({
          _id: `${id}|${user}` as unknown as never,
          room_id: id,
          user_id: user,
          role: 'member',
          state: 'member',
          muted_until: null,
          updated_at: now,
        })),
      );
    const opened = await api<{ id: string }>(first, other.token, 'POST', '/dms', { user_id: back.id });
    expect({ status: opened.status, id: opened.body.id }).toEqual({ status: 201, id });
    const b = await socket(second, back.token);
    expect((await say(b, `@${other.id}`, 'still here', 'old-dm-1')).room_id).toBe(id);
  });

  it('should open a direct message between users whose ids hold the separator, each pair its own', async () => {
    const base = cluster.person().id;
    const x = person(`${base}\u0000y`);
    const z = person('z');
    const xs = person(base);
    const yz = person(`y\u0000z`);
    // `${base}\0y\0z` both, before the pair's key was escaped
    const one = await api<{ id: string }>(first, x.token, 'POST', '/dms', { user_id: z.id });
    const two = await api<{ id: string }>(second, xs.token, 'POST', '/dms', { user_id: yz.id });
    expect([one.status, two.status]).toEqual([201, 201]);
    expect(two.body.id).not.toBe(one.body.id);
    const read = await api(first, xs.token, 'GET', `/rooms/${one.body.id}/messages`);
    expect(read.status).toBe(404);
  });
});
