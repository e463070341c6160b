import type { PresenceService } from '../presence/presence.service';
import type { ParticipantsRepository } from './participants.repository';
import type { RoomFanOut } from './room-fan-out';
import type { RoomHub } from './room-hub';
import { RoomPresence } from './room-presence';
import { RoomPresencePace } from './room-presence-pace';
import { dmRoomId } from './room-rules';

describe(RoomPresence.name, () => {
  // after the bus was away, each member's last announcement is read again and told to the hub: one
  // published while this instance's subscription was down never came (docs/protocol.md, "Presence")
  it("should tell the hub every member's last announcement of each room served here once a resync is done", async () => {
    let resynced: () => void = () => undefined;
    const refreshed: unknown[] = [];
    const hub = {
      onResynced: (listener: () => void) => (resynced = listener),
      roomsHere: () => ['r1', 'r2'],
      presenceRefreshed: (...args: unknown[]) => refreshed.push(args),
    } as unknown as RoomHub;
    const participants = {
      ofRoom: (roomId: string) =>
        Promise.resolve(roomId === 'r1' ? [{ user_id: 'x' }, { user_id: 'y' }] : [{ user_id: 'x' }]),
    } as unknown as ParticipantsRepository;
    const presence = {
      onChange: () => undefined,
      // y's announcement cannot be read (the store away again): nothing is told of y
      announced: (userId: string) =>
        Promise.resolve(userId === 'x' ? { status: 'offline', version: 7 } : null),
    } as unknown as PresenceService;
    const blocks = {
      counterparts: () => Promise.resolve([]),
      isBlockedEitherWay: () => Promise.resolve(false),
    };
    new RoomPresence(presence, participants, hub, blocks).start();
    resynced();
    await new Promise((resolve) => setImmediate(resolve));
    expect(refreshed).toEqual([
      ['r1', 'x', 'offline', 7],
      ['r2', 'x', 'offline', 7],
    ]);
  });

  // a direct message across a block, either way: neither side's presence goes there (a presence
  // audit in session 40); the user's other rooms still hear it
  it('should tell no presence change to a direct message across a block, and show the other side offline there', async () => {
    let changed: (change: { userId: string; status: string; version: number }) => void = () => undefined;
    const told: unknown[] = [];
    const hub = {
      onResynced: () => undefined,
      presence: (...args: unknown[]) => told.push(args),
    } as unknown as RoomHub;
    const blockedDm = dmRoomId('a', 'b');
    const openDm = dmRoomId('a', 'c');
    const participants = {
      ofUser: () => Promise.resolve([{ room_id: 'group' }, { room_id: blockedDm }, { room_id: openDm }]),
      ofRoom: () => Promise.resolve([{ user_id: 'a' }, { user_id: 'b' }]),
    } as unknown as ParticipantsRepository;
    const presence = {
      onChange: (listener: typeof changed) => (changed = listener),
      statusOf: (ids: string[]) => Promise.resolve(new Map(ids.map((id) => [id, 'online']))),
    } as unknown as PresenceService;
    // b blocked a (or a blocked b: counterparts is either way)
    const blocks = {
      counterparts: (userId: string) => Promise.resolve(userId === 'a' ? ['b'] : ['a']),
      isBlockedEitherWay: () => Promise.resolve(true),
    };
    const rooms = new RoomPresence(presence, participants, hub, blocks);
    rooms.start();
    changed({ userId: 'a', status: 'online', version: 3 });
    await new Promise((resolve) => setImmediate(resolve));
    expect(told).toEqual([
      ['group', 'a', 'online', 3],
      [openDm, 'a', 'online', 3],
    ]);
    expect(await rooms.onlineMembers(blockedDm, 'b')).toEqual(['b']);
    expect(await rooms.onlineMembers(blockedDm)).toEqual(['a', 'b']);
    expect(await rooms.onlineMembers('group', 'b')).toEqual(['a', 'b']);
  });
});

describe(RoomPresencePace.name, () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('should tell a refreshed announcement only when it is newer than the one noted, and never an older one', async () => {
    const frames: unknown[] = [];
    const fanOut = {
      deliver: (_room: string, frame: unknown) => frames.push(frame),
    } as unknown as RoomFanOut;
    const pace = new RoomPresencePace(new Map([['r', {}]]), fanOut);
    const users = () => frames.map((frame) => (frame as { metadata: { users: unknown[] } }).metadata.users);
    pace.note('r', 'x', 'online', 5);
    await jest.advanceTimersByTimeAsync(1_000);
    // the same announcement read again after an outage: nothing new
    pace.note('r', 'x', 'online', 5, true);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(users()).toEqual([[{ user_id: 'x', status: 'online' }]]);
    // an older one: dropped; a newer one: told
    pace.note('r', 'x', 'away', 4, true);
    pace.note('r', 'x', 'offline', 6, true);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(users()).toEqual([[{ user_id: 'x', status: 'online' }], [{ user_id: 'x', status: 'offline' }]]);
  });
});
