import fc from 'fast-check';
import { WebSocket } from 'ws';
import type { Settings } from '../../config/settings';
import type { Bus, BusHandler } from '../../infra/bus/bus';
import {
  InProcessPresenceStore,
  type DeviceStatus,
  type PresenceStore,
} from '../../infra/presence/presence-store';
import type { RoomServerFrame } from '../../protocol/rooms';
import type { Connection } from '../realtime/connection';
import type { ParticipantsRepository } from '../rooms/participants.repository';
import { RoomHub } from '../rooms/room-hub';
import type { RoomMessagesRepository } from '../rooms/room-messages.repository';
import { PRESENCE_COALESCE_MS } from '../rooms/room-presence-pace';
import { PresenceService } from './presence.service';

const TIMEOUT = 3000;
const INSTANCES = 3;
const USERS = ['u0', 'u1'];
const ROOM = 'r';

type Command =
  | { kind: 'open'; instance: number; user: number }
  | { kind: 'close'; socket: number }
  | { kind: 'status'; socket: number; status: DeviceStatus }
  | { kind: 'silence'; socket: number }
  | { kind: 'life'; socket: number }
  | { kind: 'sweep'; instance: number }
  | { kind: 'advance'; ms: number };

const socketIndex = fc.nat({ max: 20 });
const command: fc.Arbitrary<Command> = fc.oneof(
  {
    arbitrary: fc.record({
      kind: fc.constant('open' as const),
      instance: fc.nat({ max: INSTANCES - 1 }),
      user: fc.nat({ max: USERS.length - 1 }),
    }),
    weight: 4,
  },
  { arbitrary: fc.record({ kind: fc.constant('close' as const), socket: socketIndex }), weight: 3 },
  {
    arbitrary: fc.record({
      kind: fc.constant('status' as const),
      socket: socketIndex,
      status: fc.constantFrom<DeviceStatus>('online', 'away'),
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ kind: fc.constant('silence' as const), socket: socketIndex }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('life' as const), socket: socketIndex }), weight: 1 },
  {
    arbitrary: fc.record({ kind: fc.constant('sweep' as const), instance: fc.nat({ max: INSTANCES - 1 }) }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      ms: fc.constantFrom(TIMEOUT / 3 + 1, TIMEOUT + 1),
    }),
    weight: 1,
  },
);

// The shared store as one instance reaches it, each call run when the scheduler picks it: the
// instances' calls in any order, one instance's in the order it made them (one Redis connection runs
// its commands in order).
function scheduledStore(store: PresenceStore, s: fc.Scheduler): PresenceStore {
  let queue: Promise<unknown> = Promise.resolve();
  const later = <T>(label: string, call: () => Promise<T>): Promise<T> => {
    const result = queue.then(() => s.schedule(Promise.resolve(), label)).then(call);
    queue = result.catch(() => undefined);
    return result;
  };
  return {
    touch: (...args) => later('store.touch', () => store.touch(...args)),
    remove: (...args) => later('store.remove', () => store.remove(...args)),
    settle: (...args) => later('store.settle', () => store.settle(...args)),
    statusOf: (...args) => later('store.statusOf', () => store.statusOf(...args)),
    announced: (...args) => later('store.announced', () => store.announced(...args)),
    close: () => store.close(),
  };
}

// Redis pub/sub between the instances, each message to each instance when the scheduler picks it.
class ScheduledBus implements Bus {
  readonly kind = 'redis';
  private readonly handlers = new Map<string, BusHandler[]>();

  constructor(
    readonly instanceId: string,
    private readonly members: ScheduledBus[],
    private readonly s: fc.Scheduler,
  ) {
    members.push(this);
  }

  publish(topic: string, payload: unknown): void {
    for (const member of this.members)
      if (member !== this)
        void this.s
          .schedule(Promise.resolve(), `bus to ${member.instanceId}`)
          .then(() => member.receive(topic, structuredClone(payload), this.instanceId));
  }

  publishConfirmed(topic: string, payload: unknown): Promise<boolean> {
    this.publish(topic, payload);
    return Promise.resolve(true);
  }

  subscribe(topic: string, handler: BusHandler): void {
    this.handlers.set(topic, [...(this.handlers.get(topic) ?? []), handler]);
  }

  onResync(): void {}

