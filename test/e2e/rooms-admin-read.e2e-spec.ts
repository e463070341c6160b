import { startApp, type RunningApp } from '../helpers/app';
import { adminToken, uniqueUser, userToken } from '../helpers/tokens';
import { TestClient } from '../helpers/ws-client';
import { api, createRoom, join, roomsSocket, say } from './rooms.helpers';

// Admins moderate every room (docs/protocol.md, "Rooms"): the dashboard reads a room's members and
// messages without joining it; everyone else still needs to be a member.
describe('rooms read by admins (e2e)', () => {
  jest.setTimeout(60_000);
  let server: RunningApp;
  const open: TestClient[] = [];

  beforeAll(async () => {
    server = await startApp();
  });
  afterAll(async () => {
    for (const client of open) client.socket.terminate();
    await server?.close();
  });

  it('should let an admin read the members and messages of a private room, and not an outsider', async () => {
    const owner = uniqueUser('owner');
    const ownerToken = userToken(owner);
    const roomId = await createRoom(server, ownerToken, 'private');
    const socket = await roomsSocket(server, ownerToken);
    open.push(socket);
    await join(socket, roomId);
    const ack = await say(socket, roomId, 'report me', 'c1');

    const admin = adminToken(uniqueUser('admin'));
    const members = await api<Array<{ user_id: string; role: string }>>(
      server,
      admin,
      'GET',
      `/rooms/${roomId}/participants`,
    );
    expect(members.status).toBe(200);
    expect(members.body).toEqual([expect.objectContaining({ user_id: owner, role: 'owner' })]);
    const history = await api<{ items: Array<{ message_id: string; content?: string }> }>(
      server,
      admin,
      'GET',
      `/rooms/${roomId}/messages`,
    );
    expect(history.status).toBe(200);
    expect(history.body.items).toContainEqual(
      expect.objectContaining({ message_id: ack.message_id, content: 'report me' }),
    );
    // the admin did not become a member by reading
    expect(members.body.some((member) => member.user_id !== owner)).toBe(false);

    const outsider = userToken(uniqueUser('outsider'));
    expect((await api(server, outsider, 'GET', `/rooms/${roomId}/participants`)).status).toBe(404);
    expect((await api(server, outsider, 'GET', `/rooms/${roomId}/messages`)).status).toBe(404);
  });
});
