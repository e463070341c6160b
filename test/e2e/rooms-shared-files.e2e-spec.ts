import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { RoomMessagesRepository } from '../../src/modules/rooms/room-messages.repository';
import { RoomRetentionService } from '../../src/modules/rooms/room-retention.service';
import { authHeaders, startApp, type RunningApp } from '../helpers/app';
import { adminToken, uniqueUser, userToken } from '../helpers/tokens';
import { TestClient } from '../helpers/ws-client';
import { PNG } from './uploads.fixtures';
import { fileLink, filesUnder, upload } from './uploads.helpers';
import { api, createRoom, join, roomsSocket, type RoomFrame } from './rooms.helpers';

const DAY_MS = 86_400_000;

// A file sent in a room and somewhere else too (an AI session, another room), then taken off the room
// (its message deleted by its sender or a moderator, or removed by ROOM_RETENTION): the room's members
// lose it, the other scope keeps it (docs/protocol.md, "Rooms, direct messages, moderation"). Until the
// privacy audit fix the room's attachment record stayed and its members downloaded it for good (audit
// repro-shared-file-after-delete.js, retention.js: 302 where 404 was due).
describe('a file shared in a room and elsewhere, taken off the room (e2e)', () => {
  jest.setTimeout(60_000);
  let server: RunningApp;
  let dir: string;
  const open: TestClient[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(joinPath(tmpdir(), 'rooms-shared-files-'));
    server = await startApp({ UPLOAD_DIR: dir, ROOM_RATE_LIMIT_MESSAGES_PER_SECOND: '1000' });
  });
  afterAll(async () => {
    await Promise.all(open.map((client) => client.close()));
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  afterEach(() => jest.restoreAllMocks());

  const person = (name: string) => {
    const id = uniqueUser(name);
    return { id, token: userToken(id) };
  };
  const linkStatus = async (token: string, fileId: string) =>
    (await fileLink(server.httpUrl, token, fileId)).status;
  const uploaded = async (token: string, name = 'scan.png') =>
    (await upload(server.httpUrl, token, PNG, name, 'image/png')).body.file_id;
  const stored = (fileId: string) => filesUnder(dir).some((path) => path.includes(fileId));

  // the AI chat: a file_upload in the user's session, which an admin then assists
  const inSession = async (token: string, fileId: string) => {
    const client = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    open.push(client);
    const sessionId = (await client.nextOfType('connection_status')).session_id as string;
    client.send({ type: 'file_upload', client_id: 'f', file_id: fileId });
    expect((await client.next((frame) => frame.client_id === 'f')).type).toBe('ack');
    const admin = adminToken(uniqueUser('admin'));
    const takeover = await fetch(`${server.httpUrl}/chat/admin/sessions/${sessionId}/takeover`, {
      method: 'POST',
      headers: authHeaders(admin),
    });
    expect(takeover.status).toBeLessThan(300);
    return { sessionId, admin };
  };
  // a private room of `owner` with `members` in it, and the owner's room socket joined to it
  const room = async (owner: { token: string }, ...members: Array<{ id: string; token: string }>) => {
    const roomId = await createRoom(
      server,
      owner.token,
      'private',
      members.map((member) => member.id),
    );
    for (const member of members)
      expect((await api(server, member.token, 'POST', `/rooms/${roomId}/join`)).status).toBe(200);
    const socket = await roomsSocket(server, owner.token);
    open.push(socket);
    await join(socket, roomId);
    return { roomId, socket };
  };
  let sent = 0;
  const share = async (target: { roomId: string; socket: TestClient }, fileId: string) => {
    const clientId = `share-${++sent}`;
    target.socket.send({ type: 'chat', room_id: target.roomId, file_id: fileId, client_id: clientId });
    const ack = (await target.socket.next((frame) => frame.client_id === clientId)) as RoomFrame;
    expect(ack.type).toBe('ack');
    return ack.message_id as string;
  };
  const remove = async (token: string, roomId: string, messageId: string) =>
    expect((await api(server, token, 'DELETE', `/rooms/${roomId}/messages/${messageId}`)).status).toBe(200);

  it("should take a file sent in the AI chat and then a room off the room's members when its message is deleted", async () => {
    const alice = person('alice');
    const bob = person('bob');
    const fileId = await uploaded(alice.token);
    const { admin } = await inSession(alice.token, fileId);
    const shared = await room(alice, bob);
    const messageId = await share(shared, fileId);
    expect(await linkStatus(bob.token, fileId)).toBe(302);

    await remove(alice.token, shared.roomId, messageId);
    expect(await linkStatus(bob.token, fileId)).toBe(404);
    // the session still shows it: its owner and its assisting admin keep it
    expect(await linkStatus(alice.token, fileId)).toBe(302);
    expect(await linkStatus(admin, fileId)).toBe(302);
    expect(stored(fileId)).toBe(true);
  });

  it('should take a file off the room its message left, first or second, and keep it for the other room', async () => {
    const alice = person('alice');
    const bob = person('bob');
    const carol = person('carol');
    const first = await room(alice, bob);
    const second = await room(alice, carol);

    // sent in room 1, then room 2; deleted in room 2 (audit case B)
    const later = await uploaded(alice.token);
    await share(first, later);
    await remove(alice.token, second.roomId, await share(second, later));
    expect(await linkStatus(carol.token, later)).toBe(404);
    expect(await linkStatus(bob.token, later)).toBe(302);

    // deleted in room 1, where it was first sent: room 2 keeps it, room 1 does not
    const earlier = await uploaded(alice.token);
    const inFirst = await share(first, earlier);
    await share(second, earlier);
    await remove(alice.token, first.roomId, inFirst);
    expect(await linkStatus(bob.token, earlier)).toBe(404);
    expect(await linkStatus(carol.token, earlier)).toBe(302);
  });

  it("should take a member's file off the room when a moderator deletes the message", async () => {
    const owner = person('owner');
    const bob = person('bob');
    const carol = person('carol');
    const shared = await room(owner, bob, carol);
    const fileId = await uploaded(bob.token);
    await inSession(bob.token, fileId);
    const bobSocket = await roomsSocket(server, bob.token);
    open.push(bobSocket);
    await join(bobSocket, shared.roomId);
    const messageId = await share({ roomId: shared.roomId, socket: bobSocket }, fileId);
    expect(await linkStatus(carol.token, fileId)).toBe(302);

    await remove(owner.token, shared.roomId, messageId);
    expect(await linkStatus(carol.token, fileId)).toBe(404);
    expect(await linkStatus(owner.token, fileId)).toBe(404);
    expect(await linkStatus(bob.token, fileId)).toBe(302);
  });

  // A delete judging whether the room still shows the file while the same file is sent there again:
  // the send's message is stored under the file's lock, so the delete sees it (or the send comes after)
  it('should keep the file readable in the room when a delete races a send of it there', async () => {
    const alice = person('alice');
    const carol = person('carol');
    const shared = await room(alice, carol);
    const elsewhere = await uploaded(alice.token, 'elsewhere.png');
    await inSession(alice.token, elsewhere);
    const only = await uploaded(alice.token, 'only.png');
    const messages = server.app.get(RoomMessagesRepository);
    const append = messages.append.bind(messages);
    for (const fileId of [elsewhere, only]) {
      const firstMessage = await share(shared, fileId);
      let appending!: () => void;
      const attached = new Promise<void>((resolve) => (appending = resolve));
      // the second send has attached the file; its message is stored 1.5 s later
      jest.spyOn(messages, 'append').mockImplementationOnce(async (...args) => {
        appending();
        await new Promise((resolve) => setTimeout(resolve, 1500));
        return append(...args);
      });
      const again = share(shared, fileId);
      await attached;
      await remove(alice.token, shared.roomId, firstMessage);
      const secondMessage = await again;
      expect(await linkStatus(carol.token, fileId)).toBe(302);
      expect(stored(fileId)).toBe(true);
      await remove(alice.token, shared.roomId, secondMessage);
      expect(await linkStatus(carol.token, fileId)).toBe(404);
    }
    expect(stored(elsewhere)).toBe(true);
    expect(stored(only)).toBe(false);
  });

  // protocol.md, "Session library": a deleted session is gone for its user; admins read it, and no
  // admin opens its files any more (the assisting one included)
  it("should keep a deleted session's files from its assisting admin, and leave the room's to the room", async () => {
    const alice = person('alice');
    const bob = person('bob');
    const fileId = await uploaded(alice.token);
    const { sessionId, admin } = await inSession(alice.token, fileId);
    const shared = await room(alice, bob);
    await share(shared, fileId);
    expect(await linkStatus(admin, fileId)).toBe(302);
    const deleted = await fetch(`${server.httpUrl}/chat/sessions/${sessionId}`, {
      method: 'DELETE',
      headers: authHeaders(alice.token),
    });
    expect(deleted.status).toBe(204);
    expect(await linkStatus(admin, fileId)).toBe(404);
    expect(await linkStatus(bob.token, fileId)).toBe(302);
    expect(await linkStatus(alice.token, fileId)).toBe(302);
  });

  // last: the sweep, run 91 days on, removes every room message of this suite's store
  it('should take the files of expired room messages off the room, and delete those no other scope shows', async () => {
    const alice = person('alice');
    const bob = person('bob');
    const carol = person('carol');
    const first = await room(alice, bob);
    const second = await room(alice, carol);
    const alsoAi = await uploaded(alice.token, 'also-ai.png');
    const { admin } = await inSession(alice.token, alsoAi);
    await share(first, alsoAi);
    const twoRooms = await uploaded(alice.token, 'two-rooms.png');
    await share(first, twoRooms);
    await share(second, twoRooms);
    expect(await linkStatus(bob.token, alsoAi)).toBe(302);
    expect(await linkStatus(carol.token, twoRooms)).toBe(302);

    await server.app.get(RoomRetentionService).sweep(Date.now() + 91 * DAY_MS);
    expect(await linkStatus(bob.token, alsoAi)).toBe(404);
    expect(await linkStatus(alice.token, alsoAi)).toBe(302);
    expect(await linkStatus(admin, alsoAi)).toBe(302);
    // shown in two rooms and nowhere else: gone with the last of them, bytes included
    for (const token of [bob.token, carol.token, alice.token])
      expect(await linkStatus(token, twoRooms)).toBe(404);
    expect(stored(twoRooms)).toBe(false);
    expect(stored(alsoAi)).toBe(true);
  });
});
