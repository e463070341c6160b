import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './process';

const FERRETDB = join(__dirname, '../../scripts/ferretdb.sh');

// A FerretDB of the test's own (scripts/ferretdb.sh), which it may stop, start again on the same
// files, or freeze (SIGSTOP) with its sockets open, without touching the shared one in TEST_MONGODB_URL.
export class StoreServer {
  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  // scripts/ferretdb.sh fails when another process took the chosen port before FerretDB bound it
  // (tests in other workers choose ports too): another port then
  static async start(prefix = 'store-'): Promise<StoreServer> {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    for (let attempt = 1; ; attempt++) {
      const server = new StoreServer(await freePort(), dir);
      try {
        server.start();
        return server;
      } catch (error) {
        if (attempt >= 3) throw error;
      }
    }
  }

  uri(database: string): string {
    return `mongodb://127.0.0.1:${this.port}/${database}`;
  }

  start(): void {
    this.run('start', String(this.port), this.dir);
  }

  stop(): void {
    this.signal('SIGCONT');
    this.run('stop', this.dir);
  }

  // stop() and start() without blocking this process meanwhile: an app running in it keeps its
  // timers and sockets going (stop() alone may wait 5 s for FerretDB to go)
  async stopAsync(): Promise<void> {
    this.signal('SIGCONT');
    await this.runAsync('stop', this.dir);
  }

  async startAsync(): Promise<void> {
    await this.runAsync('start', String(this.port), this.dir);
  }

  // SIGCONT to a store that is not running is a no-op; any other signal must reach it, or a test
  // that means to freeze the store would go on against a live one
  signal(name: NodeJS.Signals): void {
    try {
      process.kill(Number(readFileSync(join(this.dir, 'ferretdb.pid'), 'utf8').trim()), name);
    } catch (error) {
      if (name !== 'SIGCONT') throw error;
    }
  }

  // stopped for good, its files removed
  remove(): void {
    this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private run(...args: string[]): void {
    execFileSync('bash', [FERRETDB, ...args], { stdio: 'ignore' });
  }

  private runAsync(...args: string[]): Promise<void> {
    return new Promise((resolve, reject) =>
      execFile('bash', [FERRETDB, ...args], (error) => (error ? reject(error) : resolve())),
    );
  }
}
