import fc from 'fast-check';
import { WebSocket } from 'ws';
import { InProcessBus, InProcessNetwork } from '../../infra/bus/in-process.bus';
import type { RoomServerFrame } from '../../protocol/rooms';
import type { Connection } from '../realtime/connection';
import { ROOM_GAP_MS } from './room-fan-out';
import { RoomHub } from './room-hub';
import { PRESENCE_COALESCE_MS } from './room-presence-pace';
import type { ParticipantsRepository } from './participants.repository';
import type { RoomMessagesRepository } from './room-messages.repository';
import type { ParticipantRecord, ParticipantState } from './room.types';
import type { RoomMessageRecord } from './room.types';

let nextId = 0;
function connection(userId = 'user-1'): { connection: Connection; sent: () => RoomServerFrame[] } {
  const send = jest.fn();
  const socket = { readyState: WebSocket.OPEN, bufferedAmount: 0, send, close: jest.fn() };
  return {
    connection: {
      id: `c${++nextId}`,
      socket: socket as unknown as WebSocket,
      principal: { userId, roles: [], isAdmin: false, expiresAt: Date.now() + 60_000 },
      sessionId: '',
      alive: true,
      seenAt: Date.now(),
      pending: null,
    },
    sent: () => send.mock.calls.map((call) => JSON.parse(call[0] as string) as RoomServerFrame),
  };
}

const stored: RoomMessageRecord[] = [];
// a message of `roomId` the store holds (the gap reads find it there)
function storedMessage(id: string, roomId: string, seq: number, content: string): RoomMessageRecord {
  const at = new Date(0);
  return {
    id,
    room_id: roomId,
    seq,
    sender_id: 'x',
    kind: 'text',
    content,
    created_at: at,
    edited_at: null,
    deleted_at: null,
  };
}
const repository = {
  noteStored: () => undefined,
  after: (roomId: string, seq: number) =>
    Promise.resolve(stored.filter((message) => message.room_id === roomId && message.seq > seq)),
} as unknown as RoomMessagesRepository;

// memberships as the store holds them: everyone a member unless set here; `reads` the reads to hold
const states = new Map<string, ParticipantState>();
let membershipRead: Promise<void> = Promise.resolve();
const participants = {
  findMany: async (roomId: string, userIds: string[]) => {
    await membershipRead;
    return new Map(
      userIds.map((userId) => [
        userId,
        {
          room_id: roomId,
          user_id: userId,
          role: 'member',
          state: states.get(userId) ?? 'member',
        } as ParticipantRecord,
      ]),
    );
  },
} as unknown as ParticipantsRepository;

function message(seq: number, roomId = 'r1'): RoomServerFrame {
  return {
    type: 'chat',
    room_id: roomId,
    message_id: `m${seq}`,
    seq,
    user_id: 'someone',
    timestamp: new Date(0).toISOString(),
    metadata: { kind: 'text' },
  };
}

function pair(): [RoomHub, RoomHub] {
  const network = new InProcessNetwork();
  const hubs: [RoomHub, RoomHub] = [
    new RoomHub(new InProcessBus(network), repository, participants),
    new RoomHub(new InProcessBus(network), repository, participants),
  ];
  for (const hub of hubs) hub.onModuleInit();
  return hubs;
}

// someone's 👍 on message 2 of the room (change 1)
function reaction(roomId: string): Extract<RoomServerFrame, { type: 'react' }> {
  return {
    type: 'react',
    room_id: roomId,
    message_id: 'm2',
    seq: 2,
    user_id: 'someone',
    timestamp: new Date(0).toISOString(),
    content: '👍',
    metadata: { removed: false, change: 1 },
  };
}

// Two instances and a socket on the second, ready at seq 0, with message 2 written on the first:
// held there until message 1 comes.
function secondHeld() {
  const [one, two] = pair();
  const watcher = connection();
  two.subscribe(watcher.connection, 'r1');
  two.ready(watcher.connection, 'r1', 0);
  one.toRoom('r1', message(2));
  return { one, two, watcher };
}

