// Who is connected, shared by every instance: one entry per socket (all of a user's devices count),
// each with the status its client last reported and when the socket last showed life. Entries older
// than the timeout count for nothing, so the sockets of an instance that died stop counting without
// anyone removing them.
export type DeviceStatus = 'online' | 'away';
export type UserPresence = 'online' | 'away' | 'offline';

// What the rooms were told of a user last. `version` grows with every announcement of the user, on
// every instance: of two announcements the higher is the later one, whichever arrives first.
export interface PresenceAnnouncement {
  status: UserPresence;
  version: number;
}

// Every change is one atomic step of the store: the socket's entry written or removed, the user's
// status after it computed, and, when that differs from the status last announced, the new one
// recorded as announced and returned with the next version, for the caller to announce; null when the
// last announcement still holds. Read before and after as separate steps, a socket closing on one
// instance while another opened on a second could leave "offline" announced last for a user who is
// online (docs/protocol.md, "Presence"). A user of whom no announcement is recorded (Redis restarted
// empty, the key expired) is announced whatever their status: the rooms may have been told anything.
// The in-process store forgets a user only once announced offline with no socket left, so one it does
// not know was announced offline (or never).
export interface PresenceStore {
  // `seenAt`: when the socket last showed life (its entry counts until seenAt + timeout)
  touch(
    userId: string,
    socketId: string,
    status: DeviceStatus,
    seenAt: number,
    now: number,
  ): Promise<PresenceAnnouncement | null>;
  // `announce`: the status after it is announced even when it is the one recorded as announced last
  // (a removal retried after Redis was away: that announcement may never have reached anyone, or
  // Redis restarted and forgot it)
  remove(
    userId: string,
    socketId: string,
    now: number,
    announce?: boolean,
  ): Promise<PresenceAnnouncement | null>;
  // no socket changed: the user's status now against the one announced last (entries of an
  // instance that died age out without anyone removing them). `announce`: announced even when it is
  // the one announced last, with the next version (a room that could not be told the user's changes,
  // a direct message across a block, is told when the block is lifted)
  settle(userId: string, now: number, announce?: boolean): Promise<PresenceAnnouncement | null>;
  // every user asked for, offline when nothing recent is known
  statusOf(userIds: string[], now: number): Promise<Map<string, UserPresence>>;
  // the user's last announcement (offline, version 0, when there was none)
  announced(userId: string): Promise<PresenceAnnouncement>;
  close(): Promise<void>;
}

export const PRESENCE_STORE = Symbol('PRESENCE_STORE');

// any device online → online; only away devices → away; none → offline
export function combine(
  entries: Iterable<{ status: DeviceStatus; seenAt: number }>,
  since: number,
): UserPresence {
  let result: UserPresence = 'offline';
  for (const entry of entries) {
    if (entry.seenAt < since) continue;
    if (entry.status === 'online') return 'online';
    result = 'away';
  }
  return result;
}

interface UserEntry {
  devices: Map<string, { status: DeviceStatus; seenAt: number }>;
  announced: PresenceAnnouncement;
}

const NONE: PresenceAnnouncement = { status: 'offline', version: 0 };

// One instance: a map in the process. Each call runs to its end before another starts (no await
// inside), which makes each change atomic here.
export class InProcessPresenceStore implements PresenceStore {
  private readonly users = new Map<string, UserEntry>();
  private version = 0;

  constructor(private readonly timeoutMs: number) {}

  touch(
    userId: string,
    socketId: string,
    status: DeviceStatus,
    seenAt: number,
    now: number,
  ): Promise<PresenceAnnouncement | null> {
    let user = this.users.get(userId);
    if (!user) this.users.set(userId, (user = { devices: new Map(), announced: NONE }));
    user.devices.set(socketId, { status, seenAt });
    return Promise.resolve(this.judge(userId, user, now));
  }

  remove(
    userId: string,
    socketId: string,
    now: number,
    announce = false,
  ): Promise<PresenceAnnouncement | null> {
    let user = this.users.get(userId);
    if (!user && !announce) return Promise.resolve(null);
    if (!user) this.users.set(userId, (user = { devices: new Map(), announced: NONE }));
    user.devices.delete(socketId);
    return Promise.resolve(this.judge(userId, user, now, announce));
  }

  settle(userId: string, now: number, announce = false): Promise<PresenceAnnouncement | null> {
    let user = this.users.get(userId);
    if (!user && !announce) return Promise.resolve(null);
    if (!user) this.users.set(userId, (user = { devices: new Map(), announced: NONE }));
    return Promise.resolve(this.judge(userId, user, now, announce));
  }

  statusOf(userIds: string[], now: number): Promise<Map<string, UserPresence>> {
    const since = now - this.timeoutMs;
    return Promise.resolve(
      new Map(
        userIds.map((userId) => [userId, combine(this.users.get(userId)?.devices.values() ?? [], since)]),
      ),
    );
  }

  announced(userId: string): Promise<PresenceAnnouncement> {
    return Promise.resolve({ ...(this.users.get(userId)?.announced ?? NONE) });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  // the user's status now against the one announced last; a user with no sockets, announced offline,
  // is forgotten
  private judge(userId: string, user: UserEntry, now: number, announce = false): PresenceAnnouncement | null {
    const status = combine(user.devices.values(), now - this.timeoutMs);
    let change: PresenceAnnouncement | null = null;
    if (status !== user.announced.status || announce) {
      user.announced = { status, version: ++this.version };
      change = { ...user.announced };
    }
    if (user.devices.size === 0 && user.announced.status === 'offline') this.users.delete(userId);
    return change;
  }
}
