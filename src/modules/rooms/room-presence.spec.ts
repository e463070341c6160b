import fc from 'fast-check';
import type { PresenceStatus } from '../../protocol/rooms';
import type { PresenceService } from '../presence/presence.service';
import type { ParticipantsRepository } from './participants.repository';
import type { RoomFanOut } from './room-fan-out';
import type { RoomHub } from './room-hub';
import { RoomPresence, USER_PRESENCE_MS } from './room-presence';
import { PRESENCE_FORGET_MS, RoomPresencePace } from './room-presence-pace';
import { dmRoomId } from './room-rules';

describe(RoomPresence.name, () => {
  // after the bus was away, each member's last announcement is read again and told to the hub: one
  // published while this instance's subscription was down never came (docs/protocol.md, "Presence")
  it("should tell the hub every member's last announcement of each room served here once a resync is done", async () => {
    let resynced: () => void = () => undefined;
    const refreshed: unknown[] = [];
    const hub = {
      onResynced: (listener: () => void) => (resynced = listener),
      screenPresence: () => undefined,
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
    let shown: (roomId: string, userId: string) => Promise<boolean> = () => Promise.resolve(true);
    const told: unknown[] = [];
    const hub = {
      onResynced: () => undefined,
      screenPresence: (check: typeof shown) => (shown = check),
      presenceInRooms: (...args: unknown[]) => told.push(args),
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
      // the store away for this read: the change is sent, as it was before the check
      announced: () => Promise.resolve(null),
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
    expect(told).toEqual([[['group', openDm], 'a', 'online', 3]]);
    expect(await rooms.onlineMembers(blockedDm, 'b')).toEqual(['b']);
    expect(await rooms.onlineMembers(blockedDm)).toEqual(['a', 'b']);
    expect(await rooms.onlineMembers('group', 'b')).toEqual(['a', 'b']);
    // and the frames of a change noted before the block are held back when they go out (the pace)
    expect([await shown(blockedDm, 'a'), await shown(blockedDm, 'b'), await shown(openDm, 'a')]).toEqual([
      false,
      false,
      true,
    ]);
  });

  // one user's changes cost one membership read and one hub call at once, then at most one per
  // USER_PRESENCE_MS with the newest change, however often they change and however many rooms they
  // are in (the quota audit of session 41: a member of 3,000 rooms changing ten times a second)
  it("should send a user's first change at once, then the newest at most once per USER_PRESENCE_MS", async () => {
    jest.useFakeTimers();
    try {
      let changed: (change: { userId: string; status: string; version: number }) => void = () => undefined;
      const told: unknown[] = [];
      let reads = 0;
      const hub = {
        onResynced: () => undefined,
        screenPresence: () => undefined,
        presenceInRooms: (...args: unknown[]) => told.push(args),
      } as unknown as RoomHub;
      const participants = {
        ofUser: () => {
          reads++;
          return Promise.resolve([{ room_id: 'r1' }, { room_id: 'r2' }]);
        },
      } as unknown as ParticipantsRepository;
      // the store's last announcement of each user: the newest change made
      const newest = new Map<string, number>();
      const presence = {
        onChange: (listener: typeof changed) =>
          (changed = (change) => {
            newest.set(change.userId, Math.max(newest.get(change.userId) ?? 0, change.version));
            listener(change);
          }),
        announced: (userId: string) =>
          Promise.resolve({ status: 'online', version: newest.get(userId) ?? 0 }),
      } as unknown as PresenceService;
      const blocks = {
        counterparts: () => Promise.resolve([]),
        isBlockedEitherWay: () => Promise.resolve(false),
      };
      new RoomPresence(presence, participants, hub, blocks).start();
      const settle = () => jest.advanceTimersByTimeAsync(0);
      changed({ userId: 'a', status: 'away', version: 1 });
      await settle();
      expect(told).toEqual([[['r1', 'r2'], 'a', 'away', 1]]);
      for (let version = 2; version <= 20; version++)
        changed({ userId: 'a', status: version % 2 === 0 ? 'online' : 'away', version });
      // another user is not held up by the first
      changed({ userId: 'b', status: 'online', version: 5 });
      await settle();
      expect(told).toHaveLength(2);
      await jest.advanceTimersByTimeAsync(USER_PRESENCE_MS);
      expect(told.slice(2)).toEqual([[['r1', 'r2'], 'a', 'online', 20]]);
      expect(reads).toBe(3);
      // quiet for a while: the next change goes at once again
      await jest.advanceTimersByTimeAsync(USER_PRESENCE_MS * 2);
      changed({ userId: 'a', status: 'away', version: 21 });
      await settle();
      expect(told.at(-1)).toEqual([['r1', 'r2'], 'a', 'away', 21]);
      expect(told).toHaveLength(4);
    } finally {
      jest.useRealTimers();
    }
  });

  // A newer announcement of the user was made while the memberships were read (another instance's):
  // this one is older and not sent, so what is in flight is at most one read old when a newer one is
  // noted, and the rooms keep an offline member's version only PRESENCE_FORGET_MS (the memory-leak
  // audit of session 43)
  it('should not send an announcement older than the last one made by the time its reads are done', async () => {
    let changed: (change: { userId: string; status: string; version: number }) => void = () => undefined;
    const told: unknown[] = [];
    const hub = {
      onResynced: () => undefined,
      screenPresence: () => undefined,
      presenceInRooms: (...args: unknown[]) => told.push(args),
    } as unknown as RoomHub;
    let last = 0;
    let release: () => void = () => undefined;
    const participants = {
      ofUser: () => new Promise((resolve) => (release = () => resolve([{ room_id: 'r1' }]))),
    } as unknown as ParticipantsRepository;
    const presence = {
      onChange: (listener: typeof changed) => (changed = listener),
      announced: () => Promise.resolve({ status: 'offline', version: last }),
    } as unknown as PresenceService;
    const blocks = {
      counterparts: () => Promise.resolve([]),
      isBlockedEitherWay: () => Promise.resolve(false),
    };
    new RoomPresence(presence, participants, hub, blocks).start();
    last = 7;
    changed({ userId: 'a', status: 'online', version: 7 });
    // the user's last socket closed on another instance meanwhile (version 8, announced there)
    last = 8;
    release();
    await new Promise((resolve) => setImmediate(resolve));
    expect(told).toEqual([]);
    // the newest one goes
    const again = new RoomPresence(presence, participants, hub, blocks);
    again.start();
    changed({ userId: 'a', status: 'offline', version: 8 });
    release();
    await new Promise((resolve) => setImmediate(resolve));
    expect(told).toEqual([[['r1'], 'a', 'offline', 8]]);
  });

  // a block lifted: both users' status is announced again, with new versions (the DMs audit of
  // session 41: neither side's live socket learnt the other's changes made while hidden)
  it('should announce both users again once a block between them is lifted', async () => {
    const again: string[] = [];
    const hub = { onResynced: () => undefined, screenPresence: () => undefined } as unknown as RoomHub;
    const presence = {
      onChange: () => undefined,
      announceAgain: (userId: string) => Promise.resolve(void again.push(userId)),
    } as unknown as PresenceService;
    const blocks = {
      counterparts: () => Promise.resolve([]),
      isBlockedEitherWay: () => Promise.resolve(false),
    };
    await new RoomPresence(presence, {} as ParticipantsRepository, hub, blocks).unblocked('a', 'b');
    expect(again.sort()).toEqual(['a', 'b']);
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

  // A direct message's frame is checked again as it goes out: a change noted before a block and held
  // by the pace went to the blocked user after the block's 200 (the DMs audit of session 41). Other
  // rooms are not checked; a direct message's frames still go out in order, one whose check failed
  // is dropped.
  it("should check a direct message's frame as it goes out, keep the room's order, and leave other rooms alone", async () => {
    const frames: Array<{ room: string; users: unknown }> = [];
    const fanOut = {
      deliver: (room: string, frame: { metadata: { users: unknown } }) =>
        frames.push({ room, users: frame.metadata.users }),
    } as unknown as RoomFanOut;
    const dm = dmRoomId('a', 'b');
    const pace = new RoomPresencePace(
      new Map([
        ['group', {}],
        [dm, {}],
      ]),
      fanOut,
    );
    let blocked = false;
    const asked: string[] = [];
    // the first check is slow: the next frame of the room waits for it
    let slow = true;
    pace.screen(async (roomId, userId) => {
      asked.push(`${roomId === dm ? 'dm' : roomId}:${userId}`);
      if (slow) {
        slow = false;
        await new Promise((resolve) => setTimeout(resolve, 1_500));
      }
      if (blocked === null) throw new Error('store away');
      return !blocked;
    });
    pace.note(dm, 'a', 'online', 1);
    pace.note('group', 'a', 'online', 1);
    await jest.advanceTimersByTimeAsync(1_000);
    // the room's next frame goes out now, behind the first one's check
    pace.note(dm, 'a', 'away', 2);
    await jest.advanceTimersByTimeAsync(100);
    expect(frames).toEqual([{ room: 'group', users: [{ user_id: 'a', status: 'online' }] }]);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(frames.slice(1)).toEqual([
      { room: dm, users: [{ user_id: 'a', status: 'online' }] },
      { room: dm, users: [{ user_id: 'a', status: 'away' }] },
    ]);
    // noted before the block, out after it: dropped
    pace.note(dm, 'b', 'online', 3);
    blocked = true;
    await jest.advanceTimersByTimeAsync(1_000);
    // the check cannot be read: dropped too, as a change is when noted
    blocked = null as unknown as boolean;
    pace.note(dm, 'b', 'away', 4);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(frames).toHaveLength(3);
    expect(asked).toEqual(['dm:a', 'dm:a', 'dm:b', 'dm:b']);
  });

  // The versions per member (docs/protocol.md, "Presence"): an announcement older than one noted is
  // dropped while the member is announced online or away, and for PRESENCE_FORGET_MS after they are
  // announced offline or leave the room (an older one in flight is at most a read old: RoomPresence);
  // beyond that the member's version is not kept. Until the memory-leak audit of session 43 a room that
  // always had a socket here kept the version of every user who ever joined it.
  it('should keep only the versions of members announced present, or gone within the grace, and drop older announcements meanwhile', () => {
    type Step =
      | { kind: 'note'; user: number; status: PresenceStatus; version: number }
      | { kind: 'revoke'; user: number }
      | { kind: 'advance'; ms: number };
    const step: fc.Arbitrary<Step> = fc.oneof(
      fc.record({
        kind: fc.constant('note' as const),
        user: fc.nat({ max: 3 }),
        status: fc.constantFrom<PresenceStatus>('online', 'away', 'offline'),
        version: fc.nat({ max: 30 }),
      }),
      fc.record({ kind: fc.constant('revoke' as const), user: fc.nat({ max: 3 }) }),
      fc.record({
        kind: fc.constant('advance' as const),
        ms: fc.constantFrom(100, 1_000, PRESENCE_FORGET_MS - 1, PRESENCE_FORGET_MS + 1),
      }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
        jest.setSystemTime(1_000_000);
        const pace = new RoomPresencePace(new Map([['r', {}]]), {
          deliver: () => undefined,
        } as unknown as RoomFanOut);
        const versions = (pace as unknown as { versions: Map<string, Map<string, number>> }).versions;
        // per member: the newest version taken, its status and time, and when they last left (revoke)
        // or were last announced offline
        const model = new Map<
          string,
          { version: number; status: PresenceStatus; at: number; revokedAt?: number; goneAt?: number }
        >();
        for (const item of steps) {
          const now = Date.now();
          if (item.kind === 'advance') jest.advanceTimersByTime(item.ms);
          else if (item.kind === 'revoke') {
            pace.forgetMember('r', `u${item.user}`);
            const known = model.get(`u${item.user}`);
            if (known) known.revokedAt = known.goneAt = now;
          } else {
            const userId = `u${item.user}`;
            const before = versions.get('r')?.get(userId);
            const known = model.get(userId);
            // never revoked, and announced present, or offline within the grace: the version is kept
            const kept =
              known !== undefined &&
              known.revokedAt === undefined &&
              (known.status !== 'offline' || now - known.at < PRESENCE_FORGET_MS);
            if (kept) expect(before).toBe(known.version);
            pace.note('r', userId, item.status, item.version);
            if (before !== undefined && item.version < before) {
              // the ordering: an older announcement changes nothing
              expect(versions.get('r')?.get(userId)).toBe(before);
              continue;
            }
            expect(versions.get('r')?.get(userId)).toBe(item.version);
            const goneAt = item.status === 'offline' ? now : known?.goneAt;
            model.set(userId, { ...known, version: item.version, status: item.status, at: now, goneAt });
          }
          // held only: members announced present since they last left, or gone within the grace
          const later = Date.now();
          for (const userId of versions.get('r')?.keys() ?? []) {
            const known = model.get(userId);
            expect(known).toBeDefined();
            const present =
              known!.status !== 'offline' && (known!.revokedAt === undefined || known!.revokedAt < known!.at);
            if (!present) expect(later - known!.goneAt!).toBeLessThan(PRESENCE_FORGET_MS);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