describe(RoomHub.name, () => {
  afterEach(() => jest.useRealTimers());

  it('should deliver to subscribers on both instances, except the sender, and serialize once per instance', () => {
    const [one, two] = pair();
    const sender = connection('a');
    const local = connection('b');
    const remote = connection('c');
    const outsider = connection('d');
    for (const [hub, item] of [
      [one, sender],
      [one, local],
      [two, remote],
    ] as const) {
      hub.subscribe(item.connection, 'r1');
      hub.ready(item.connection, 'r1', 0);
    }
    const stringify = jest.spyOn(JSON, 'stringify');
    one.toRoom('r1', message(1), sender.connection);
    // once per instance, whatever the number of its sockets (the in-process bus copies without JSON)
    expect(stringify).toHaveBeenCalledTimes(2);
    stringify.mockRestore();
    expect(local.sent()).toEqual([message(1)]);
    expect(remote.sent()).toEqual([message(1)]);
    expect(sender.sent()).toEqual([]);
    expect(outsider.sent()).toEqual([]);
  });

  // the batching of a turn's frames into one write per socket is writeData's (write-data.spec.ts)
  it('should encode a frame once to bytes for all its sockets, sent as a text frame', () => {
    const [hub] = pair();
    const members = [connection('a'), connection('b')];
    for (const member of members) {
      hub.subscribe(member.connection, 'r1');
      hub.ready(member.connection, 'r1', 0);
    }
    hub.toRoom('r1', message(1));
    hub.toRoom('r1', message(2));
    const first = (members[0].connection.socket.send as jest.Mock).mock.calls;
    const second = (members[1].connection.socket.send as jest.Mock).mock.calls;
    // the same bytes, encoded once, to both sockets, as a text frame
    expect(first[0][0]).toBeInstanceOf(Buffer);
    expect(first[0][0]).toBe(second[0][0]);
    expect(first[0][1]).toEqual({ binary: false });
    for (const member of members)
      expect(member.sent().map((frame) => frame.type === 'chat' && frame.seq)).toEqual([1, 2]);
  });

  it('should hold live frames during a join replay and drop what the replay already gave', () => {
    const [hub] = pair();
    const joining = connection();
    hub.subscribe(joining.connection, 'r1');
    hub.toRoom('r1', message(3));
    hub.toRoom('r1', message(4));
    expect(joining.sent()).toEqual([]);
    hub.ready(joining.connection, 'r1', 3);
    expect(joining.sent().map((frame) => frame.type === 'chat' && frame.seq)).toEqual([4]);
  });

  it('should deliver crossing messages in seq order, filling a gap from the store', async () => {
    jest.useFakeTimers();
    const { one, two, watcher } = secondHeld();
    expect(watcher.sent()).toEqual([]);
    two.toRoom('r1', message(1));
    expect(watcher.sent().map((frame) => frame.type === 'chat' && frame.seq)).toEqual([1, 2]);
    // seq 3 never arrives on the bus: read from the store after the gap wait
    stored.push(storedMessage('m3', 'r1', 3, 'from the store'));
    one.toRoom('r1', message(4));
    await jest.advanceTimersByTimeAsync(300);
    expect(watcher.sent().map((frame) => frame.type === 'chat' && frame.seq)).toEqual([1, 2, 3, 4]);
  });

  // Writers finish out of order; the room puts the frames back in order once for all its sockets,
  // and a seq that never comes is read from the store once per room, not once per socket.
  // An edit or a delete of a message whose `chat` is still held (a lower seq missing) must not
  // overtake it: the client drops a change to a message it does not hold, and the `chat` that comes
  // next would show the deleted text (the rooms chaos's client view, test/chaos/room-chaos.ts).
  it('should send an edit or a delete of a held message after that message, not before', () => {
    const { one, two, watcher } = secondHeld();
    const edit: RoomServerFrame = {
      type: 'edit',
      room_id: 'r1',
      message_id: 'm2',
      seq: 2,
      user_id: 'someone',
      timestamp: new Date(0).toISOString(),
      content: 'edited',
      metadata: { edited_at: new Date(0).toISOString() },
    };
    const remove: RoomServerFrame = {
      type: 'delete',
      room_id: 'r1',
      message_id: 'm2',
      seq: 2,
      user_id: 'someone',
      timestamp: new Date(0).toISOString(),
    };
    one.toRoom('r1', edit);
    two.toRoom('r1', remove);
    expect(watcher.sent()).toEqual([]);
    two.toRoom('r1', message(1));
    expect(watcher.sent()).toEqual([message(1), message(2), edit, remove]);
    // held by the room's order on the instance (before any socket's): the same
    one.toRoom('r1', message(4));
    const removeFour = { ...remove, message_id: 'm4', seq: 4 };
    one.toRoom('r1', removeFour);
    two.toRoom('r1', message(3));
    expect(watcher.sent().slice(4)).toEqual([message(3), message(4), removeFour]);
  });

  // A reaction as an edit: the client drops a `react` of a message it does not hold, and counts
  // its change number as had (docs/protocol.md, "Change log"); the `chat` read from the store after
  // it carries no reactions, so the device would never show it (the rooms chaos's reactionsMissed).
  it('should send a reaction of a held message after that message, not before', () => {
    const { two, watcher } = secondHeld();
    const react = reaction('r1');
    two.toRoom('r1', react);
    expect(watcher.sent()).toEqual([]);
    two.toRoom('r1', message(1));
    expect(watcher.sent()).toEqual([message(1), message(2), react]);
  });

  // The message's `chat` never reached this instance (the bus dropped it while Redis was away, or its
  // writer died before sending it): a change of it waits until the room reads it from the store.
  it('should hold a change of a message this instance has not had yet until the store gives it', async () => {
    jest.useFakeTimers();
    const [one, two] = pair();
    const watcher = connection();
    two.subscribe(watcher.connection, 'r12');
    two.ready(watcher.connection, 'r12', 0);
    two.toRoom('r12', message(1, 'r12'));
    stored.push(storedMessage('m2', 'r12', 2, 'from the store'));
    const react = reaction('r12');
    one.toRoom('r12', react);
    const edit: RoomServerFrame = {
      type: 'edit',
      room_id: 'r12',
      message_id: 'm2',
      seq: 2,
      user_id: 'x',
      timestamp: new Date(0).toISOString(),
      content: 'edited',
      metadata: { edited_at: new Date(0).toISOString(), change: 2 },
    };
    two.toRoom('r12', edit);
    expect(watcher.sent()).toEqual([message(1, 'r12')]);
    await jest.advanceTimersByTimeAsync(ROOM_GAP_MS);
    const sent = watcher.sent();
    expect(sent.map((frame) => frame.type)).toEqual(['chat', 'chat', 'react', 'edit']);
    expect(sent[1]).toMatchObject({ message_id: 'm2', seq: 2 });
    expect(sent.slice(2)).toEqual([react, edit]);
    // the store away: what waits goes out after the read rather than never
    const lost: RoomServerFrame = {
      ...react,
      message_id: 'm7',
      seq: 7,
      metadata: { removed: true, change: 3 },
    };
    const reads = jest.spyOn(repository, 'after').mockRejectedValueOnce(new Error('store away'));
    one.toRoom('r12', lost);
    expect(watcher.sent()).toHaveLength(4);
    await jest.advanceTimersByTimeAsync(ROOM_GAP_MS);
    expect(watcher.sent().slice(4)).toEqual([lost]);
    reads.mockRestore();
  });

  // A quiet room: no message of it went out here since its sockets joined, so the instance has no
  // order of the room yet. A change of a message above where its sockets stand (the message's
  // instance paused before fanning it out) waits for it all the same: the pause audit of session 44.
  it('should hold a change of a message above where the sockets stand in a room with no message fanned out here yet', async () => {
    jest.useFakeTimers();
    const [one, two] = pair();
    const watchers = [connection(), connection()];
    for (const [index, watcher] of watchers.entries()) {
      two.subscribe(watcher.connection, 'r13');
      two.ready(watcher.connection, 'r13', 3 + index);
    }
    stored.push(storedMessage('m5', 'r13', 5, 'from the store'));
    const remove: RoomServerFrame = {
      type: 'delete',
      room_id: 'r13',
      message_id: 'm5',
      seq: 5,
      user_id: 'x',
      timestamp: new Date(0).toISOString(),
    };
    // a change of a message every socket here has goes straight out
    const older = { ...remove, message_id: 'm3', seq: 3 };
    two.toRoom('r13', older);
    for (const watcher of watchers) expect(watcher.sent()).toEqual([older]);
    two.toRoom('r13', remove);
    for (const watcher of watchers) expect(watcher.sent()).toEqual([older]);
    // (the socket at 3 reads seq 4, absent here, itself: SeqOrder's wait)
    await jest.advanceTimersByTimeAsync(ROOM_GAP_MS + 250);
    for (const watcher of watchers) {
      const sent = watcher.sent();
      expect(
        sent.map((frame) => `${frame.type}:${String((frame as { message_id?: string }).message_id)}`),
      ).toEqual(['delete:m3', 'chat:m5', 'delete:m5']);
    }
    // the message's own `chat`, once its instance resumes: had already
    one.toRoom('r13', message(5, 'r13'));
    for (const watcher of watchers) expect(watcher.sent()).toHaveLength(3);
    // a change of a message the store never got (its insert failed): out after the read, not held
    const never = { ...remove, message_id: 'm9', seq: 9 };
    two.toRoom('r13', never);
    await jest.advanceTimersByTimeAsync(ROOM_GAP_MS);
    for (const watcher of watchers) expect(watcher.sent().slice(3)).toEqual([never]);
  });

  it('should order a room once for all its sockets and read a missing seq once per room', async () => {
    jest.useFakeTimers();
    const [one, two] = pair();
    const watchers = Array.from({ length: 3 }, () => connection());
    for (const watcher of watchers) {
      two.subscribe(watcher.connection, 'r7');
      two.ready(watcher.connection, 'r7', 0);
    }
    const sender = connection('sender');
    two.subscribe(sender.connection, 'r7');
    two.ready(sender.connection, 'r7', 0);
    const seqs = (item: { sent: () => RoomServerFrame[] }) =>
      item.sent().map((frame) => frame.type === 'chat' && frame.seq);
    two.toRoom('r7', message(1, 'r7'));
    // 3 (its sender's own socket gets the ack instead) overtakes 2
    two.toRoom('r7', message(3, 'r7'), sender.connection);
    one.toRoom('r7', message(2, 'r7'));
    for (const watcher of watchers) expect(seqs(watcher)).toEqual([1, 2, 3]);
    expect(seqs(sender)).toEqual([1, 2]);
    const reads = jest.spyOn(repository, 'after');
    stored.push(storedMessage('m4', 'r7', 4, 'from the store'));
    one.toRoom('r7', message(5, 'r7'));
    await jest.advanceTimersByTimeAsync(ROOM_GAP_MS - 1);
    expect(seqs(watchers[0])).toEqual([1, 2, 3]);
    await jest.advanceTimersByTimeAsync(1);
    for (const watcher of [...watchers, sender]) expect(seqs(watcher).slice(-2)).toEqual([4, 5]);
    expect(reads).toHaveBeenCalledTimes(1);
    reads.mockRestore();
  });

  it("should revoke a user's subscriptions on every instance", () => {
    const [one, two] = pair();
    const kicked = connection('kicked');
    const stays = connection('stays');
    for (const item of [kicked, stays]) {
      two.subscribe(item.connection, 'r1');
      two.ready(item.connection, 'r1', 0);
    }
    one.revoke('r1', 'kicked');
    one.toRoom('r1', message(1));
    expect(kicked.sent()).toEqual([]);
    expect(stays.sent()).toHaveLength(1);
    expect(two.isSubscribed(kicked.connection, 'r1')).toBe(false);
    two.drop(stays.connection);
    expect(two.isSubscribed(stays.connection, 'r1')).toBe(false);
  });

  it('should fold presence changes into at most one frame per room per second, naming whose came last', async () => {
    jest.useFakeTimers();
    const [one, two] = pair();
    const watcher = connection();
    two.subscribe(watcher.connection, 'r1');
    two.ready(watcher.connection, 'r1', 0);
    one.presence('r1', 'a', 'online', 1);
    await jest.advanceTimersByTimeAsync(0);
    one.presence('r1', 'b', 'online', 2);
    two.presence('r1', 'a', 'away', 3);
    one.presence('r1', 'b', 'offline', 4);
    await jest.advanceTimersByTimeAsync(PRESENCE_COALESCE_MS - 10);
    expect(watcher.sent()).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(20);
    const frames = watcher.sent();
    expect(frames).toHaveLength(2);
    expect(frames[0]).toEqual({
      type: 'presence',
      room_id: 'r1',
      user_id: 'a',
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      metadata: { users: [{ user_id: 'a', status: 'online' }] },
    });
    expect(frames[1]).toMatchObject({
      user_id: 'b',
      metadata: {
        users: [
          { user_id: 'b', status: 'offline' },
          { user_id: 'a', status: 'away' },
        ],
      },
    });
  });

  // Each instance announces what it changed, numbered by the presence store (docs/protocol.md,
  // "Presence"): the membership read and the bus between a change and its note take their own time, so
  // an older announcement can come after a newer one; it must not undo it (black-box audit, t3)
  it("should keep a member's newest announced status when an older announcement comes after it", async () => {
    jest.useFakeTimers();
    const [one, two] = pair();
    const watchers = [connection(), connection()];
    for (const [index, hub] of [one, two].entries()) {
      hub.subscribe(watchers[index].connection, 'r1');
      hub.ready(watchers[index].connection, 'r1', 0);
    }
    // the user's socket on `two` opened (version 8) after the one on `one` closed (version 7)
    two.presence('r1', 'mover', 'online', 8);
    one.presence('r1', 'mover', 'offline', 7);
    await jest.advanceTimersByTimeAsync(PRESENCE_COALESCE_MS * 2);
    for (const watcher of watchers)
      expect(watcher.sent().at(-1)).toMatchObject({
        type: 'presence',
        metadata: { users: [{ user_id: 'mover', status: 'online' }] },
      });
    // a later change still counts, and the same announcement again (a join) is no older
    one.presence('r1', 'mover', 'away', 9);
    two.presence('r1', 'mover', 'away', 9);
    await jest.advanceTimersByTimeAsync(PRESENCE_COALESCE_MS * 2);
    for (const watcher of watchers)
      expect(watcher.sent().at(-1)).toMatchObject({
        metadata: { users: [{ user_id: 'mover', status: 'away' }] },
      });
  });

  // a bus that lost touch with the others: nothing goes out, resync() says it is back
  function awayBus(): { hub: RoomHub; resync: () => void } {
    let resync: () => void = () => undefined;
    const bus = {
      instanceId: 'x',
      kind: 'redis' as const,
      publish: () => undefined,
      publishConfirmed: () => Promise.resolve(false),
      subscribe: () => undefined,
      onResync: (handler: () => void) => (resync = handler),
      health: () => Promise.resolve({ up: true }),
      close: () => Promise.resolve(),
    };
    const hub = new RoomHub(bus, repository, participants);
    hub.onModuleInit();
    return { hub, resync: () => resync() };
  }

  it('should tell every instance that the public rooms changed, and itself again when the bus comes back', () => {
    const [first, second] = pair();
    const heard = { first: 0, second: 0 };
    first.onPublicRoomsChanged(() => heard.first++);
    second.onPublicRoomsChanged(() => heard.second++);
    first.publicRoomsChanged();
    expect(heard).toEqual({ first: 1, second: 1 });
    // a change published while this instance was away never reached it
    const { hub, resync } = awayBus();
    let away = 0;
    hub.onPublicRoomsChanged(() => away++);
    resync();
    expect(away).toBe(1);
  });

  it('should read what a subscriber missed from the store when the bus comes back', async () => {
    const { hub, resync } = awayBus();
    const watcher = connection();
    hub.subscribe(watcher.connection, 'r9');
    hub.ready(watcher.connection, 'r9', 0);
    stored.push(storedMessage('m9', 'r9', 1, 'sent while the bus was away'));
    resync();
    await new Promise((resolve) => setImmediate(resolve));
    expect(watcher.sent()).toMatchObject([
      { type: 'chat', room_id: 'r9', seq: 1, content: 'sent while the bus was away' },
    ]);
  });

  it('should unsubscribe a user kicked while the bus was away before anything reaches them, holding frames meanwhile', async () => {
    const { hub, resync } = awayBus();
    const kicked = connection('kicked-away');
    const stays = connection('stays-away');
    for (const item of [kicked, stays]) {
      hub.subscribe(item.connection, 'r8');
      hub.ready(item.connection, 'r8', 0);
    }
    // the kick was written on another instance; its revoke never came
    states.set('kicked-away', 'kicked');
    let read: () => void = () => undefined;
    membershipRead = new Promise((resolve) => (read = resolve));
    resync();
    // a message of this instance's while the memberships are read: held
    hub.toRoom('r8', message(1, 'r8'));
    await new Promise((resolve) => setImmediate(resolve));
    expect([kicked.sent(), stays.sent()]).toEqual([[], []]);
    read();
    await new Promise((resolve) => setImmediate(resolve));
    hub.toRoom('r8', message(2, 'r8'));
    expect(kicked.sent()).toEqual([]);
    expect(hub.isSubscribed(kicked.connection, 'r8')).toBe(false);
    expect(stays.sent().map((frame) => frame.type === 'chat' && frame.seq)).toEqual([1, 2]);
    membershipRead = Promise.resolve();
  });

  // The fan-out's straight path (the next seq through the socket's kept position) and SeqOrder's
  // holding, gap reads and drops, together: whatever the order the room's messages reach two
  // instances in (crossing, repeated), whoever sent them and whenever each socket joined, every
  // socket gets each seq after its join point exactly once and in order, or has it as its own ack.
  it('should give every socket each seq after its join once and in order (property)', async () => {
    jest.useFakeTimers();
    let room = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 12 }).chain((count) =>
          fc.record({
            count: fc.constant(count),
            // the messages as they reach the instances: each once with its sender, some again
            arrivals: fc
              .tuple(
                fc.shuffledSubarray(
                  Array.from({ length: count }, (_, index) => index + 1),
                  { minLength: count, maxLength: count },
                ),
                fc.array(fc.integer({ min: 1, max: count }), { maxLength: 4 }),
              )
              .chain(([firsts, again]) =>
                fc.tuple(
                  ...[
                    ...firsts.map((seq) => [seq, true] as const),
                    ...again.map((seq) => [seq, false] as const),
                  ].map(([seq, first]) =>
                    fc.record({
                      seq: fc.constant(seq),
                      hub: fc.integer({ min: 0, max: 1 }),
                      // its sender's socket (acked instead), if one of those here
                      sender: first ? fc.option(fc.integer({ min: 0, max: 3 })) : fc.constant(null),
                    }),
                  ),
                ),
              )
              .chain((arrivals) =>
                fc.shuffledSubarray(arrivals, { minLength: arrivals.length, maxLength: arrivals.length }),
              ),
            // per socket: its instance, when it subscribes and when its replay ends (arrivals
            // before each), and the seq its replay stood at (at least every seq sent before it)
            sockets: fc.array(
              fc.record({
                hub: fc.integer({ min: 0, max: 1 }),
                subscribeAt: fc.integer({ min: 0, max: count + 4 }),
                readyAfter: fc.integer({ min: 0, max: 3 }),
                point: fc.integer({ min: 0, max: count }),
              }),
              { minLength: 1, maxLength: 4 },
            ),
          }),
        ),
        async ({ count, arrivals, sockets }) => {
          const roomId = `rp${++room}`;
          const hubs = pair();
          for (let seq = 1; seq <= count; seq++)
            stored.push({
              id: `m${seq}`,
              room_id: roomId,
              seq,
              sender_id: 'someone',
              kind: 'text',
              created_at: new Date(0),
              edited_at: null,
              deleted_at: null,
            });
          const members = sockets.map((socket) => ({
            ...socket,
            ...connection(),
            ready: false,
            own: new Set<number>(),
          }));
          let highest = 0;
          const step = (index: number) => {
            for (const member of members) {
              if (member.subscribeAt === index) {
                hubs[member.hub].subscribe(member.connection, roomId);
                // the replay reads the store after the subscribe: every message sent before it (stored
                // before it was sent) is in it
                member.point = Math.max(member.point, highest);
              }
              if (member.subscribeAt + member.readyAfter === index && !member.ready) {
                hubs[member.hub].ready(member.connection, roomId, member.point);
                member.ready = true;
              }
            }
          };
          for (const [index, arrival] of arrivals.entries()) {
            step(index);
            // a sender's socket is one ready on the instance that stored the message
            const sender = members.find(
              (member, at) => at === arrival.sender && member.ready && member.hub === arrival.hub,
            );
            if (sender) sender.own.add(arrival.seq);
            hubs[arrival.hub].toRoom(roomId, message(arrival.seq, roomId), sender?.connection);
            highest = Math.max(highest, arrival.seq);
          }
          for (let index = arrivals.length; index <= count + 8; index++) step(index);
          await jest.advanceTimersByTimeAsync(60_000);
          for (const member of members) {
            const seqs = member.sent().map((frame) => (frame.type === 'chat' ? frame.seq : -1));
            const expected = Array.from({ length: count }, (_, index) => index + 1).filter(
              (seq) => seq > member.point,
            );
            // in order, each once, nothing at or before the join point
            expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
            expect(new Set(seqs).size).toBe(seqs.length);
            expect(seqs.every((seq) => seq > member.point)).toBe(true);
            // every seq after the point: received, or the socket's own (acked)
            expect(expected.filter((seq) => !seqs.includes(seq) && !member.own.has(seq))).toEqual([]);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
