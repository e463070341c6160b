import { BUS, type Bus } from '../../src/infra/bus/bus';
import { RoomHub } from '../../src/modules/rooms/room-hub';
import { PRESENCE_FORGET_MS } from '../../src/modules/rooms/room-presence-pace';
import type { RunningApp } from '../helpers/app';
import { TestClient, type Frame } from '../helpers/ws-client';
import { api, createRoom, join, roomsSocket, TwoInstances, withTwoInstances } from './rooms.helpers';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
// longer than a presence frame's coalescing (1 s) and a presence sweep's tick: every change is out
const SETTLE_MS = 2_500;
const TIMEOUT_MS = 3_000;

// The status a room was last told of each user, as one watcher received it.
function lastPresence(watcher: TestClient, roomId: string): Map<string, string> {
  const last = new Map<string, string>();
  for (const frame of watcher.frames as Array<Frame & { room_id?: string }>)
    if (frame.type === 'presence' && frame.room_id === roomId)
      for (const user of frame.metadata?.users as Array<{ user_id: string; status: string }>)
        last.set(user.user_id, user.status);
  return last;
}

// Presence across instances (docs/protocol.md, "Presence"; black-box audit of the rooms, t3/t3b and
// t17): a user's old socket closing on one instance while their new one opens on the other must leave
// the rooms told "online", and a silent socket goes offline at PRESENCE_TIMEOUT, not a sweep later.
describe('rooms presence across two instances (e2e)', () => {
  jest.setTimeout(120_000);
  let cluster: TwoInstances;
  let first: RunningApp;
  let second: RunningApp;

  withTwoInstances(
    (started) => {
      cluster = started;
      ({ first, second } = started);
    },
    { PRESENCE_TIMEOUT: '3s' },
  );

  // The closing instance used to read the user's status before and after its removal, the opening
  // one before and after its write: "offline" from the one, nothing from the other, and the room kept
  // "offline" for good. Several users move at once, several times: each move is a race of its own.
  it('should leave the room told "online" after every move of a user from one instance to the other', async () => {
    const owner = cluster.person();
    const roomId = await createRoom(first, owner.token);
    const watchers = [await cluster.socket(first, owner.token), await cluster.socket(second, owner.token)];
    for (const watcher of watchers) await join(watcher, roomId);
    const movers = Array.from({ length: 16 }, () => cluster.person());
    const sockets = await Promise.all(movers.map((mover) => cluster.socket(first, mover.token)));
    for (const socket of sockets) await join(socket, roomId);
    const wrong: string[] = [];
    const check = async (round: number, expected: string) => {
      await pause(SETTLE_MS);
      for (const [index, watcher] of watchers.entries()) {
        const last = lastPresence(watcher, roomId);
        for (const mover of movers)
          if (last.get(mover.id) !== expected)
            wrong.push(
              `round ${round}, watcher ${index}: mover ${movers.indexOf(mover)} ${last.get(mover.id)}`,
            );
      }
      const participants = await api<Array<{ user_id: string; presence: string }>>(
        second,
        owner.token,
        'GET',
        `/rooms/${roomId}/participants`,
      );
      for (const mover of movers)
        if (participants.body.find((member) => member.user_id === mover.id)?.presence !== expected)
          wrong.push(`round ${round}, participants: ${mover.id}`);
    };
    await check(0, 'online');
    for (let round = 1; round <= 6; round++) {
      const to = round % 2 === 1 ? second : first;
      // the old socket's close and the new one's upgrade (the audit's move), a few milliseconds
      // apart, each mover by another offset: the race's window is that narrow
      await Promise.all(
        sockets.map(async (old, index) => {
          const offset = index - 4;
          if (offset < 0) {
            const opening = cluster.socket(to, movers[index].token);
            await pause(-offset);
            void old.close();
            sockets[index] = await opening;
          } else {
            void old.close();
            await pause(offset);
            sockets[index] = await cluster.socket(to, movers[index].token);
          }
        }),
      );
      await check(round, 'online');
    }
    // and the last socket of each closing: told "offline"
    await Promise.all(sockets.map((socket) => socket.close()));
    await check(7, 'offline');
    expect(wrong).toEqual([]);
  });

  // PRESENCE-003: offline after PRESENCE_TIMEOUT without a heartbeat (or a pong); it took up to a third
  // of the timeout more (the check ran every third of it), 40 s of silence for the default 30 s
  it('should tell the room "offline" within a presence sweep of PRESENCE_TIMEOUT of silence', async () => {
    const owner = cluster.person();
    const silentUser = cluster.person();
    const roomId = await createRoom(first, owner.token);
    const watcher = await cluster.socket(first, owner.token);
    await join(watcher, roomId);
    const silent = cluster.track(
      await TestClient.connect(`${second.httpUrl.replace('http', 'ws')}/ws/chat?token=${silentUser.token}`, {
        autoPong: false,
      }),
    );
    await silent.nextOfType('connection_status');
    // its last life is the join: the server saw it after it was sent and before its ack came back (on
    // a loaded machine the ack took ~200 ms, and a bound counted from it failed by that much)
    const joinSentAt = Date.now();
    await join(silent, roomId);
    const joinAckedAt = Date.now();
    const isOffline = (frame: Frame) =>
      frame.type === 'presence' &&
      (frame.metadata?.users as Array<{ user_id: string; status: string }>).some(
        (user) => user.user_id === silentUser.id && user.status === 'offline',
      );
    const offline = await watcher.next(isOffline, TIMEOUT_MS + 5_000);
    const offlineAt = Date.now();
    expect(offline).toBeDefined();
    // never before PRESENCE_TIMEOUT of silence
    expect(offlineAt - joinSentAt).toBeGreaterThanOrEqual(TIMEOUT_MS - 100);
    // a sweep's tick (a tenth of the timeout here) and the frame's way, with room for a loaded machine
    expect(offlineAt - joinAckedAt).toBeLessThan(TIMEOUT_MS + 750);
  });

  // Found by the quota black-box audit in session 41 (3 of 3 runs): each change went to the bus once
  // per room of the user; a member of 3,000 rooms changing status ten times a second (the room
  // frames' budget) made 120,000-280,000 Redis commands in 6-9 s and slowed everyone's chat ~50x.
  // Now a user's changes cost one bus message at once, then at most one a second with the newest.
  it("should cost one bus message per second of a user's changes, however many rooms they are in", async () => {
    const busy = cluster.person();
    const watcherUser = cluster.person();
    const roomIds: string[] = [];
    for (let index = 0; index < 40; index++) roomIds.push(await createRoom(first, busy.token));
    const bus = first.app.get<Bus>(BUS);
    const publish = jest.spyOn(bus, 'publish');
    try {
      const socket = await cluster.socket(first, busy.token);
      // a watcher of the last room (public), on the other instance
      expect((await api(second, watcherUser.token, 'POST', `/rooms/${roomIds[39]}/join`)).status).toBe(200);
      const watcher = await cluster.socket(second, watcherUser.token);
      await join(watcher, roomIds[39]);
      await pause(SETTLE_MS);
      publish.mockClear();
      const statuses = Array.from({ length: 20 }, (_, index) => (index % 2 === 0 ? 'away' : 'online'));
      for (const status of statuses) {
        socket.send({ type: 'heartbeat', metadata: { status } });
        await pause(100);
      }
      await pause(SETTLE_MS);
      const ofBusy = publish.mock.calls.filter(([topic, message]) => {
        const payload = message as { k?: string; user?: string };
        return (
          topic === 'rooms' &&
          (payload.k === 'presence' || payload.k === 'presences') &&
          payload.user === busy.id
        );
      });
      // 2 s of changes: one at once, then one a second (a loaded machine may add one)
      expect(ofBusy.length).toBeGreaterThanOrEqual(2);
      expect(ofBusy.length).toBeLessThanOrEqual(5);
      // and the room ends told the last status
      expect(lastPresence(watcher, roomIds[39]).get(busy.id)).toBe('online');
    } finally {
      publish.mockRestore();
    }
  });

  // Found by the memory-leak black-box audit in session 43 (600 users through a lobby on one instance:
  // 601 entries held; 300 through the other instance: 301 held on the lobby's; 3 of 3 runs each). A
  // room that always has a socket on an instance kept the last presence version of every user who ever
  // joined it or showed presence in it, for as long as the room had a socket there. Now a member's is
  // dropped when their membership is revoked, and a while after they are announced offline.
  // The versions are READ ONLY, through the app (RoomHub's presence pace, reached by the app's module
  // ref): the test changes nothing there.
  describe('presence versions of users gone from a lobby', () => {
    const USERS = 150;
    const held = (app: RunningApp, roomId: string): number =>
      (
        app.app.get(RoomHub) as unknown as {
          presencePace: { versions: Map<string, Map<string, number>> };
        }
      ).presencePace.versions.get(roomId)?.size ?? 0;

    // distinct users come by `app`, join the lobby, leave it and close their socket, 25 at once
    async function comeAndGo(app: RunningApp, lobby: string): Promise<void> {
      for (let start = 0; start < USERS; start += 25)
        await Promise.all(
          Array.from({ length: Math.min(25, USERS - start) }, async (_, offset) => {
            const client = await roomsSocket(app, cluster.person().token);
            await join(client, lobby);
            const clientId = `leave-${start + offset}`;
            client.send({ type: 'leave', room_id: lobby, client_id: clientId });
            await client.next((frame) => frame.client_id === clientId);
            await client.close();
          }),
        );
    }

    it('should not keep an entry per user who came through a lobby, left and closed', async () => {
      const owner = cluster.person();
      const lobby = await createRoom(first, owner.token, 'public');
      // the lobby's one long-lived socket on this instance (a moderator who never logs off)
      const watcher = await cluster.socket(first, owner.token);
      await join(watcher, lobby);
      await comeAndGo(first, lobby);
      // every one of them left and closed: their presence settles, the versions' time is up
      await pause(PRESENCE_FORGET_MS + SETTLE_MS);
      // the watcher, and a few still within their time at most (before: one per user who came by)
      expect(held(first, lobby)).toBeLessThan(10);
      await watcher.close();
    });

    // the users come and go on the first instance; the lobby's one socket is on the second, which
    // hears of every one of them over the bus
    it('should not keep an entry per user who came through a lobby by another instance', async () => {
      const owner = cluster.person();
      const lobby = await createRoom(first, owner.token, 'public');
      const watcher = await cluster.socket(second, owner.token);
      await join(watcher, lobby);
      await comeAndGo(first, lobby);
      await pause(PRESENCE_FORGET_MS + SETTLE_MS);
      expect(held(second, lobby)).toBeLessThan(10);
      await watcher.close();
    });
  });
});
