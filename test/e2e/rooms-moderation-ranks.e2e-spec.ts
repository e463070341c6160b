import type { RunningApp } from '../helpers/app';
import { adminToken, uniqueUser } from '../helpers/tokens';
import type { TestClient } from '../helpers/ws-client';
import { api, createRoom, join, TwoInstances, withTwoInstances, type RoomFrame } from './rooms.helpers';

// Who moderates whom (ROOM-005; docs/protocol.md, "Rooms, direct messages, moderation"): nobody
// themself, a moderator plain members only, the owner moderators and members, chatbox admins anyone
// but themselves; a room's owner and moderators never an admin. Found by the black-box audit of the
// rooms (t14, t15): a moderator lifted the mute an admin or a fellow moderator had set on them.
describe('rooms: who moderates whom (e2e, two instances)', () => {
  jest.setTimeout(60_000);
  let cluster: TwoInstances;
  let first: RunningApp;
  let second: RunningApp;

  withTwoInstances((started) => {
    cluster = started;
    ({ first, second } = started);
  });

  const person = () => cluster.person();
  const admin = () => {
    const id = uniqueUser('admin');
    return { id, token: adminToken(id) };
  };
  const act = async (app: RunningApp, token: string, roomId: string, action: string, userId: string) => {
    const answer = await api<{ error?: { code: string; message: string; recoverable?: boolean } }>(
      app,
      token,
      'POST',
      `/rooms/${roomId}/moderation/${action}`,
      { user_id: userId },
    );
    return { status: answer.status, code: answer.body.error?.code, message: answer.body.error?.message };
  };
  const name = async (app: RunningApp, token: string, roomId: string, userId: string, moderator: boolean) =>
    (await api(app, token, 'POST', `/rooms/${roomId}/moderators`, { user_id: userId, moderator })).status;
  let sent = 0;
  const say = async (client: TestClient, roomId: string, content: string): Promise<RoomFrame> => {
    const clientId = `m-${++sent}`;
    client.send({ type: 'chat', room_id: roomId, content, client_id: clientId });
    return (await client.next(
      (frame) => frame.client_id === clientId && (frame.type === 'ack' || frame.type === 'error'),
    )) as RoomFrame;
  };

  // a public room with its owner, two moderators the owner named and a plain member, all joined
  async function room() {
    const owner = person();
    const moderators = [person(), person()];
    const member = person();
    const roomId = await createRoom(first, owner.token);
    for (const user of [...moderators, member])
      expect((await api(second, user.token, 'POST', `/rooms/${roomId}/join`)).status).toBe(200);
    for (const moderator of moderators)
      expect(await name(first, owner.token, roomId, moderator.id, true)).toBe(200);
    return { owner, moderators, member, roomId };
  }

  it('should refuse a moderator lifting a mute on themself, set by an admin or by a fellow moderator', async () => {
    const { owner, moderators, roomId } = await room();
    const [moderator, fellow] = moderators;
    const ada = admin();
    const socket = await cluster.socket(second, moderator.token);
    await join(socket, roomId);

    // an admin's mute stands: the moderator's unmute of themself is refused, their messages too
    expect((await act(first, ada.token, roomId, 'mute', moderator.id)).status).toBe(200);
    const own = await act(second, moderator.token, roomId, 'unmute', moderator.id);
    expect(own).toMatchObject({ status: 403, code: 'FORBIDDEN' });
    expect(own.message).toMatch(/yourself/);
    expect((await say(socket, roomId, 'I lifted it myself')).error?.code).toBe('MUTED');

    // a fellow moderator may neither lift it nor set one
    expect(await act(first, fellow.token, roomId, 'unmute', moderator.id)).toMatchObject({
      status: 403,
      code: 'FORBIDDEN',
    });
    expect((await act(first, fellow.token, roomId, 'kick', moderator.id)).status).toBe(403);
    expect((await act(first, fellow.token, roomId, 'ban', moderator.id)).status).toBe(403);
    expect((await say(socket, roomId, 'still muted')).error?.code).toBe('MUTED');

    // the owner (or an admin) lifts it
    expect((await act(second, owner.token, roomId, 'unmute', moderator.id)).status).toBe(200);
    expect((await say(socket, roomId, 'free again')).type).toBe('ack');
  });

  it('should let nobody moderate themself: mute, unmute, kick, ban, unban, role', async () => {
    const { owner, moderators, member, roomId } = await room();
    const ada = admin();
    expect((await api(first, ada.token, 'POST', `/rooms/${roomId}/join`)).status).toBe(200);
    for (const user of [owner, moderators[0], ada])
      for (const action of ['mute', 'unmute', 'kick', 'ban', 'unban']) {
        const refused = await act(second, user.token, roomId, action, user.id);
        expect({ user: user.id, action, ...refused }).toMatchObject({ status: 403, code: 'FORBIDDEN' });
      }
    // a plain member is refused as before: not a moderator
    expect((await act(first, member.token, roomId, 'unmute', member.id)).status).toBe(403);
    for (const user of [owner, moderators[0], ada])
      expect(await name(first, user.token, roomId, user.id, user !== moderators[0])).toBe(403);
    // all of them are still in, with their roles
    const members = await api<Array<{ user_id: string; role: string }>>(
      first,
      owner.token,
      'GET',
      `/rooms/${roomId}/participants`,
    );
    expect(Object.fromEntries(members.body.map((each) => [each.user_id, each.role]))).toMatchObject({
      [owner.id]: 'owner',
      [moderators[0].id]: 'moderator',
      [ada.id]: 'member',
    });
  });

  it('should let a moderator act on plain members only, the owner on moderators and members, admins on anyone else', async () => {
    const { owner, moderators, member, roomId } = await room();
    const [moderator, fellow] = moderators;
    const ada = admin();
    const grace = admin();
    // ada is in the room as a member: neither its moderators nor its owner act on her
    expect((await api(first, ada.token, 'POST', `/rooms/${roomId}/join`)).status).toBe(200);

    expect((await act(first, moderator.token, roomId, 'mute', member.id)).status).toBe(200);
    expect((await act(second, moderator.token, roomId, 'unmute', member.id)).status).toBe(200);
    expect(await act(first, moderator.token, roomId, 'mute', fellow.id)).toMatchObject({
      status: 403,
      code: 'FORBIDDEN',
    });
    expect((await act(first, moderator.token, roomId, 'kick', owner.id)).status).toBe(403);
    for (const action of ['mute', 'kick', 'ban']) {
      for (const user of [moderator, owner]) {
        const refused = await act(second, user.token, roomId, action, ada.id);
        expect({ by: user.id, action, ...refused }).toMatchObject({ status: 403, code: 'FORBIDDEN' });
        expect(refused.message).toMatch(/admin/);
      }
    }
    // the owner may name and unname moderators, but not change an admin's role; a moderator names nobody
    expect(await name(second, owner.token, roomId, ada.id, true)).toBe(403);
    expect(await name(second, moderator.token, roomId, member.id, true)).toBe(403);
    expect(await name(second, fellow.token, roomId, moderator.id, false)).toBe(403);

    // the owner mutes and unmutes a moderator; an admin mutes the owner and a fellow admin
    expect((await act(first, owner.token, roomId, 'mute', fellow.id)).status).toBe(200);
    expect((await act(first, owner.token, roomId, 'unmute', fellow.id)).status).toBe(200);
    expect((await act(second, grace.token, roomId, 'mute', owner.id)).status).toBe(200);
    expect((await act(second, grace.token, roomId, 'unmute', owner.id)).status).toBe(200);
    expect((await act(first, grace.token, roomId, 'mute', ada.id)).status).toBe(200);
    expect((await act(first, grace.token, roomId, 'kick', ada.id)).status).toBe(200);

    // the owner unnames a moderator, who is a plain member the other moderator may then act on
    expect(await name(first, owner.token, roomId, fellow.id, false)).toBe(200);
    expect((await act(second, moderator.token, roomId, 'kick', fellow.id)).status).toBe(200);
    // and a ban of someone never in the room stays open to moderators
    expect((await act(second, moderator.token, roomId, 'ban', uniqueUser('stranger'))).status).toBe(200);
  });
});
