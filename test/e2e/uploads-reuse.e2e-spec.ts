import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { authHeaders, startApp, type RunningApp } from '../helpers/app';
import { adminToken, uniqueUser, userToken } from '../helpers/tokens';
import { TestClient } from '../helpers/ws-client';
import { PNG } from './uploads.fixtures';
import { fileLink, upload } from './uploads.helpers';
import { api, createRoom, join, roomsSocket, type RoomFrame } from './rooms.helpers';

interface ExportBody {
  messages: { type: string; attachment?: { url: string } }[];
}

// One file sent in several sessions and rooms (CONTRACT §3, GET /chat/files/:id: "owner, assisting
// admin"): the admin assisting any session whose message shows the file may open it, and each such
// session's export links it. Only the first session counted before (docs/protocol.md, "Uploads and
// files").
describe('a file sent in more than one session or room (e2e)', () => {
  let server: RunningApp;
  let dir: string;
  const open: TestClient[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(joinPath(tmpdir(), 'uploads-reuse-'));
    server = await startApp({ UPLOAD_DIR: dir, ROOM_RATE_LIMIT_MESSAGES_PER_SECOND: '1000' });
  });
  afterAll(async () => {
    await Promise.all(open.map((client) => client.close()));
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const chat = async (token: string) => {
    const client = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    open.push(client);
    const status = await client.nextOfType('connection_status');
    return { client, sessionId: status.session_id as string };
  };
  const sendFile = async (client: TestClient, fileId: string, clientId: string) => {
    client.send({ type: 'file_upload', client_id: clientId, file_id: fileId, content: 'please look' });
    const answer = await client.next(
      (frame) => frame.client_id === clientId && (frame.type === 'ack' || frame.type === 'error'),
    );
    expect(answer.type).toBe('ack');
  };
  const newSession = async (client: TestClient, before: string) => {
    client.send({ type: 'new_session', client_id: `new-${before}` });
    const status = await client.next(
      (frame) => frame.type === 'connection_status' && frame.session_id !== before,
    );
    return status.session_id as string;
  };
  const takeOver = async (sessionId: string, token: string) => {
    const response = await fetch(`${server.httpUrl}/chat/admin/sessions/${sessionId}/takeover`, {
      method: 'POST',
      headers: authHeaders(token),
    });
    expect(response.status).toBeLessThan(300);
  };
  const exported = async (sessionId: string, token: string) => {
    const response = await fetch(`${server.httpUrl}/chat/sessions/${sessionId}/export?format=json`, {
      headers: authHeaders(token),
    });
    expect(response.status).toBe(200);
    return (await response.json()) as ExportBody;
  };
  const linkStatus = async (token: string, fileId: string) =>
    (await fileLink(server.httpUrl, token, fileId)).status;
  const shareInRoom = async (client: TestClient, roomId: string, fileId: string, clientId: string) => {
    client.send({ type: 'chat', room_id: roomId, file_id: fileId, client_id: clientId });
    const ack = (await client.next((frame) => frame.client_id === clientId)) as RoomFrame;
    expect(ack.type).toBe('ack');
    return ack.message_id as string;
  };

  it('should let the admin assisting a later session open a file first sent in an earlier one, and no other', async () => {
    const owner = userToken(uniqueUser());
    const shown = (await upload(server.httpUrl, owner, PNG, 'contract.png', 'image/png')).body.file_id;
    const earlierOnly = (await upload(server.httpUrl, owner, PNG, 'old.png', 'image/png')).body.file_id;
    const { client, sessionId: first } = await chat(owner);
    await sendFile(client, shown, 'a');
    await sendFile(client, earlierOnly, 'b');
    const second = await newSession(client, first);
    await sendFile(client, shown, 'c');

    const admin = uniqueUser('admin');
    await takeOver(second, adminToken(admin));
    expect(await linkStatus(adminToken(admin), shown)).toBe(302);
    // a file of the earlier session only is not shown in the one assisted
    expect(await linkStatus(adminToken(admin), earlierOnly)).toBe(404);
    expect(await linkStatus(adminToken(uniqueUser('admin')), shown)).toBe(404);
    expect(await linkStatus(userToken(uniqueUser()), shown)).toBe(404);

    // the owner's exports link the file in both sessions; the second's only the file it shows
    const later = (await exported(second, owner)).messages.filter(
      (message) => message.type === 'file_upload',
    );
    expect(later.map((message) => typeof message.attachment?.url)).toEqual(['string']);
    const earlier = (await exported(first, owner)).messages.filter(
      (message) => message.type === 'file_upload',
    );
    expect(earlier.every((message) => typeof message.attachment?.url === 'string')).toBe(true);
    expect(earlier).toHaveLength(2);
  });

  it('should let the assisting admin open a file first shared in a room, and the room keep it', async () => {
    const alice = uniqueUser('alice');
    const token = userToken(alice);
    const fileId = (await upload(server.httpUrl, token, PNG, 'plan.png', 'image/png')).body.file_id;
    const roomId = await createRoom(server, token);
    const rooms = await roomsSocket(server, token);
    open.push(rooms);
    await join(rooms, roomId);
    const messageId = await shareInRoom(rooms, roomId, fileId, 'r1');
    const { client, sessionId } = await chat(token);
    await sendFile(client, fileId, 's1');

    const admin = uniqueUser('admin');
    await takeOver(sessionId, adminToken(admin));
    expect(await linkStatus(adminToken(admin), fileId)).toBe(302);
    const session = (await exported(sessionId, token)).messages.find(
      (message) => message.type === 'file_upload',
    );
    expect(typeof session?.attachment?.url).toBe('string');
    // the room's message goes; the session still shows the file
    expect((await api(server, token, 'DELETE', `/rooms/${roomId}/messages/${messageId}`)).status).toBe(200);
    expect(await linkStatus(token, fileId)).toBe(302);
    expect(await linkStatus(adminToken(admin), fileId)).toBe(302);
  });

  it("should let a room's members open a file first sent in an AI session, and the session keep it", async () => {
    const alice = uniqueUser('alice');
    const token = userToken(alice);
    const carol = userToken(uniqueUser('carol'));
    const fileId = (await upload(server.httpUrl, token, PNG, 'photo.png', 'image/png')).body.file_id;
    const { client, sessionId } = await chat(token);
    await sendFile(client, fileId, 's1');
    const roomId = await createRoom(server, token);
    const rooms = await roomsSocket(server, token);
    open.push(rooms);
    await join(rooms, roomId);
    expect((await api(server, carol, 'POST', `/rooms/${roomId}/join`)).status).toBe(200);
    expect(await linkStatus(carol, fileId)).toBe(404);
    const messageId = await shareInRoom(rooms, roomId, fileId, 'r1');
    expect(await linkStatus(carol, fileId)).toBe(302);

    const admin = uniqueUser('admin');
    await takeOver(sessionId, adminToken(admin));
    expect(await linkStatus(adminToken(admin), fileId)).toBe(302);
    expect((await api(server, token, 'DELETE', `/rooms/${roomId}/messages/${messageId}`)).status).toBe(200);
    expect(await linkStatus(token, fileId)).toBe(302);
    expect(await linkStatus(adminToken(admin), fileId)).toBe(302);
  });
});
