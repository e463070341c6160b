import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { SETTINGS, type Settings } from '../../config/settings';
import {
  PRESENCE_STORE,
  type DeviceStatus,
  type PresenceAnnouncement,
  type PresenceStore,
  type UserPresence,
} from '../../infra/presence/presence-store';
import type { Connection } from '../realtime/connection';

export type { UserPresence };
export interface PresenceChange {
  userId: string;
  status: UserPresence;
  // the store's number for this announcement: of two, the higher is the later (RoomPresencePace)
  version: number;
}

// removals owed to the store while it was away, at most (the oldest go: their entries age out, only
// their announcement is lost)
const OWED_KEPT = 10_000;

// How often, at most, the sockets' silence is checked (a tenth of PRESENCE_TIMEOUT when that is
// less): a socket silent past the timeout is announced offline within this much of it.
export const PRESENCE_SWEEP_MS = 250;

interface LocalSocket {
  connection: Connection;
  status: DeviceStatus;
  // silent past the timeout: removed from the store until it shows life again
  stale: boolean;
  // the `seenAt` the store holds for it: its entry counts until that plus the timeout
  storedSeenAt: number;
  pingedAt: number;
}

// Online, away or offline per user, all devices counted, on every instance (PRESENCE-001..004):
// a socket counts while it shows life (a frame or a pong) within PRESENCE_TIMEOUT; the last socket
// closing, or going silent that long, makes its user offline. Each change is one atomic step of the
// store, which says whether the user's status now differs from the one announced last; this
// instance then tells the listeners (the rooms module pushes it to the rooms' members), numbered so
// that every instance keeps the newest (docs/protocol.md, "Presence"). Presence knows no rooms.
@Injectable()
export class PresenceService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('presence');
  private readonly local = new Map<string, LocalSocket>();
  private readonly listeners: Array<(change: PresenceChange) => void> = [];
  // socket → its user: sockets gone (closed, or silent past the timeout) whose removal failed, the
  // store away. Retried every tick until the store answers, each announcing its user's status then:
  // until the Redis audit of session 34 nothing did, and a user whose socket closed while Redis was
  // away (killed, or frozen for 2.5 s) stayed online for good on the rooms' live sockets, 6 of 6
  private readonly owed = new Map<string, string>();
  // user → when their status is settled again: a removal that left them present may have left only
  // entries of an instance that died, which age out with nobody to announce it (settleDue)
  private readonly unsettled = new Map<string, number>();
  // user → the failure that made them unsure: a change of theirs failed with no answer, and may still
  // have run (a frozen Redis runs the commands of the connection dropped meanwhile when it wakes),
  // recording as announced a status no room was told. Until the presence audit of session 44 nothing
  // told them: a member who came online while Redis was frozen had `~status: online` recorded by the
  // late script, every later write found it unchanged, and the rooms kept "offline" for good (4 of 4
  // runs, 4 of 4 members). Their status is announced again once the store answers (sweep), with a
  // new version the rooms keep over every earlier one.
  private readonly unsure = new Map<string, number>();
  private failures = 0;
  private timer?: NodeJS.Timeout;
  private sweeping = false;

  constructor(
    @Inject(PRESENCE_STORE) private readonly store: PresenceStore,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  onModuleInit(): void {
    this.timer = setInterval(
      () => void this.sweep(),
      Math.min(PRESENCE_SWEEP_MS, this.settings.rooms.presenceTimeoutMs / 10),
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
    const entry = { connection, status, stale: false, storedSeenAt: connection.seenAt, pingedAt: 0 };
    this.local.set(connection.id, entry);
    await this.write(entry);
  }

  async heartbeat(connection: Connection, status?: DeviceStatus): Promise<void> {
    const entry = this.local.get(connection.id);
    if (!entry) return this.connect(connection, status);
    const changed = (status !== undefined && status !== entry.status) || entry.stale;
    entry.status = status ?? entry.status;
    entry.stale = false;
    // Unchanged: nothing to write. The socket's life is its `seenAt` (set by the gateways for every
    // frame and pong), which sweep() writes to the store once the stored one is a third of the
    // timeout old: a room message costs no presence write (bench:rooms' fan-out sends 50+ a second).
    if (!changed) return;
    await this.write(entry);
  }

  async disconnect(connection: Connection): Promise<void> {
    if (!this.local.delete(connection.id)) return;
    await this.remove(connection.principal.userId, connection.id, Date.now());
  }

  // the socket's entry removed; owed while the store is away, and announced when paid (the
  // announcement made then may be lost with Redis, or the key with a restart)
  private async remove(userId: string, socketId: string, now: number, owed = false): Promise<void> {
    // a retry while the store is still away is not logged again (one a tick)
    let change: PresenceAnnouncement | null = null;
    const paid = await this.announce(
      userId,
      async () => (change = await this.store.remove(userId, socketId, now, owed)),
      // a failed removal is owed, and announces the user's status whatever was recorded when paid
      { quiet: owed, forced: owed, owedOnFailure: true },
    );
    // still present after it (another socket counts): settled again once every entry that counted
    // then has aged out or been written again
    if (paid && change === null) this.settleLater(userId, now);
    if (paid) this.owed.delete(socketId);
    else if (!owed) {
      this.owed.set(socketId, userId);
      if (this.owed.size > OWED_KEPT) this.owed.delete(this.owed.keys().next().value as string);
    }
  }

  async statusOf(userIds: string[]): Promise<Map<string, UserPresence>> {
    try {
      return await this.store.statusOf(userIds, Date.now());
    } catch (error) {
      this.unavailable(error);
      return new Map(userIds.map((userId) => [userId, 'offline' as const]));
    }
  }

  // The user's status now, announced again with a new version (above every earlier one, so no room
  // keeps an older status over it) to every room of theirs that may hear it: one that could not hear
  // their changes (a direct message across a block) settles on the truth when the block is lifted.
  // Nothing when the store is away.
  async announceAgain(userId: string): Promise<void> {
    await this.announce(userId, () => this.store.settle(userId, Date.now(), true), { forced: true });
  }

  // what the rooms were told of the user last, for a room that was not told (a join); null while the
  // store is away
  async announced(userId: string): Promise<PresenceAnnouncement | null> {
    try {
      return await this.store.announced(userId);
    } catch (error) {
      this.unavailable(error);
      return null;
    }
  }

  // Every tick: a socket silent past the timeout stops counting (its user offline when it was the
  // last); a live one whose stored life is a third of the timeout old is written again, which also
  // announces a status that changed without a change of ours (another instance's entries aged out). A
  // socket silent for a third of the timeout is pinged, every third, so a client that sends no
  // `heartbeat` stays present by its pongs (both gateways count a pong as life).
  async sweep(): Promise<void> {
    // a slow store: the next tick waits for this one instead of writing the same sockets again
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      for (const [socketId, userId] of [...this.owed]) {
        await this.remove(userId, socketId, Date.now(), true);
        // still away: the others wait for the next tick
        if (this.owed.has(socketId)) break;
      }
      for (const userId of [...this.unsure.keys()]) {
        if (!this.unsure.has(userId)) continue;
        // still away: the others wait for the next tick
        const settle = () => this.store.settle(userId, Date.now(), true);
        if (!(await this.announce(userId, settle, { quiet: true, forced: true }))) break;
      }
      await this.settleDue();
      const timeout = this.settings.rooms.presenceTimeoutMs;
      for (const entry of [...this.local.values()]) {
        const { connection } = entry;
        // closed while an earlier socket of this walk was being written: its removal stands (a write
        // now would count it again until the timeout)
        if (this.local.get(connection.id) !== entry) continue;
        const now = Date.now();
        if (
          now - Math.max(connection.seenAt, entry.pingedAt) > timeout / 3 &&
          connection.socket.readyState === connection.socket.OPEN
        ) {
          connection.socket.ping();
          entry.pingedAt = now;
        }
        if (now - connection.seenAt > timeout) {
          if (entry.stale) continue;
          entry.stale = true;
          await this.remove(connection.principal.userId, connection.id, now);
        } else if (entry.stale) await this.heartbeat(connection);
        else if (connection.seenAt > entry.storedSeenAt && now - entry.storedSeenAt > timeout / 3)
          await this.write(entry);
      }
    } finally {
      this.sweeping = false;
    }
  }

  // A user whose removal left them present was kept so by other sockets: on live instances they are
  // written again within a third of the timeout, but those of an instance that died (SIGKILL, a node
  // lost) age out with nobody writing, and no frame said so. Until a presence audit in session 40 a
  // user whose instance died, who came back on another and left again before the dead socket aged
  // out, stayed online in their rooms for good (presence.service.spec.ts). One timeout after the
  // removal, every entry that counted then has aged out or been written again: the status is
  // settled then, and announced when it changed.
  private settleLater(userId: string, now: number): void {
    this.unsettled.delete(userId);
    this.unsettled.set(userId, now + this.settings.rooms.presenceTimeoutMs + PRESENCE_SWEEP_MS);
    if (this.unsettled.size > OWED_KEPT) this.unsettled.delete(this.unsettled.keys().next().value as string);
  }

  private async settleDue(): Promise<void> {
    const now = Date.now();
    // in the order they were set, so the first not due ends the walk
    for (const [userId, due] of [...this.unsettled]) {
      if (due > now) break;
      if (!(await this.announce(userId, () => this.store.settle(userId, now)))) return;
      if (this.unsettled.get(userId) === due) this.unsettled.delete(userId);
    }
  }

  // the socket's entry written: its status and when it last showed life
  private async write(entry: LocalSocket): Promise<void> {
    const { connection } = entry;
    const userId = connection.principal.userId;
    entry.storedSeenAt = connection.seenAt;
    await this.announce(userId, () =>
      this.store.touch(userId, connection.id, entry.status, connection.seenAt, Date.now()),
    );
  }

  // One change of the store; what it says changed is told to the listeners. False when the store
  // failed: the user is unsure then (the change may still run), until a `forced` change (one that
  // announces the status whatever was recorded) made after that failure succeeds. `quiet`: a retry,
  // not logged again; `owedOnFailure`: a removal, owed when it fails (remove).
  private async announce(
    userId: string,
    change: () => Promise<PresenceAnnouncement | null>,
    { quiet = false, forced = false, owedOnFailure = false } = {},
  ): Promise<boolean> {
    const failure = this.unsure.get(userId);
    try {
      const announcement = await change();
      if (announcement) this.emit({ userId, ...announcement });
      if (forced && failure !== undefined && this.unsure.get(userId) === failure) this.unsure.delete(userId);
      return true;
    } catch (error) {
      if (!quiet) this.unavailable(error);
      if (!owedOnFailure) {
        this.unsure.set(userId, ++this.failures);
        if (this.unsure.size > OWED_KEPT) this.unsure.delete(this.unsure.keys().next().value as string);
      }
      return false;
    }
  }

  private unavailable(error: unknown): void {
    this.logger.warn({ event: 'presence_unavailable', err: String(error) }, 'presence store unavailable');
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
