import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection as connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection, type Connection } from 'mongoose';
import { probeStore, StoreWatchdog } from '../../src/infra/store/store-watchdog';
import { freePort } from '../helpers/process';

const FERRETDB = join(__dirname, '../../scripts/ferretdb.sh');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });

// A store client whose monitor stopped (what one CI chaos run showed: after a store restart one
// instance's every command failed server selection with the same `connection <n> closed` for 130 s
// while the store answered the other instance). The test stops the driver's monitor itself (an
// internal of the driver, used here only to make the stall happen on demand), restarts a FerretDB
// of its own, and asks the store again: without the watchdog the client never finds it again.
describe('the store watchdog (a FerretDB of its own, restarted)', () => {
  let dir: string;
  let port: number;
  let uri: string;
  let connection: Connection;
  const ferret = (...args: string[]) => execFileSync('bash', [FERRETDB, ...args], { stdio: 'ignore' });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'watchdog-'));
    port = await freePort();
    uri = `mongodb://127.0.0.1:${port}/watchdog`;
    ferret('start', String(port), dir);
  });
  afterAll(() => {
    ferret('stop', dir);
    rmSync(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await connection?.close(true);
  });

  async function stalledClient(): Promise<Connection> {
    ferret('start', String(port), dir);
    connection = await createConnection(uri, {
      serverSelectionTimeoutMS: 1000,
      serverMonitoringMode: 'poll',
      heartbeatFrequencyMS: 500,
    }).asPromise();
    await connection.db!.collection('docs').insertOne({ at: Date.now() });
    // the monitor of the one server stops, as the stuck instance's apparently did
    const topology = (
      connection.getClient() as unknown as { topology: { s: { servers: Map<string, Server> } } }
    ).topology;
    for (const server of topology.s.servers.values()) server.monitor.close();
    ferret('stop', dir);
    while (await listening(port)) await sleep(50);
    // a command meets the store away: the server is marked unknown, and only the monitor would
    // find it again
    // (the first may meet its pooled socket half closed, an error that marks nothing)
    for (let attempt = 0; attempt < 10 && connection.readyState !== 0; attempt++)
      await expect(connection.db!.collection('docs').findOne({})).rejects.toThrow();
    expect(connection.readyState).toBe(0);
    ferret('start', String(port), dir);
    return connection;
  }
  interface Server {
    monitor: { close(): void };
  }

  // how many of `tries` reads, one every 500 ms, reached the store
  async function reads(tries: number): Promise<number> {
    let reached = 0;
    for (let attempt = 0; attempt < tries; attempt++) {
      const ok = await connection
        .db!.collection('docs')
        .findOne({})
        .then(
          () => true,
          () => false,
        );
      if (ok) reached++;
      await sleep(500);
    }
    return reached;
  }

  it('should leave a client whose monitor stopped without its store (the fault is real)', async () => {
    await stalledClient();
    expect(await probeStore(uri)).toBe(true);
    expect(await reads(4)).toBe(0);
    expect(connection.readyState).not.toBe(1);
  });

  it('should reconnect such a client once it has been without the store for stallMs while a fresh client reaches it', async () => {
    await stalledClient();
    const logged: object[] = [];
    const watchdog = new StoreWatchdog(
      {
        connection,
        probe: () => probeStore(uri),
        log: { error: (fields) => logged.push(fields), warn: (fields) => logged.push(fields) },
      },
      { stallMs: 2_000, everyMs: 250 },
    );
    watchdog.start();
    try {
      // the first reads fail (the client is stuck), then it is reconnected and every read after
      // reaches the store
      const deadline = Date.now() + 15_000;
      while (connection.readyState !== 1 && Date.now() < deadline) await sleep(100);
      expect(connection.readyState).toBe(1);
      expect(await reads(4)).toBe(4);
      expect(logged).toEqual([expect.objectContaining({ event: 'store_client_stuck' })]);
    } finally {
      await watchdog.stop();
    }
  });
});