  health(): Promise<{ up: boolean }> {
    return Promise.resolve({ up: true });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private receive(topic: string, payload: unknown, from: string): void {
    for (const handler of this.handlers.get(topic) ?? []) handler(payload, from);
  }
}

let nextId = 0;
function socketOf(userId: string): { connection: Connection; sent: RoomServerFrame[] } {
  const sent: RoomServerFrame[] = [];
  const socket = {
    readyState: WebSocket.OPEN,
    OPEN: WebSocket.OPEN,
    bufferedAmount: 0,
    ping: () => undefined,
    close: () => undefined,
    send: (data: string) => sent.push(JSON.parse(data) as RoomServerFrame),
  };
  return {
    connection: {
      id: `c${++nextId}`,
      socket: socket as unknown as WebSocket,
      principal: { userId, roles: [], isAdmin: false, expiresAt: Date.now() + 3_600_000 },
      sessionId: '',
      alive: true,
      seenAt: Date.now(),
      pending: null,
    },
    sent,
  };
}

const messages = {
  noteStored: () => undefined,
  after: () => Promise.resolve([]),
} as unknown as RoomMessagesRepository;
const participants = {} as unknown as ParticipantsRepository;

// The status each watcher's room was told last of each user (none told: offline).
function told(sent: RoomServerFrame[]): Map<string, string> {
  const last = new Map<string, string>(USERS.map((user) => [user, 'offline']));
  for (const frame of sent)
    if (frame.type === 'presence')
      for (const user of frame.metadata.users) last.set(user.user_id, user.status);
  return last;
}

// PRESENCE-001..004 over several instances (docs/protocol.md, "Presence"): whatever the order in which
// sockets open, close, change status, go silent and are swept on any instance, whatever the order in
// which the store answers and the announcements cross the membership reads and the bus, once things
// settle every instance's rooms were told last each user's real status.
describe(PresenceService.name, () => {
  beforeEach(() => jest.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => jest.useRealTimers());

  it("should leave every room told each user's real status when any interleaving over several instances settles", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.array(command, { minLength: 1, maxLength: 24 }),
        async (s, commands) => {
          const store = new InProcessPresenceStore(TIMEOUT);
          const buses: ScheduledBus[] = [];
          const settings = { rooms: { presenceTimeoutMs: TIMEOUT } } as Settings;
          const instances = Array.from({ length: INSTANCES }, (_, index) => {
            const presence = new PresenceService(scheduledStore(store, s), settings);
            const hub = new RoomHub(new ScheduledBus(`i${index}`, buses, s), messages, participants);
            hub.onModuleInit();
            // as RoomsService: the user's rooms read, then the room's hub told
            presence.onChange((change) => {
              void s
                .schedule(Promise.resolve(), `memberships of ${change.userId}`)
                .then(() => hub.presence(ROOM, change.userId, change.status, change.version));
            });
            const watcher = socketOf('watcher');
            hub.subscribe(watcher.connection, ROOM);
            hub.ready(watcher.connection, ROOM, 0);
            return { presence, watcher };
          });
          const sockets: Array<{ connection: Connection; instance: number }> = [];
          for (const item of commands)
            if (item.kind === 'open')
              sockets.push({ connection: socketOf(USERS[item.user]).connection, instance: item.instance });
          const pick = (index: number) => (sockets.length > 0 ? sockets[index % sockets.length] : undefined);
          let opened = 0;
          const run = async (item: Command): Promise<void> => {
            switch (item.kind) {
              case 'open': {
                const socket = sockets[opened++];
                socket.connection.seenAt = Date.now();
                return instances[socket.instance].presence.connect(socket.connection);
              }
              case 'close': {
                const socket = pick(item.socket);
                if (!socket) return;
                // as the gateways: marked closed, then dropped
                socket.connection.closed = true;
                return instances[socket.instance].presence.disconnect(socket.connection);
              }
              case 'status': {
                const socket = pick(item.socket);
                if (!socket) return;
                socket.connection.seenAt = Date.now();
                return instances[socket.instance].presence.heartbeat(socket.connection, item.status);
              }
              case 'silence': {
                const socket = pick(item.socket);
                if (socket) socket.connection.seenAt = Date.now() - TIMEOUT - 1;
                return;
              }
              case 'life': {
                const socket = pick(item.socket);
                if (socket) socket.connection.seenAt = Date.now();
                return;
              }
              case 'sweep':
                return instances[item.instance].presence.sweep();
              case 'advance':
                jest.setSystemTime(Date.now() + item.ms);
                return;
            }
          };
          // every command at once, started and run in the scheduler's order
          await s.waitFor(
            Promise.all(
              commands.map((item) => s.schedule(Promise.resolve(), item.kind).then(() => run(item))),
            ),
          );
          await s.waitIdle();
          // settled: each instance's next sweep, then every announcement delivered and every frame out
          await s.waitFor(Promise.all(instances.map(({ presence }) => presence.sweep())));
          await s.waitIdle();
          const real = await store.statusOf(USERS, Date.now());
          await jest.advanceTimersByTimeAsync(PRESENCE_COALESCE_MS * 2);
          for (const { watcher } of instances) expect(told(watcher.sent)).toEqual(real);
        },
      ),
      { numRuns: 500 },
    );
  });
});
