import { MongoClient } from 'mongodb';
import type { Connection } from 'mongoose';

// What the watchdog needs of the world: the app's mongoose connection, a way to ask the store
// through a client of its own, a clock and a logger (docs/protocol.md, "Store watchdog").
export interface WatchdogDeps {
  connection: Pick<Connection, 'readyState' | 'getClient'>;
  // does the store answer a fresh client? (not the app's, which may be the one that is stuck)
  probe: () => Promise<boolean>;
  now?: () => number;
  log: { error: (fields: object, message: string) => void; warn: (fields: object, message: string) => void };
}

export interface WatchdogOptions {
  // how long the app's client may stay without a usable store while a fresh client reaches it
  stallMs: number;
  // how often the app's client is looked at
  everyMs: number;
}

const CONNECTED = 1;

// An instance whose store client never found its server again after a store restart (seen once in
// CI's chaos run: 130 s of `MongoServerSelectionError` on one instance while the store answered the
// other) would stay unready for good. The watchdog notices the app's client being without its store
// for `stallMs` while a fresh client reaches the store at once, logs what the client's monitor did
// meanwhile (its heartbeats: none means the monitor itself stalled), and reconnects the client:
// `close` then `connect` on the same MongoClient, which keeps mongoose's models and listeners and
// gives the driver a new topology and monitor. During a real outage the probe fails too and the
// watchdog does nothing: the driver's own reconnect is the one that counts there.
export class StoreWatchdog {
  private downSince?: number;
  private heartbeats = { started: 0, succeeded: 0, failed: 0 };
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private readonly now: () => number;

  constructor(
    private readonly deps: WatchdogDeps,
    private readonly options: WatchdogOptions,
  ) {
    this.now = deps.now ?? Date.now;
  }

  start(): void {
    const client = this.deps.connection.getClient();
    client.on('serverHeartbeatStarted', () => this.heartbeats.started++);
    client.on('serverHeartbeatSucceeded', () => this.heartbeats.succeeded++);
    client.on('serverHeartbeatFailed', () => this.heartbeats.failed++);
    this.timer = setInterval(() => void this.check(), this.options.everyMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  // One look; at most one runs at a time (a probe or a reconnect may outlast the interval).
  check(): Promise<void> {
    this.running ??= this.look().finally(() => (this.running = undefined));
    return this.running;
  }

  private async look(): Promise<void> {
    if (this.deps.connection.readyState === CONNECTED) {
      this.downSince = undefined;
      return;
    }
    const now = this.now();
    if (this.downSince === undefined) {
      this.downSince = now;
      this.heartbeats = { started: 0, succeeded: 0, failed: 0 };
      return;
    }
    if (now - this.downSince < this.options.stallMs) return;
    if (!(await this.deps.probe())) return;
    // the store answers a fresh client and this one has not found it for stallMs: it is stuck
    this.deps.log.error(
      { event: 'store_client_stuck', down_ms: now - this.downSince, heartbeats: { ...this.heartbeats } },
      'store client stuck while the store answers: reconnecting it',
    );
    const client = this.deps.connection.getClient();
    try {
      await client.close(true);
      await client.connect();
      this.downSince = undefined;
    } catch (error) {
      // the next look tries again
      this.deps.log.warn(
        { event: 'store_reconnect_failed', err: String(error) },
        'store client reconnect failed',
      );
    }
  }
}

// A fresh client's ping, within timeoutMs: whether the store answers at all.
export async function probeStore(uri: string, timeoutMs = 2000): Promise<boolean> {
  const client = new MongoClient(uri, {
    serverSelectionTimeoutMS: timeoutMs,
    connectTimeoutMS: timeoutMs,
    socketTimeoutMS: timeoutMs,
    maxPoolSize: 1,
  });
  try {
    await client.connect();
    await client.db('admin').command({ ping: 1 });
    return true;
  } catch {
    return false;
  } finally {
    await client.close(true).catch(() => undefined);
  }
}
