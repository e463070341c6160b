import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { freePort } from './process';

// A dedicated redis-server (Debian package, installed by scripts/services/redis.sh) that a test may
// kill and bring back on the same port, without touching the shared one in TEST_REDIS_URL.
export class RedisServer {
  private child?: ChildProcess;

  private constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<RedisServer> {
    const server = new RedisServer(await freePort());
    await server.restart();
    return server;
  }

  async restart(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
    this.child = spawn('redis-server', args, { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    while (!(await listening(this.port))) {
      if (Date.now() > deadline)
        throw new Error('redis-server did not start (is the redis-server package installed?)');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  // SIGSTOP / SIGCONT: Redis frozen with its sockets open (a stuck host, a partition), then back
  signal(name: 'SIGSTOP' | 'SIGCONT'): void {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) child.kill(name);
  }

  // SIGKILL: Redis gone at once, as in a crash
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}

// true when something accepts connections on 127.0.0.1:port
export function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
