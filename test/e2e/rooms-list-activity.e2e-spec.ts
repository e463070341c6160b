import type { RunningApp } from '../helpers/app';
import type { TestClient } from '../helpers/ws-client';
import { api, join, say, TwoInstances, withTwoInstances, type RoomFrame } from './rooms.helpers';

interface ListedRoom {
  id: string;
  last_message_at: string | null;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// A user's room list is ordered by each room's real last activity, and shows it (docs/protocol.md,
// "REST", GET /rooms): the room's noted `last_message_at` is written at most once a minute, so a
// private room or direct message whose newest message came within that minute of its previous one
// was listed with the older time, below rooms that were quieter since (black-box audit, t25).
describe("rooms: the room list's order and last_message_at (e2e, two instances)", () => {
  jest.setTimeout(60_000);
  let cluster: TwoInstances;
  let first: RunningApp;
  let second: RunningApp;

  withTwoInstances((started) => {
    cluster = started;
    ({ first, second } = started);
  });

  let sent = 0;
  const send = async (client: TestClient, roomId: string, content: string): Promise<RoomFrame> => {
    const ack = await say(client, roomId, content, `a-${++sent}`);
    expect(ack.type).toBe('ack');
    // every message a distinct millisecond
    await pause(30);
    return ack;
  };
  const listed = async (app: RunningApp, token: string, ids: string[]) =>
    (await api<ListedRoom[]>(app, token, 'GET', '/rooms')).body.filter((room) => ids.includes(room.id));

  it('should list private rooms, direct messages and joined public rooms by their newest message, on either instance', async () => {
    const owner = cluster.person();
    const friend = cluster.person();
    const made = async (kind: string) =>
      (await api<{ id: string }>(first, owner.token, 'POST', '/rooms', { name: kind, kind })).body.id;
    const older = await made('private');
    const newer = await made('private');
    const open = await made('public');
    const socket = await cluster.socket(first, owner.token);
    for (const roomId of [older, newer, open]) await join(socket, roomId);
    const dm = (await send(socket, `@${friend.id}`, 'hello')).room_id as string;
    await join(socket, dm);

    await send(socket, older, 'one');
    await send(socket, newer, 'two');
    await send(socket, open, 'three');
    // each room's second message within the minute of its first
    const last = new Map<string, string>();
    for (const roomId of [dm, open, newer, older])
      last.set(roomId, (await send(socket, roomId, 'again')).timestamp as string);

    for (const [app, token] of [
      [second, owner.token],
      [first, owner.token],
    ] as const) {
      const rooms = await listed(app, token, [older, newer, open, dm]);
      expect(rooms.map((room) => room.id)).toEqual([older, newer, open, dm]);
      for (const room of rooms) expect(room.last_message_at).toBe(last.get(room.id));
    }
    // the other side of the direct message too, and the room itself
    expect((await listed(second, friend.token, [dm]))[0].last_message_at).toBe(last.get(dm));
    expect((await api<ListedRoom>(second, owner.token, 'GET', `/rooms/${newer}`)).body.last_message_at).toBe(
      last.get(newer),
    );
  });

  it("should show a public room's newest message to those not in it within ROOM_LIST_CACHE", async () => {
    const owner = cluster.person();
    const outsider = cluster.person();
    const open = (
      await api<{ id: string }>(first, owner.token, 'POST', '/rooms', { name: 'lively', kind: 'public' })
    ).body.id;
    const socket = await cluster.socket(first, owner.token);
    await join(socket, open);
    await send(socket, open, 'first');
    const newest = (await send(socket, open, 'second')).timestamp as string;
    await pause(1100);
    expect((await listed(second, outsider.token, [open]))[0].last_message_at).toBe(newest);
  });
});
