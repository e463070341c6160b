import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { startApp, type RunningApp } from '../helpers/app';
import { uniqueUser, userToken } from '../helpers/tokens';
import type { TestClient } from '../helpers/ws-client';
import { fileLink, filesUnder, upload } from './uploads.helpers';
import { api, createRoom, join, roomsSocket, type RoomFrame } from './rooms.helpers';

interface ListedRoom {
  id: string;
  membership: string | null;
  role: string | null;
}

// Who keeps which rights in a room (docs/protocol.md, "Rooms, direct messages, moderation"): roles
// after a kick, ban or leave, a deleted message's file, invitations a user did not ask for, names.
describe('rooms authorization (e2e)', () => {
  jest.setTimeout(60_000);
  let server: RunningApp;
  let uploads: string;
  const open: TestClient[] = [];

  beforeAll(async () => {
    uploads = mkdtempSync(joinPath(tmpdir(), 'rooms-authz-'));
    // the REST write budget is another test's (rooms-edges): these loop on purpose
    server = await startApp({ UPLOAD_DIR: uploads, ROOM_RATE_LIMIT_MESSAGES_PER_SECOND: '1000' });
  });
  afterAll(async () => {
    for (const client of open) client.socket.terminate();
    await server?.close();
    rmSync(uploads, { recursive: true, force: true });
  });

  const person = (name: string) => {
    const id = uniqueUser(name);
    return { id, token: userToken(id) };
  };
  const post = (token: string, path: string, body: unknown = {}) => api(server, token, 'POST', path, body);
  const roleOf = async (token: string, roomId: string) =>
    (await api<ListedRoom>(server, token, 'GET', `/rooms/${roomId}`)).body.role;

  it('should make a kicked, banned or departed moderator a plain member when they come back', async () => {
    const alice = person('alice');
    const bob = person('bob');
    const carol = person('carol');
    const roomId = await createRoom(server, alice.token);
    for (const user of [bob, carol])
      expect((await post(user.token, `/rooms/${roomId}/join`)).status).toBe(200);
    const appoint = async () =>
      expect(
        (await post(alice.token, `/rooms/${roomId}/moderators`, { user_id: bob.id, moderator: true })).status,
      ).toBe(200);

    // kicked, then back: a member, who may not moderate
    await appoint();
    expect((await post(alice.token, `/rooms/${roomId}/moderation/kick`, { user_id: bob.id })).status).toBe(
      200,
    );
    expect((await post(bob.token, `/rooms/${roomId}/join`)).status).toBe(200);
    expect(await roleOf(bob.token, roomId)).toBe('member');
    expect((await post(bob.token, `/rooms/${roomId}/moderation/ban`, { user_id: carol.id })).status).toBe(
      403,
    );

    // banned, unbanned, back
    await appoint();
    expect((await post(alice.token, `/rooms/${roomId}/moderation/ban`, { user_id: bob.id })).status).toBe(
      200,
    );
    expect((await post(alice.token, `/rooms/${roomId}/moderation/unban`, { user_id: bob.id })).status).toBe(
      200,
    );
    expect((await post(bob.token, `/rooms/${roomId}/join`)).status).toBe(200);
    expect(await roleOf(bob.token, roomId)).toBe('member');
    expect((await post(bob.token, `/rooms/${roomId}/moderation/kick`, { user_id: carol.id })).status).toBe(
      403,
    );

    // left of their own accord, back: named again only by the owner
    await appoint();
    expect((await post(bob.token, `/rooms/${roomId}/leave`)).status).toBe(200);
    expect((await post(bob.token, `/rooms/${roomId}/join`)).status).toBe(200);
    expect(await roleOf(bob.token, roomId)).toBe('member');

    // the owner who leaves and comes back stays the owner; members cannot kick the owner
    expect((await post(bob.token, `/rooms/${roomId}/moderation/kick`, { user_id: alice.id })).status).toBe(
      403,
    );
    expect((await post(alice.token, `/rooms/${roomId}/leave`)).status).toBe(200);
    expect((await post(alice.token, `/rooms/${roomId}/join`)).status).toBe(200);
    expect(await roleOf(alice.token, roomId)).toBe('owner');
  });

  it("should take a deleted message's file away: no file details in history, no link for members", async () => {
    const alice = person('alice');
    const carol = person('carol');
    const roomId = await createRoom(server, alice.token);
    const a = await roomsSocket(server, alice.token);
    open.push(a);
    await join(a, roomId);
    expect((await post(carol.token, `/rooms/${roomId}/join`)).status).toBe(200);
    const share = async (name: string) => {
      const uploaded = await upload(
        server.httpUrl,
        alice.token,
        Buffer.from(`secret ${name}`),
        name,
        'text/plain',
      );
      expect(uploaded.status).toBe(201);
      a.send({ type: 'chat', room_id: roomId, file_id: uploaded.body.file_id, client_id: name });
      const ack = (await a.next((frame) => frame.client_id === name)) as RoomFrame;
      expect(ack.type).toBe('ack');
      return { fileId: uploaded.body.file_id, messageId: ack.message_id as string };
    };
    const gone = await share('payroll.txt');
    const kept = await share('agenda.txt');
    expect((await fileLink(server.httpUrl, carol.token, gone.fileId)).status).toBe(302);
    expect(filesUnder(uploads).some((path) => path.includes(gone.fileId))).toBe(true);

    expect(
      (await api(server, alice.token, 'DELETE', `/rooms/${roomId}/messages/${gone.messageId}`)).status,
    ).toBe(200);
    const history = await api<{ items: RoomFrame[] }>(
      server,
      carol.token,
      'GET',
      `/rooms/${roomId}/messages`,
    );
    const deleted = history.body.items.find((item) => item.message_id === gone.messageId);
    expect(deleted?.metadata).toMatchObject({ deleted: true });
    expect(deleted?.metadata?.file).toBeUndefined();
    expect(deleted?.file_id).toBeUndefined();
    // it is gone (bytes and record), as retention removes a file; the other message's file stays
    expect((await fileLink(server.httpUrl, carol.token, gone.fileId)).status).toBe(404);
    expect((await fileLink(server.httpUrl, alice.token, gone.fileId)).status).toBe(404);
    expect(filesUnder(uploads).some((path) => path.includes(gone.fileId))).toBe(false);
    expect((await fileLink(server.httpUrl, carol.token, kept.fileId)).status).toBe(302);

    // a file another message of the room still carries stays for that one
    a.send({ type: 'chat', room_id: roomId, file_id: kept.fileId, client_id: 'again' });
    const again = (await a.next((frame) => frame.client_id === 'again')) as RoomFrame;
    expect(again.type).toBe('ack');
    expect(
      (await api(server, alice.token, 'DELETE', `/rooms/${roomId}/messages/${kept.messageId}`)).status,
    ).toBe(200);
    expect((await fileLink(server.httpUrl, carol.token, kept.fileId)).status).toBe(302);
    expect(
      (await api(server, alice.token, 'DELETE', `/rooms/${roomId}/messages/${again.message_id}`)).status,
    ).toBe(200);
    expect((await fileLink(server.httpUrl, carol.token, kept.fileId)).status).toBe(404);
  });

  it('should let an invitee decline, skip invitations from a user they blocked, and cap open invitations', async () => {
    const victim = person('victim');
    const mallory = person('mallory');
    const friend = person('friend');

    // declining: leave removes the invitation
    const invited = await createRoom(server, friend.token, 'private', [victim.id]);
    const listed = async () => (await api<ListedRoom[]>(server, victim.token, 'GET', '/rooms')).body;
    expect((await listed()).find((room) => room.id === invited)?.membership).toBe('invited');
    expect((await post(victim.token, `/rooms/${invited}/leave`)).status).toBe(200);
    expect((await listed()).some((room) => room.id === invited)).toBe(false);
    expect((await post(victim.token, `/rooms/${invited}/join`)).status).toBe(403);

    // blocked: mallory's invitations never reach the victim, whichever way they come
    expect((await post(victim.token, '/blocks', { user_id: mallory.id })).status).toBe(200);
    const spam = await createRoom(server, mallory.token, 'private', [victim.id]);
    expect((await post(mallory.token, `/rooms/${spam}/invite`, { user_id: victim.id })).status).toBe(200);
    expect((await listed()).some((room) => room.id === spam)).toBe(false);
    expect((await post(victim.token, `/rooms/${spam}/join`)).status).toBe(404);

    // at most 50 open invitations: past them the invite is refused, and the list stays bounded
    const target = person('target');
    const rooms: string[] = [];
    for (let i = 0; i < 55; i++) rooms.push(await createRoom(server, friend.token, 'private', [target.id]));
    const own = (await api<ListedRoom[]>(server, target.token, 'GET', '/rooms')).body.filter(
      (room) => room.membership === 'invited',
    );
    expect(own).toHaveLength(50);
    const refused = await post(friend.token, `/rooms/${rooms[54]}/invite`, { user_id: target.id });
    expect(refused.status).toBe(403);
    // declining one makes room for another
    expect((await post(target.token, `/rooms/${rooms[0]}/leave`)).status).toBe(200);
    expect((await post(friend.token, `/rooms/${rooms[54]}/invite`, { user_id: target.id })).status).toBe(200);
    expect((await post(target.token, `/rooms/${rooms[54]}/join`)).status).toBe(200);
  });

  it('should refuse room names that are only spaces or hold control characters, as session names', async () => {
    const alice = person('alice');
    for (const name of ['   ', 'a\u0000b', 'line\nbreak', '\u007f'])
      expect((await post(alice.token, '/rooms', { name, kind: 'public' })).status).toBe(400);
    const roomId = await createRoom(server, alice.token);
    for (const name of ['   ', 'a\u0000b', '\t'])
      expect((await api(server, alice.token, 'PATCH', `/rooms/${roomId}`, { name })).status).toBe(400);
    const renamed = await api<{ name: string }>(server, alice.token, 'PATCH', `/rooms/${roomId}`, {
      name: 'Café ☕ — team',
    });
    expect(renamed.status).toBe(200);
    expect(renamed.body.name).toBe('Café ☕ — team');
  });

  // a change of nothing is a client's mistake, as for PATCH /chat/sessions/:id, not a 200 that did nothing
  it('should refuse a room PATCH that changes nothing with 400, and leave the room as it was', async () => {
    const alice = person('alice');
    const roomId = await createRoom(server, alice.token);
    for (const body of [{}, { unknown: 'field' }]) {
      const refused = await api<{ error: { code: string } }>(
        server,
        alice.token,
        'PATCH',
        `/rooms/${roomId}`,
        body,
      );
      expect(refused.status).toBe(400);
      expect(refused.body.error.code).toBe('INVALID_MESSAGE');
    }
    const topic = await api<{ topic: string }>(server, alice.token, 'PATCH', `/rooms/${roomId}`, {
      topic: '',
    });
    expect(topic.status).toBe(200);
  });
});
