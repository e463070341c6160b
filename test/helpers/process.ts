import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

export interface AppProcess {
  child: ChildProcess;
  port: number;
  output: () => string;
  exited: Promise<number | null>;
}

// The built server (dist/main.js) as its own process, as production runs it.
export async function startAppProcess(env: Record<string, string>, port?: number): Promise<AppProcess> {
  const chosen = port ?? (await freePort());
  const child = spawn(process.execPath, [join(__dirname, '../../dist/main.js')], {
    env: { ...process.env, ...env, PORT: String(chosen), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (data: Buffer) => (output += data.toString()));
  child.stderr?.on('data', (data: Buffer) => (output += data.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited: ${output}`);
    try {
      const response = await fetch(`http://127.0.0.1:${chosen}/chat/readyz`);
      if (response.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`server did not become ready: ${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { child, port: chosen, output: () => output, exited };
}

// The built server started with settings it must refuse: its exit code and output once it has
// exited, or null and the output when it was still running at the deadline (then it is killed).
export async function bootRefusal(
  env: Record<string, string>,
  deadlineMs = 20_000,
): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [join(__dirname, '../../dist/main.js')], {
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(await freePort()), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (data: Buffer) => (output += data.toString()));
  child.stderr?.on('data', (data: Buffer) => (output += data.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const timer = setTimeout(() => child.kill('SIGKILL'), deadlineMs);
  const code = await exited;
  clearTimeout(timer);
  return { code, output };
}

// a process's resident memory now (bytes), from /proc
export function rssOf(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}

// The instances stopped (SIGTERM, each waited for), then their Redis of their own, woken first if a
// test left it frozen
export async function stopInstances(
  servers: Array<AppProcess | undefined>,
  redis?: { signal(name: 'SIGCONT'): void; kill(): Promise<void> },
): Promise<void> {
  redis?.signal('SIGCONT');
  for (const server of servers) {
    server?.child.kill('SIGTERM');
    await server?.exited;
  }
  await redis?.kill();
}
