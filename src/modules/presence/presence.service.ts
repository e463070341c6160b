import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { SETTINGS, type Settings } from '../../config/settings';
import {
  PRESENCE_STORE,
  type DeviceStatus,
  type PresenceStore,
  type UserPresence,
} from '../../infra/presence/presence-store';
import type { Connection } from '../realtime/connection';

export type { UserPresence };
export interface PresenceChange {
  userId: string;
  status: UserPresence;
}

// Online, away or offline per user, all devices counted, on every instance (PRESENCE-001..004):
// a socket counts while it shows life (a frame or a pong) within PRESENCE_TIMEOUT; the last socket
// closing, or going silent that long, makes its user offline. Changes seen on this instance are told
// to the listeners (the rooms module pushes them to the rooms' members); presence knows no rooms.
@Injectable()
export class PresenceService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('presence');
  private readonly local = new Map<
    string,
    { connection: Connection; status: DeviceStatus; stale: boolean }
  >();
  private readonly listeners: Array<(change: PresenceChange) => void> = [];
  private timer?: NodeJS.Timeout;

  constructor(
    @Inject(PRESENCE_STORE) private readonly store: PresenceStore,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  onModuleInit(): void {
    // a third of the timeout: a live socket is refreshed well before others would count it gone
    this.timer = setInterval(
      () => void this.refresh(),
      Math.max(250, this.settings.rooms.presenceTimeoutMs / 3),
    );
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  onChange(listener: (change: PresenceChange) => void): void {
    this.listeners.push(listener);
  }

  async connect(connection: Connection, status: DeviceStatus = 'online'): Promise<void> {
    // already counted: life, but the status its client reported stays
    if (this.local.has(connection.id)) return this.heartbeat(connection);
    // closed while one of its frames was handled: its disconnect ran already, and nothing would
    // remove it again (it would count as present until the timeout, and be kept for good)
    if (connection.closed) return;
    this.local.set(connection.id, { connection, status, stale: false });
    await this.changing(connection.principal.userId, () =>
      this.store.touch(connection.principal.userId, connection.id, status, Date.now()),
    );
  }

  async heartbeat(connection: Connection, status?: DeviceStatus): Promise<void> {
    const entry = this.local.get(connection.id);
    if (!entry) return this.connect(connection, status);
    const changed = (status !== undefined && status !== entry.status) || entry.stale;
    entry.status = status ?? entry.status;
    entry.stale = false;
    // Unchanged: nothing to write. The socket's life is its `seenAt` (set by the gateways for every
    // frame and pong), which refresh() turns into a touch of the store every third of the timeout:
    // a room message costs no presence write (bench:rooms' fan-out sends 50+ a second).
    if (!changed) return;
    await this.changing(connection.principal.userId, () =>
      this.store.touch(connection.principal.userId, connection.id, entry.status, Date.now()),
    );
  }

  async disconnect(connection: Connection): Promise<void> {
    if (!this.local.delete(connection.id)) return;
    await this.changing(connection.principal.userId, () =>
      this.store.remove(connection.principal.userId, connection.id),
    );
  }

  async statusOf(userIds: string[]): Promise<Map<string, UserPresence>> {
    try {
      return await this.store.statusOf(userIds, Date.now());
    } catch (error) {
      this.unavailable(error);
      return new Map(userIds.map((userId) => [userId, 'offline' as const]));
    }
  }

  // Runs a change of the store and tells the listeners when the user's presence changed with it.
  private async changing(userId: string, change: () => Promise<void>): Promise<void> {
    try {
      const before = (await this.store.statusOf([userId], Date.now())).get(userId);
      await change();
      const after = (await this.store.statusOf([userId], Date.now())).get(userId) ?? 'offline';
      if (before !== after) this.emit({ userId, status: after });
    } catch (error) {
      this.unavailable(error);
    }
  }

  private unavailable(error: unknown): void {
    this.logger.warn({ event: 'presence_unavailable', err: String(error) }, 'presence store unavailable');
  }

  // Live sockets are touched again; a socket silent past the timeout stops counting. A socket silent
  // for a third of it is pinged, so a client that sends no `heartbeat` stays present by its pongs
  // (both gateways count a pong as life).
  private async refresh(): Promise<void> {
    const now = Date.now();
    const timeout = this.settings.rooms.presenceTimeoutMs;
    for (const entry of [...this.local.values()]) {
      const { connection } = entry;
      // closed while an earlier socket of this walk was being touched: its removal stands (a touch
      // now would count it again until the timeout)
      if (this.local.get(connection.id) !== entry) continue;
      const silent = now - connection.seenAt;
      if (silent > timeout / 3 && connection.socket.readyState === connection.socket.OPEN)
        connection.socket.ping();
      if (silent > timeout) {
        if (entry.stale) continue;
        entry.stale = true;
        await this.changing(connection.principal.userId, () =>
          this.store.remove(connection.principal.userId, connection.id),
        );
        continue;
      }
      if (entry.stale) await this.heartbeat(connection);
      else
        await this.store
          .touch(connection.principal.userId, connection.id, entry.status, now)
          .catch(() => undefined);
    }
  }

  private emit(change: PresenceChange): void {
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch (error) {
        this.logger.error({ event: 'presence_listener_failed', err: String(error) }, 'listener');
      }
    }
  }
}
