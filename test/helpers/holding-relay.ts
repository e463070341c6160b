import { connect, createServer, type Server, type Socket } from 'node:net';
import { mongoUri, testEnv } from './env';
import { startAppProcess, stopInstances, type AppProcess } from './process';
import { RedisServer } from './redis-server';

// A MongoDB wire relay between one instance and the store that holds, on its connection, the first
// command from the instance whose bytes match an armed trigger (and every later command on that
// connection) until `release()`. It pins where a paused instance stands: "the instance sent this
// write and then froze" (SIGSTOP while the command is in flight: a long GC, a VM stall).
export class HoldingRelay {
  private server?: Server;
  private trigger?: (message: Buffer) => boolean;
  private held: Array<() => void> = [];
  private heldNotify?: () => void;
  private sockets = new Set<Socket>();
  port = 0;

  private constructor(
    private readonly upstreamHost: string,
    private readonly upstreamPort: number,
  ) {}

  static async start(upstreamUrl: string): Promise<HoldingRelay> {
    const url = new URL(upstreamUrl);
    const relay = new HoldingRelay(url.hostname, Number(url.port));
    await new Promise<void>((resolve) => {
      relay.server = createServer((client) => relay.pipe(client));
      relay.server.listen(0, '127.0.0.1', () => {
        relay.port = (relay.server!.address() as { port: number }).port;
        resolve();
      });
    });
    return relay;
  }

  // resolves once a command matching `trigger` is held
  arm(trigger: (message: Buffer) => boolean): Promise<void> {
    this.trigger = trigger;
    return new Promise((resolve) => (this.heldNotify = resolve));
  }

  release(): void {
    this.trigger = undefined;
    const held = this.held;
    this.held = [];
    for (const go of held) go();
  }

  private pipe(client: Socket): void {
    const upstream = connect(this.upstreamPort, this.upstreamHost);
    this.sockets.add(client).add(upstream);
    upstream.setNoDelay(true);
    client.setNoDelay(true);
    upstream.on('data', (data) => client.write(data));
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('close', () => upstream.destroy());
    let pending = Buffer.alloc(0);
    let holding = false;
    let queue: Buffer[] = [];
    client.on('data', (data: Buffer) => {
      pending = Buffer.concat([pending, data]);
      while (pending.length >= 4) {
        const length = pending.readInt32LE(0);
        if (pending.length < length) break;
        const message = Buffer.from(pending.subarray(0, length));
        pending = pending.subarray(length);
        if (!holding && this.trigger?.(message)) {
          holding = true;
          this.trigger = undefined;
          queue.push(message);
          this.held.push(() => {
            holding = false;
            for (const queued of queue) upstream.write(queued);
            queue = [];
          });
          this.heldNotify?.();
          this.heldNotify = undefined;
          continue;
        }
        if (holding) queue.push(message);
        else upstream.write(message);
      }
    });
  }

  close(): Promise<void> {
    this.release();
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

// an `update` command on `collection` whose bytes hold the BSON string `text`
export function updateOf(collection: string, text: string): (message: Buffer) => boolean {
  const head = Buffer.concat([Buffer.from([0x02]), Buffer.from('update\0')]);
  const name = Buffer.from(`${collection}\0`);
  const value = Buffer.from(`${text}\0`);
  return (message) => {
    const at = message.indexOf(head);
    return at >= 0 && message.indexOf(name, at) === at + 12 && message.includes(value);
  };
}

// an `insert` command on `collection`
export function insertOf(collection: string): (message: Buffer) => boolean {
  const head = Buffer.concat([Buffer.from([0x02]), Buffer.from('insert\0')]);
  const name = Buffer.from(`${collection}\0`);
  return (message) => {
    const at = message.indexOf(head);
    return at >= 0 && message.indexOf(name, at) === at + 12;
  };
}

// Two built instances on a Redis of their own and the test store, A reaching the store through a
// HoldingRelay (`env` added to both); `close` lets A run again and stops all of it.
export async function startRelayedPair(env: Record<string, string> = {}): Promise<RelayedPair> {
  const redis = await RedisServer.start();
  const uri = mongoUri();
  const relay = await HoldingRelay.start(process.env.TEST_MONGODB_URL ?? 'mongodb://127.0.0.1:27099');
  const common = testEnv({ REDIS_URL: redis.url, MONGODB_URI: uri, ...env });
  const [a, b] = await Promise.all([
    startAppProcess({ ...common, MONGODB_URI: uri.replace(/127\.0\.0\.1:\d+/, `127.0.0.1:${relay.port}`) }),
    startAppProcess(common),
  ]);
  return {
    relay,
    a,
    b,
    close: async () => {
      a.child.kill('SIGCONT');
      await relay.close();
      await stopInstances([a, b]);
      await redis.kill();
    },
  };
}

export interface RelayedPair {
  relay: HoldingRelay;
  a: AppProcess;
  b: AppProcess;
  close(): Promise<void>;
}
