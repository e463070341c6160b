import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { startApp, type RunningApp } from '../helpers/app';
import { uniqueUser, userToken } from '../helpers/tokens';
import { TestClient } from '../helpers/ws-client';
import { PNG } from './uploads.fixtures';
import { fileLink, upload } from './uploads.helpers';
import { api, createRoom, join, roomsSocket, type RoomFrame } from './rooms.helpers';

// Found by a rooms audit in session 39 (3 of 3 runs). Which files a room's members may read. A member reads a file only while a message of the
// room shows it (docs/protocol.md, "Rooms": file_url "the room's members get the signed redirect";
// a file taken off the room is 404 to them). A resend of an acked client_id is answered with the
// stored copy and stores nothing; here the resend names one of the sender's other uploads.
describe('rooms: a file named by a message that was never stored (e2e)', () => {
  jest.setTimeout(60_000);
  let server: RunningApp;
  let dir: string;
  const open: TestClient[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(joinPath(tmpdir(), 'rooms-file-resend-'));
    server = await startApp({ UPLOAD_DIR: dir, ROOM_RATE_LIMIT_MESSAGES_PER_SECOND: '1000' });
  });
  afterAll(async () => {
    await Promise.all(open.map((client) => client.close()));
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const person = (name: string) => {
    const id = uniqueUser(name);
    return { id, token: userToken(id) };
  };
  const status = async (token: string, fileId: string) =>
    (await fileLink(server.httpUrl, token, fileId)).status;
  const send = async (socket: TestClient, frame: Record<string, unknown>) => {
    socket.send(frame);
    return (await socket.next(
      (answer) => answer.client_id === frame.client_id && (answer.type === 'ack' || answer.type === 'error'),
    )) as RoomFrame;
  };

  it('should not let the members read an upload that a resend of an acked client_id named', async () => {
    const alice = person('alice');
    const bob = person('bob');
    const roomId = await createRoom(server, alice.token, 'private', [bob.id]);
    expect((await api(server, bob.token, 'POST', `/rooms/${roomId}/join`)).status).toBe(200);
    const a = await roomsSocket(server, alice.token);
    open.push(a);
    await join(a, roomId);
    // alice's private upload (never shared anywhere)
    const secret = (await upload(server.httpUrl, alice.token, PNG, 'payslip.png', 'image/png')).body.file_id;
    expect(await status(bob.token, secret)).toBe(404);

    const first = await send(a, { type: 'chat', room_id: roomId, content: 'hello', client_id: 'c1' });
    expect(first.type).toBe('ack');
    // the same client_id again, now with the upload: the stored copy's ack, nothing stored
    const again = await send(a, {
      type: 'chat',
      room_id: roomId,
      content: 'hello',
      file_id: secret,
      client_id: 'c1',
    });
    expect(again).toMatchObject({ type: 'ack', message_id: first.message_id, seq: first.seq });
    const history = await api<{ items: RoomFrame[] }>(
      server,
      bob.token,
      'GET',
      `/rooms/${roomId}/messages?limit=100`,
    );
    // no message of the room shows the file
    expect(history.body.items.some((item) => item.file_id === secret)).toBe(false);
    // and yet bob, a member, downloads it
    expect(await status(bob.token, secret)).toBe(404);
  });

  it('should not let the members read an upload named by a resend of a deleted message', async () => {
    const alice = person('alice');
    const bob = person('bob');
    const roomId = await createRoom(server, alice.token, 'private', [bob.id]);
    expect((await api(server, bob.token, 'POST', `/rooms/${roomId}/join`)).status).toBe(200);
    const a = await roomsSocket(server, alice.token);
    open.push(a);
    await join(a, roomId);
    const first = await send(a, { type: 'chat', room_id: roomId, content: 'oops', client_id: 'd1' });
    expect(
      (await send(a, { type: 'delete', room_id: roomId, message_id: first.message_id, client_id: 'del' }))
        .type,
    ).toBe('ack');
    const secret = (await upload(server.httpUrl, alice.token, PNG, 'scan.png', 'image/png')).body.file_id;
    const again = await send(a, { type: 'chat', room_id: roomId, file_id: secret, client_id: 'd1' });
    expect(again).toMatchObject({ type: 'ack', message_id: first.message_id });
    expect(await status(bob.token, secret)).toBe(404);
  });
});
