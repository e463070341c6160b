import { ParticipantsRepository } from '../../src/modules/rooms/participants.repository';
import { RoomMessagesRepository } from '../../src/modules/rooms/room-messages.repository';
import { RoomMembershipService } from '../../src/modules/rooms/room-membership.service';
import { type RunningApp } from '../helpers/app';
import {
  api,
  chatsIn,
  createRoom,
  join,
  say,
  type RoomFrame,
  TwoInstances,
  holdNextCall,
  holdNextRead,
} from './rooms.helpers';

// A join, a leave or an invitation checks the user's membership, then writes it. A kick or a ban on
// another instance that lands in between (the first instance slow to find a restarted store, say)
// must not be written over: the user stays out. The chaos test found a banned user joining again
// (test/chaos/room-moderation.ts; docs/protocol.md, "Rooms, direct messages, moderation").
describe('rooms: a kick or a ban between a membership check and its write (e2e)', () => {
  jest.setTimeout(60_000);
  let cluster: TwoInstances;
  let first: RunningApp;
  let second: RunningApp;

  beforeAll(async () => {
    cluster = await TwoInstances.start();
    ({ first, second } = cluster);
  });
  afterAll(() => cluster?.close());

  const moderate = async (token: string, roomId: string, action: string, userId: string) =>
    expect(
      (await api(second, token, 'POST', `/rooms/${roomId}/moderation/${action}`, { user_id: userId })).status,
    ).toBe(200);

  // the user's join over a socket of the first instance: its answer (`join` or `error`)
  async function joinOnFirst(token: string, roomId: string): Promise<{ answer: Promise<RoomFrame> }> {
    const socket = await cluster.socket(first, token);
    socket.send({ type: 'join', room_id: roomId, client_id: 'j1' });
    return {
      answer: socket.next(
        (frame) => frame.client_id === 'j1' && (frame.type === 'join' || frame.type === 'error'),
        10_000,
      ) as Promise<RoomFrame>,
    };
  }

  async function refused(token: string, roomId: string, code: string): Promise<void> {
    const history = await api<{ error?: { code: string } }>(first, token, 'GET', `/rooms/${roomId}/messages`);
    expect([history.status, history.body.error?.code]).toEqual([403, code]);
    const again = await api<{ error?: { code: string } }>(second, token, 'POST', `/rooms/${roomId}/join`);
    expect([again.status, again.body.error?.code]).toEqual([403, code]);
  }

  // A mute or a moderator's role is a write to the membership too: on FerretDB every update rewrites
  // the whole document from what it read, so a mute racing a ban (two moderators, two instances) could
  // write the member back over the ban. Every membership write takes its lock (room-locks.ts).
  it('should keep every user banned when a mute or a role change of them races their ban', async () => {
    const owner = cluster.person();
    const roomId = await createRoom(first, owner.token);
    const principal = { userId: owner.id, roles: [], isAdmin: false, expiresAt: Date.now() + 600_000 };
    const users = Array.from({ length: 30 }, () => cluster.person());
    await Promise.all(
      users.map(async (user) =>
        expect((await api(second, user.token, 'POST', `/rooms/${roomId}/join`)).status).toBe(200),
      ),
    );
    const [one, two] = [first.app.get(RoomMembershipService), second.app.get(RoomMembershipService)];
    await Promise.all(
      users.flatMap((user, index) => [
        index % 2 === 0
          ? one.moderate(principal, roomId, 'mute', user.id)
          : one.setRole(principal, roomId, user.id, true).catch(() => undefined),
        two.moderate(principal, roomId, 'ban', user.id),
      ]),
    );
    const participants = first.app.get(ParticipantsRepository);
    const states = await Promise.all(
      users.map(async (user) => (await participants.find(roomId, user.id))?.state),
    );
    expect(states.filter((state) => state !== 'banned')).toEqual([]);
  });

  it('should keep a user banned when their join checked before the ban and writes after it', async () => {
    const owner = cluster.person();
    const bob = cluster.person();
    const roomId = await createRoom(first, owner.token);
    const hold = holdNextRead(first, roomId, bob.id);
    const { answer } = await joinOnFirst(bob.token, roomId);
    await hold.held;
    await moderate(owner.token, roomId, 'ban', bob.id);
    hold.release();
    expect((await answer).error?.code).toBe('BANNED');
    await refused(bob.token, roomId, 'BANNED');
  });

  it('should keep a user kicked from a private room when their join checked before the kick', async () => {
    const owner = cluster.person();
    const bob = cluster.person();
    const roomId = await createRoom(first, owner.token, 'private', [bob.id]);
    const hold = holdNextRead(first, roomId, bob.id);
    const { answer } = await joinOnFirst(bob.token, roomId);
    await hold.held;
    await moderate(owner.token, roomId, 'kick', bob.id);
    hold.release();
    expect((await answer).error?.code).toBe('NOT_A_MEMBER');
    await refused(bob.token, roomId, 'NOT_A_MEMBER');
  });

  it('should refuse, not store after the kick notice, a message whose membership was checked before the kick', async () => {
    const owner = cluster.person();
    const bob = cluster.person();
    const roomId = await createRoom(first, owner.token, 'private', [bob.id]);
    const o = await cluster.socket(second, owner.token);
    await join(o, roomId);
    const b = await cluster.socket(first, bob.token);
    await join(b, roomId);
    const posted = await say(o, roomId, 'reply to this', 'k-1');
    // the first instance holds the message's next step after its membership check (the read of the
    // message it replies to) while the kick lands on the second
    const hold = holdNextCall(
      first.app.get(RoomMessagesRepository),
      'find',
      (_room, id) => id === posted.message_id,
      'before',
    );
    b.send({
      type: 'chat',
      room_id: roomId,
      content: 'said after the kick',
      client_id: 'late',
      metadata: { reply_to: posted.message_id },
    });
    await hold.held;
    await moderate(owner.token, roomId, 'kick', bob.id);
    hold.release();
    const answer = (await b.next(
      (frame) => frame.client_id === 'late' && (frame.type === 'ack' || frame.type === 'error'),
      10_000,
    )) as RoomFrame;
    expect(answer.error?.code).toBe('NOT_A_MEMBER');
    const history = await api<{ items: RoomFrame[] }>(
      second,
      owner.token,
      'GET',
      `/rooms/${roomId}/messages`,
    );
    expect(
      history.body.items.filter((item) => item.user_id === bob.id && item.metadata?.kind === 'text'),
    ).toEqual([]);
    expect(chatsIn(o, roomId).filter((frame) => frame.content === 'said after the kick')).toEqual([]);
  });

  it('should keep a user banned when their leave checked before the ban and writes after it', async () => {
    const owner = cluster.person();
    const bob = cluster.person();
    const roomId = await createRoom(first, owner.token);
    await join(await cluster.socket(second, bob.token), roomId);
    const hold = holdNextRead(first, roomId, bob.id);
    const leaving = api(first, bob.token, 'POST', `/rooms/${roomId}/leave`);
    await hold.held;
    await moderate(owner.token, roomId, 'ban', bob.id);
    hold.release();
    await leaving;
    await refused(bob.token, roomId, 'BANNED');
  });

  it('should keep a user banned from a private room when an invitation checked before the ban', async () => {
    const owner = cluster.person();
    const moderator = cluster.person();
    const bob = cluster.person();
    const roomId = await createRoom(first, owner.token, 'private', [moderator.id]);
    expect((await api(second, moderator.token, 'POST', `/rooms/${roomId}/join`)).status).toBe(200);
    const named = await api(second, owner.token, 'POST', `/rooms/${roomId}/moderators`, {
      user_id: moderator.id,
      moderator: true,
    });
    expect(named.status).toBe(200);
    const hold = holdNextRead(first, roomId, bob.id);
    const inviting = api(first, moderator.token, 'POST', `/rooms/${roomId}/invite`, { user_id: bob.id });
    await hold.held;
    await moderate(owner.token, roomId, 'ban', bob.id);
    hold.release();
    await inviting;
    await refused(bob.token, roomId, 'BANNED');
  });

  // A resume (`join` with last_seq) of a member checks the membership, then reads what to replay: a
  // ban in between, and a message after it, must not reach the banned user in the replay.
  it('should replay nothing stored after a ban that lands while a join reads its replay', async () => {
    const owner = cluster.person();
    const bob = cluster.person();
    const roomId = await createRoom(first, owner.token);
    const talk = await cluster.socket(second, owner.token);
    await join(talk, roomId);
    const start = (await join(await cluster.socket(second, bob.token), roomId)).seq as number;
    // the first instance's next read of the room's head (the join's, after its membership check) waits
    const head = holdNextCall(
      first.app.get(RoomMessagesRepository),
      'headSeq',
      (room) => room === roomId,
      'before',
    );
    const resuming = await cluster.socket(first, bob.token);
    resuming.send({ type: 'join', room_id: roomId, client_id: 'j1', last_seq: start });
    await head.held;
    await moderate(owner.token, roomId, 'ban', bob.id);
    expect((await say(talk, roomId, 'after the ban', 'm1')).type).toBe('ack');
    head.release();
    const answer = await resuming.next(
      (frame) => frame.client_id === 'j1' && (frame.type === 'join' || frame.type === 'error'),
      10_000,
    );
    expect(answer.error?.code).toBe('BANNED');
    expect(chatsIn(resuming, roomId)).toEqual([]);
  });
});
