// A server under test as a child process, measured from the outside: RSS and CPU time from /proc,
// V8 heap and forced GC through the inspector protocol (no hook in the server's own code).
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { connect, createServer, type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import type { CpuProfile } from './cpu-profile';
import { makePod } from './pod-memory';

// USER_HZ: the unit of utime/stime in /proc/<pid>/stat; 100 on every mainstream Linux build
const TICKS_PER_SECOND = 100;

// user + system CPU seconds a process has used so far
export async function cpuSecondsOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // fields after the command name, which may itself contain spaces: state is field 3, utime 14, stime 15
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

// Cores a process used, on average, while `work` ran (0 without a process to watch).
export async function coresDuring<T>(
  pid: number | undefined,
  work: () => Promise<T>,
): Promise<{ result: T; cores: number }> {
  if (pid === undefined) return { result: await work(), cores: 0 };
  const before = await cpuSecondsOf(pid);
  const started = performance.now();
  const result = await work();
  const cores = ((await cpuSecondsOf(pid)) - before) / ((performance.now() - started) / 1000);
  return { result, cores };
}

export interface ServerSpec {
  name: string;
  script: string;
  env: Record<string, string>;
  host: string;
  port: number;
  logFile: string;
  // the database process this server uses, if any: its CPU is reported too (it shares the cores)
  databasePid?: number;
  // how long start() waits for the port (default 30 s; a store building indexes needs longer)
  readyTimeoutMs?: number;
}

// ms the loop was late beyond the 5 ms sampling interval: time it spent blocked in one go
export interface LoopDelay {
  p50: number;
  p99: number;
  max: number;
}

export interface GcPauses {
  ms: number;
  count: number;
  // of them full (mark-compact) GCs
  full: number;
}

export interface MemorySample {
  rssBytes: number;
  heapUsedBytes: number;
  externalBytes: number;
  // V8's young generation as resident (new space and its large objects): a per-process amount, at
  // most two semi-spaces (the image's NODE_OPTIONS) however many sockets, that a forced GC gives back
  youngResidentBytes: number;
}

export class ServerProcess {
  private inspectorUrl?: string;
  private exited = false;
  // when the process was spawned (performance.now())
  readonly startedAt = performance.now();

  private constructor(
    readonly spec: ServerSpec,
    private readonly child: ChildProcess,
    // the memory cgroup's limit it runs under; undefined: the machine's defaults
    readonly podMemoryBytes?: number,
  ) {
    child.once('exit', () => (this.exited = true));
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  static async start(spec: ServerSpec): Promise<ServerProcess> {
    const log = createWriteStream(spec.logFile);
    // --inspect on an ephemeral loopback port lets the bench force a full GC before reading memory
    // BENCH_NODE_ARGS: more flags for every server (e.g. `--perf-basic-prof` for a `perf record`)
    const extra = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter((flag) => flag !== '');
    const argv = [process.execPath, '--inspect=127.0.0.1:0', ...extra, spec.script];
    // in a memory cgroup with the chart's limit, as in its pod (bench/pod-memory.ts)
    const pod = makePod(spec.name, argv);
    const [command, args] = pod?.command ?? [argv[0], argv.slice(1)];
    const child = spawn(command, args, {
      env: { PATH: process.env.PATH ?? '', ...spec.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (pod) child.once('exit', () => setTimeout(() => pod.remove(), 500));
    const server = new ServerProcess(spec, child, pod?.limitBytes);
    child.stdout?.pipe(log);
    let stderrText = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      log.write(chunk);
      if (server.inspectorUrl) return;
      stderrText += chunk.toString();
      const match = /Debugger listening on (ws:\/\/\S+)/.exec(stderrText);
      if (match) server.inspectorUrl = match[1];
    });
    try {
      await server.waitReady(spec.readyTimeoutMs);
    } catch (error) {
      await server.stop(2000);
      throw error;
    }
    console.log(`[bench] ${spec.name}: ${await server.memoryLimits()}`);
    return server;
  }

  private async waitReady(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.exited) throw new Error(`${this.spec.name} exited during start; see ${this.spec.logFile}`);
      if (this.inspectorUrl && (await portOpen(this.spec.host, this.spec.port))) return;
      await sleep(100);
    }
    throw new Error(`${this.spec.name} did not start within ${timeoutMs} ms; see ${this.spec.logFile}`);
  }

  // what the server's Node sees of its memory limit, and the V8 heap limit it took from it
  async memoryLimits(): Promise<string> {
    return this.inspect(async (session) => {
      const seen = JSON.parse(
        await evaluate(
          session,
          "JSON.stringify([process.constrainedMemory(), process.getBuiltinModule('node:v8').getHeapStatistics().heap_size_limit])",
        ),
      ) as [number, number];
      const mib = (bytes: number): string => `${Math.round(bytes / 1024 ** 2)} MiB`;
      const pod =
        this.podMemoryBytes !== undefined ? `pod memory limit ${mib(this.podMemoryBytes)}` : 'no pod limit';
      const constrained = seen[0] > 0 && seen[0] < 2 ** 52 ? mib(seen[0]) : 'none';
      return `${pod} (Node's constrained memory ${constrained}, V8 heap limit ${mib(seen[1])})`;
    });
  }

  // The server's main-thread GC pauses so far: a PerformanceObserver of `gc` entries, installed by
  // the first call (which reads zeros). Pauses only: what V8's helper threads mark concurrently is not
  // in them, but is in the process's CPU.
  async gcPauses(): Promise<GcPauses> {
    return this.inspect(async (session) => {
      return JSON.parse(
        await evaluate(
          session,
          `(() => {
            let totals = globalThis.__benchGc;
            if (!totals) {
              totals = globalThis.__benchGc = { ms: 0, count: 0, full: 0 };
              const { PerformanceObserver, constants } = process.getBuiltinModule('node:perf_hooks');
              new PerformanceObserver((list) => {
                for (const entry of list.getEntries()) {
                  totals.ms += entry.duration;
                  totals.count++;
                  if (entry.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) totals.full++;
                }
              }).observe({ entryTypes: ['gc'] });
            }
            return JSON.stringify(totals);
          })()`,
        ),
      ) as GcPauses;
    });
  }

  // a session with the server's inspector for `work`, closed after it
  private async inspect<T>(work: (session: InspectorSession) => Promise<T>): Promise<T> {
    if (!this.inspectorUrl) throw new Error('inspector not available');
    const session = await InspectorSession.open(this.inspectorUrl);
    try {
      return await work(session);
    } finally {
      session.close();
    }
  }

  async rssBytes(): Promise<number> {
    const status = await readFile(`/proc/${this.pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
    if (!match) throw new Error(`no VmRSS for ${this.spec.name}`);
    return Number(match[1]) * 1024;
  }

  cpuSeconds(): Promise<number> {
    return cpuSecondsOf(this.pid);
  }

  // Waits until the server has used under `busyShare` of one core for a whole window (bounded).
  async settle(windowMs = 500, busyShare = 0.03, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let before = await this.cpuSeconds();
    while (Date.now() < deadline) {
      await sleep(windowMs);
      const now = await this.cpuSeconds();
      if (now - before <= (busyShare * windowMs) / 1000) return;
      before = now;
    }
  }

  // Two full GCs (the second collects what the first's finalizers released), then memory.
  memoryAfterGc(): Promise<MemorySample> {
    return this.memory(true);
  }

  // Memory as it is, no GC forced (garbage included): what the V8 heap and external memory hold.
  memoryNow(): Promise<MemorySample> {
    return this.memory(false);
  }

  private async memory(collect: boolean): Promise<MemorySample> {
    return this.inspect(async (session) => {
      if (collect) {
        await session.call('HeapProfiler.collectGarbage');
        await session.call('HeapProfiler.collectGarbage');
        await sleep(200);
      }
      // the process's memory and V8's spaces (name, size, used, resident) in one read
      const { usage, spaces } = JSON.parse(
        await evaluate(
          session,
          "JSON.stringify({ usage: process.memoryUsage(), spaces: process.getBuiltinModule('node:v8').getHeapSpaceStatistics().map((s) => [s.space_name, s.space_size, s.space_used_size, s.physical_space_size]) })",
        ),
      ) as { usage: Record<string, number>; spaces: Array<[string, number, number, number]> };
      // BENCH_HEAP_SPACES=1: the spaces printed too, for where RSS goes
      if (!collect && process.env.BENCH_HEAP_SPACES === '1')
        console.log(
          `[heap spaces] ${this.spec.name}: rss ${await this.rssBytes()} ${JSON.stringify(usage)} ${JSON.stringify(spaces)}`,
        );
      const young = spaces
        .filter(([name]) => name === 'new_space' || name === 'new_large_object_space')
        .reduce((sum, [, , , resident]) => sum + resident, 0);
      return {
        rssBytes: await this.rssBytes(),
        heapUsedBytes: usage.heapUsed,
        externalBytes: usage.external,
        youngResidentBytes: young,
      };
    });
  }

  // V8's sampling heap profiler from now until the returned stop, which writes what was sampled and
  // is still in the heap (collected or not: no GC is forced) to `file`, as a .heapprofile.
  async sampleHeap(): Promise<(file: string) => Promise<void>> {
    if (!this.inspectorUrl) throw new Error('inspector not available');
    const session = await InspectorSession.open(this.inspectorUrl);
    await session.call('HeapProfiler.startSampling', {
      samplingInterval: 4096,
      // every allocation, garbage included (what the joins allocate, not what they keep)
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    return async (file) => {
      try {
        const { profile } = (await session.call('HeapProfiler.stopSampling')) as { profile: unknown };
        writeFileSync(file, JSON.stringify(profile));
      } finally {
        session.close();
      }
    };
  }

  async heapSnapshot(file: string): Promise<string> {
    return this.inspect(async (session) => {
      return await evaluate(
        session,
        `process.getBuiltinModule('node:v8').writeHeapSnapshot(${JSON.stringify(file)})`,
      );
    });
  }

  // Event-loop delay inside the server while `work` runs (a perf_hooks histogram sampling every 5 ms,
  // started and read through the inspector): how long ready callbacks, such as a chunk to relay, waited.
  async loopDelay<T>(work: () => Promise<T>): Promise<{ result: T; delay: LoopDelay }> {
    const start = `(() => {
      const histogram = process.getBuiltinModule('node:perf_hooks').monitorEventLoopDelay({ resolution: 5 });
      histogram.enable();
      globalThis.__benchLoopDelay = histogram;
      return 'ok';
    })()`;
    const read = `(() => {
      const histogram = globalThis.__benchLoopDelay;
      histogram.disable();
      delete globalThis.__benchLoopDelay;
      const blocked = (nanos) => Math.max(0, nanos / 1e6 - 5);
      return JSON.stringify({ p50: blocked(histogram.percentile(50)), p99: blocked(histogram.percentile(99)), max: blocked(histogram.max) });
    })()`;
    return this.inspect(async (session) => {
      await evaluate(session, start);
      const result = await work();
      return { result, delay: JSON.parse(await evaluate(session, read)) as LoopDelay };
    });
  }

  // Samples the server's CPU (V8 profiler, 250 µs interval) while `work` runs.
  // a CPU profile of `work`, and a sampling heap profile (every allocation, collected or not)
  async profile<T>(
    work: () => Promise<T>,
  ): Promise<{ result: T; profile: CpuProfile; allocations: unknown }> {
    return this.inspect(async (session) => {
      await session.call('Profiler.enable');
      await session.call('Profiler.setSamplingInterval', { interval: 250 });
      await session.call('HeapProfiler.enable');
      await session.call('HeapProfiler.startSampling', {
        samplingInterval: 4096,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true,
      });
      await session.call('Profiler.start');
      const result = await work();
      const stopped = await session.call('Profiler.stop');
      const sampled = await session.call('HeapProfiler.stopSampling');
      return {
        result,
        profile: readPath(stopped, ['profile']) as CpuProfile,
        allocations: readPath(sampled, ['profile']),
      };
    });
  }

  async stop(timeoutMs = 15_000): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
  }
}

// Minimal Chrome DevTools Protocol client: one request at a time is all the bench needs.
class InspectorSession {
  private nextId = 1;
  private readonly waiting = new Map<number, (reply: unknown) => void>();

  private constructor(private readonly socket: WebSocket) {
    socket.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString()) as { id?: number; result?: unknown; error?: unknown };
      if (message.id === undefined) return;
      this.waiting.get(message.id)?.(message.error ? { error: message.error } : message.result);
      this.waiting.delete(message.id);
    });
  }

  static open(url: string): Promise<InspectorSession> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, { perMessageDeflate: false });
      socket.once('open', () => resolve(new InspectorSession(socket)));
      socket.once('error', reject);
    });
  }

  call(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`inspector: ${method} timed out`)), 30_000);
      this.waiting.set(id, (reply) => {
        clearTimeout(timer);
        if (typeof reply === 'object' && reply !== null && 'error' in reply)
          reject(new Error(`inspector: ${method} failed`));
        else resolve(reply);
      });
      this.socket.send(JSON.stringify({ id, method, params }));
    });
  }

  close(): void {
    this.socket.close();
  }
}

async function evaluate(session: InspectorSession, expression: string): Promise<string> {
  const reply = await session.call('Runtime.evaluate', { expression, returnByValue: true });
  return String(readPath(reply, ['result', 'value']));
}

function readPath(value: unknown, path: string[]): unknown {
  let current = value;
  for (const key of path) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

// a port nothing listens on now, on the loopback address the servers bind
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolvePort(port));
    });
  });
}
