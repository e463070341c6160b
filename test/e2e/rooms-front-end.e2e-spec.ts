import { startApp, type RunningApp } from '../helpers/app';
import { adminToken, uniqueUser, userToken } from '../helpers/tokens';
import { TestClient } from '../helpers/ws-client';
import { api, createRoom, join, roomsSocket, say, type RoomFrame } from './rooms.helpers';

// What the front ends need from moderation (docs/protocol.md, "Rooms"): the dashboard reads a room's
// members and messages without joining it (everyone else still needs to be a member), and a kicked
// or banned user's open sockets are told before the room goes quiet.
describe('rooms moderation for the front ends (e2e)', () => {
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

  it('should send a kicked or banned member a leave frame with the reason, then nothing more of the room', async () => {
    const ownerToken = userToken(uniqueUser('owner'));
    const roomId = await createRoom(server, ownerToken);
    const owner = await roomsSocket(server, ownerToken);
    open.push(owner);
    await join(owner, roomId);
    const admin = adminToken(uniqueUser('admin'));
    for (const action of ['kick', 'ban'] as const) {
      const memberId = uniqueUser(action);
      const member = await roomsSocket(server, userToken(memberId));
      open.push(member);
      await join(member, roomId);
      const done = await api(server, admin, 'POST', `/rooms/${roomId}/moderation/${action}`, {
        user_id: memberId,
      });
      expect(done.status).toBe(200);
      const left = (await member.next((frame) => frame.type === 'leave')) as RoomFrame;
      expect(left).toMatchObject({
        room_id: roomId,
        user_id: memberId,
        metadata: { reason: action === 'kick' ? 'kicked' : 'banned' },
      });
      const before = member.frames.length;
      await say(owner, roomId, `after the ${action}`, `after-${action}`);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(member.frames.slice(before).some((frame) => frame.type === 'chat')).toBe(false);
    }
  });
});
