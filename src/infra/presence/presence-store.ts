// Who is connected, shared by every instance: one entry per socket (all of a user's devices count),
// each with the status its client last reported and when the socket last showed life. Entries older
// than the timeout count for nothing, so the sockets of an instance that died stop counting without
// anyone removing them.
export type DeviceStatus = 'online' | 'away';
export type UserPresence = 'online' | 'away' | 'offline';

export interface PresenceStore {
  touch(userId: string, socketId: string, status: DeviceStatus, now: number): Promise<void>;
  remove(userId: string, socketId: string): Promise<void>;
  // every user asked for, offline when nothing recent is known
  statusOf(userIds: string[], now: number): Promise<Map<string, UserPresence>>;
  close(): Promise<void>;
}

export const PRESENCE_STORE = Symbol('PRESENCE_STORE');

// any device online → online; only away devices → away; none → offline
export function combine(
  entries: Array<{ status: DeviceStatus; seenAt: number }>,
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

// One instance: a map in the process.
export class InProcessPresenceStore implements PresenceStore {
  private readonly users = new Map<string, Map<string, { status: DeviceStatus; seenAt: number }>>();

  constructor(private readonly timeoutMs: number) {}

  touch(userId: string, socketId: string, status: DeviceStatus, now: number): Promise<void> {
    let devices = this.users.get(userId);
    if (!devices) this.users.set(userId, (devices = new Map()));
    devices.set(socketId, { status, seenAt: now });
    return Promise.resolve();
  }

  remove(userId: string, socketId: string): Promise<void> {
    const devices = this.users.get(userId);
    devices?.delete(socketId);
    if (devices?.size === 0) this.users.delete(userId);
    return Promise.resolve();
  }

  statusOf(userIds: string[], now: number): Promise<Map<string, UserPresence>> {
    const since = now - this.timeoutMs;
    return Promise.resolve(
      new Map(
        userIds.map((userId) => [userId, combine([...(this.users.get(userId)?.values() ?? [])], since)]),
      ),
    );
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
