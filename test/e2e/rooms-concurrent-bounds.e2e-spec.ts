import { ParticipantsRepository } from '../../src/modules/rooms/participants.repository';
import { type RunningApp } from '../helpers/app';
import type { TestClient } from '../helpers/ws-client';
import { api, createRoom, join, say, TwoInstances, type RoomFrame } from './rooms.helpers';

// Bounds counted and then written hold when the writes come at once, from many sockets and both
// instances, at the default per-user budget (10 a second, on every instance together): each is
// counted and written under one lock per what it bounds (docs/protocol.md, "Rooms, direct messages,
// moderation"; src/modules/rooms/room-locks.ts). Found by a rooms audit in session 39, where each
// count was read outside any lock the writes shared: 29 reactions of 20 stood (10 at once from 10
// sockets, 3 of 3 runs), and a user had 55–60 open invitations of 50 (40 inviters at once, 3 of 3).
describe('rooms: per-user bounds under writes at once on two instances (e2e)', () => {
  jest.setTimeout(180_000);
  let cluster: TwoInstances;
  let first: RunningApp;
  let second: RunningApp;

  beforeAll(async () => {
    cluster = await TwoInstances.start({ ROOM_RATE_LIMIT_MESSAGES_PER_SECOND: '10' });
    ({ first, second } = cluster);
  });
  afterAll(() => cluster?.close());

  // "A user has at most 50 open invitations ... so others cannot fill a user's room list". The
  // budget is the inviter's, so many inviters are not slowed.
  it('should never leave a user with more than 50 open invitations', async () => {
    const victim = cluster.person();
    const owners = Array.from({ length: 80 }, () => cluster.person());
    const rooms: string[] = [];
    for (const owner of owners) rooms.push(await createRoom(first, owner.token, 'private'));
    // 40 invitations one after another (all accepted), then 40 more at once from the other owners,
    // on both instances: ten places are left
    for (let index = 0; index < 40; index++)
      expect(
        (
          await api(first, owners[index].token, 'POST', `/rooms/${rooms[index]}/invite`, {
            user_id: victim.id,
          })
        ).status,
      ).toBe(200);
    const statuses = await Promise.all(
      owners.slice(40).map(async (owner, index) => {
        const app = index % 2 === 0 ? first : second;
        return (
          await api(app, owner.token, 'POST', `/rooms/${rooms[40 + index]}/invite`, { user_id: victim.id })
        ).status;
      }),
    );
    const accepted = statuses.filter((status) => status === 200).length;
    const open = await first.app.get(ParticipantsRepository).countInvited(victim.id);
    expect({ accepted, open }).toEqual({ accepted: 10, open: 50 });
  });

  // An invitation again to a room that invites the user skipped the count (the state was read before
  // the lock): with the user declining it meanwhile and another inviter filling the place, it was
  // written as a new one (51–54 of 50, 12 of 12 rounds, 3 of 3 runs in a bounds audit).
  const pauseFor = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  it('should never leave a user with more than 50 open invitations when they decline and are invited again at once', async () => {
    const victim = cluster.person();
    const open = () => first.app.get(ParticipantsRepository).countInvited(victim.id);
    const owners = new Map<string, { id: string; token: string }>();
    const invitedRooms: Array<{ roomId: string; owner: { id: string; token: string } }> = [];
    for (let index = 0; index < 50; index++) {
      const owner = cluster.person();
      const roomId = await createRoom(first, owner.token, 'private', [victim.id]);
      owners.set(roomId, owner);
      invitedRooms.push({ roomId, owner });
    }
    expect(await open()).toBe(50);
    const counts: number[] = [];
    const rounds: Array<Record<string, unknown>> = [];
    const K = 5;
    for (let round = 0; round < 12; round++) {
      const again = invitedRooms.splice(0, K);
      const fresh: Array<{ roomId: string; owner: { id: string; token: string } }> = [];
      for (let index = 0; index < K; index++) {
        const owner = cluster.person();
        const roomId = await createRoom(second, owner.token, 'private');
        owners.set(roomId, owner);
        fresh.push({ roomId, owner });
      }
      const app = (index: number) => (index % 2 === 0 ? first : second);
      const statuses = await Promise.all([
        ...again.map(({ roomId, owner }, index) =>
          api(app(index), owner.token, 'POST', `/rooms/${roomId}/invite`, { user_id: victim.id }),
        ),
        ...again.map(({ roomId }, index) =>
          api(app(index + 1), victim.token, 'POST', `/rooms/${roomId}/leave`),
        ),
        ...fresh.map(({ roomId, owner }, index) =>
          api(app(index), owner.token, 'POST', `/rooms/${roomId}/invite`, { user_id: victim.id }),
        ),
      ]).then((answers) => answers.map((answer) => answer.status));
      const now = await open();
      counts.push(now);
      rounds.push({
        open: now,
        reinvite: statuses.slice(0, K),
        decline: statuses.slice(K, 2 * K),
        fresh: statuses.slice(2 * K),
      });
      // back to 50 open for the next round: the victim declines what passed the bound
      const participants = first.app.get(ParticipantsRepository);
      const mine = await participants.invitationsOf(victim.id, 100);
      invitedRooms.length = 0;
      for (const record of mine)
        invitedRooms.push({
          roomId: record.room_id,
          owner: owners.get(record.room_id) as { id: string; token: string },
        });
      await pauseFor(1100);
      let extra = now - 50;
      for (const record of mine) {
        if (extra <= 0) break;
        await api(first, victim.token, 'POST', `/rooms/${record.room_id}/leave`);
        invitedRooms.splice(
          invitedRooms.findIndex((entry) => entry.roomId === record.room_id),
          1,
        );
        extra--;
      }
      await pauseFor(1100);
    }
    expect({ over: counts.filter((count) => count > 50), rounds }).toEqual({ over: [], rounds });
  });

  // "A user has at most 20 reactions standing on one message (MAX_REACTIONS_PER_USER): the 21st is
  // INVALID_MESSAGE".
  // 40 distinct emoticons (U+1F600..): each is one emoji
  const emoji = Array.from({ length: 40 }, (_, index) => String.fromCodePoint(0x1f600 + index));
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  function react(client: TestClient, roomId: string, messageId: string, content: string, clientId: string) {
    client.send({ type: 'react', room_id: roomId, message_id: messageId, content, client_id: clientId });
    return client.next(
      (frame) => frame.client_id === clientId && (frame.type === 'ack' || frame.type === 'error'),
      10_000,
    ) as Promise<RoomFrame>;
  }

  it('should never let one user have more than 20 reactions standing on one message', async () => {
    const owner = cluster.person();
    const user = cluster.person();
    const roomId = await createRoom(first, owner.token);
    const o = await cluster.socket(first, owner.token);
    await join(o, roomId);
    const posted = await say(o, roomId, 'react to this', 'm-1');
    const messageId = posted.message_id as string;
    // ten sockets of the user (MAX_SOCKETS_PER_USER is 50), five on each instance: each socket's
    // frames are handled one after another, the sockets' side by side
    const sockets: TestClient[] = [];
    for (let index = 0; index < 10; index++) {
      const socket = await cluster.socket(index % 2 === 0 ? first : second, user.token);
      await join(socket, roomId);
      sockets.push(socket);
      await pause(120);
    }
    const a = sockets[0];
    // 19 standing, one at a time within the budget
    for (let index = 0; index < 19; index++) {
      const answer = await react(a, roomId, messageId, emoji[index], `r-${index}`);
      expect(answer.type).toBe('ack');
      await pause(120);
    }
    await pause(1100);
    // then 10 more at once (the budget of one second), one on each socket: one place is left
    const burst = await Promise.all(
      emoji
        .slice(19, 29)
        .map((content, index) => react(sockets[index], roomId, messageId, content, `burst-${index}`)),
    );
    const acked = burst.filter((answer) => answer.type === 'ack').length;
    const history = await api<{
      items: Array<{ message_id: string; metadata: { reactions?: Record<string, string[]> } }>;
    }>(first, user.token, 'GET', `/rooms/${roomId}/messages`);
    const message = history.body.items.find((item) => item.message_id === messageId);
    const standing = Object.values(message?.metadata.reactions ?? {}).filter((users) =>
      users.includes(user.id),
    ).length;
    expect({ acked, standing }).toEqual({ acked: 1, standing: 20 });
  });
});
