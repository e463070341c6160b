// A server under test runs in a memory cgroup with the Helm chart's memory limit, as it does in its
// pod. Node reads that limit (process.constrainedMemory()) and V8 sizes its heap from it: in a
// 512 MiB cgroup on this machine the heap limit is 259 MiB and the young generation stays at 2 MiB,
// against 4,288 MiB and up to 128 MiB with the machine's 24 GiB. What a server's RSS is without a GC
// depends on that young generation (bench/README.md, "Rooms after session 16"), so the memory rows are
// measured as deployed. The same limit is given to every server, the bare ones included.
//
//   BENCH_POD_MEMORY=0       the machine's defaults (no cgroup), as before session 17 (or `off`)
//   BENCH_POD_MEMORY=1Gi     another limit (Ki, Mi, Gi or bytes)
//   unset                    the chart's resources.limits.memory (helm/chatbox/values.yaml)
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';

const UNITS: Record<string, number> = { '': 1, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 };

// Kubernetes' binary quantities (what the chart uses); undefined for 0 / off
export function parseQuantity(text: string): number | undefined {
  const match = /^(\d+)(Ki|Mi|Gi)?$/.exec(text.trim());
  if (!match) throw new Error(`BENCH_POD_MEMORY: not a memory quantity: ${text}`);
  const bytes = Number(match[1]) * UNITS[match[2] ?? ''];
  return bytes > 0 ? bytes : undefined;
}

// a file of the repository, found upward from here (bench/ runs compiled under .data/<bench>/build);
// read once per run (every server's start asks)
const repositoryFiles = new Map<string, string>();
function repositoryFile(path: string): string {
  for (let dir = __dirname; !repositoryFiles.has(path) && dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, path);
    if (existsSync(file)) repositoryFiles.set(path, readFileSync(file, 'utf8'));
  }
  const text = repositoryFiles.get(path);
  if (text === undefined) throw new Error(`${path} not found above ${__dirname}`);
  return text;
}

function chartValues(): string {
  return repositoryFile('helm/chatbox/values.yaml');
}

// The production image's environment (the Dockerfile's `ENV` lines of its last stage: the
// allocator's and Node's settings), given to every server under test, the bare ones too.
export function imageEnv(dockerfile = repositoryFile('Dockerfile')): Record<string, string> {
  const stages = dockerfile.split(/^FROM .*$/m);
  const env: Record<string, string> = {};
  for (const match of stages[stages.length - 1].matchAll(/^ENV (\w+)=(.*)$/gm))
    env[match[1]] = match[2].trim();
  return env;
}

function chartLimit(): string {
  const values = parse(chartValues()) as {
    resources?: { limits?: { memory?: string } };
  };
  const limit = values.resources?.limits?.memory;
  if (!limit) throw new Error('helm/chatbox/values.yaml has no resources.limits.memory');
  return limit;
}

export function podMemoryBytes(): number | undefined {
  const setting = process.env.BENCH_POD_MEMORY;
  if (setting === 'off') return undefined;
  return parseQuantity(setting ?? chartLimit());
}

// This process's memory cgroup directory: cgroup v1's memory hierarchy, else the v2 one.
function ownCgroup(): { dir: string; limitFile: string } | undefined {
  const lines = readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n');
  const v1 = lines.find((line) => line.split(':')[1]?.split(',').includes('memory'));
  if (v1) return { dir: join('/sys/fs/cgroup/memory', v1.split(':')[2]), limitFile: 'memory.limit_in_bytes' };
  const v2 = lines.find((line) => line.startsWith('0::'));
  if (v2) return { dir: join('/sys/fs/cgroup', v2.slice(3)), limitFile: 'memory.max' };
  return undefined;
}

// what the report says of the servers' memory limits: every server started so far
const started = { inPod: 0, outside: 0, limitBytes: 0 };

export function podNote(): string {
  const mib = Math.round(started.limitBytes / 1024 ** 2);
  if (started.outside === 0 && started.inPod > 0)
    return `Each server ran in a memory cgroup of ${mib} MiB (the chart's limit; BENCH_POD_MEMORY), as in its pod.`;
  if (started.inPod === 0)
    return "The servers ran with the machine's memory defaults (no cgroup; BENCH_POD_MEMORY=0 or none could be made).";
  return `${started.inPod} servers ran in a memory cgroup of ${mib} MiB, ${started.outside} without (none could be made).`;
}

export interface Pod {
  // the command that starts `argv` inside the cgroup (same pid: the shell execs it)
  command: [string, string[]];
  limitBytes: number;
  remove(): void;
}

// Cgroups earlier runs left (a bench stopped by a signal, or one that exited before its servers'
// cgroups were empty): named after their bench's pid, removed once that process is gone.
function removeStale(parent: string): void {
  for (const entry of readdirSync(parent)) {
    const pid = /^bench-.*-(\d+)$/.exec(entry)?.[1];
    if (pid === undefined || pid === String(process.pid) || existsSync(`/proc/${pid}`)) continue;
    try {
      rmdirSync(join(parent, entry));
    } catch {
      // still holds a process (a server that outlived its bench): left alone
    }
  }
}

// A cgroup for one server, or undefined (with the reason printed) where none can be made: the run
// then goes on with the machine's defaults and its report says so.
export function makePod(name: string, argv: string[]): Pod | undefined {
  const limitBytes = podMemoryBytes();
  if (limitBytes === undefined) {
    started.outside++;
    return undefined;
  }
  const own = ownCgroup();
  try {
    if (!own) throw new Error('no memory cgroup in /proc/self/cgroup');
    removeStale(own.dir);
    const dir = join(own.dir, `bench-${name.replace(/[^a-z0-9-]/gi, '-')}-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, own.limitFile), String(limitBytes));
    started.inPod++;
    started.limitBytes = limitBytes;
    return {
      command: ['/bin/sh', ['-c', 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"', 'sh', dir, ...argv]],
      limitBytes,
      remove: () => {
        try {
          rmdirSync(dir);
        } catch {
          // still emptying after the exit; the next run's directory has another name
        }
      },
    };
  } catch (error) {
    console.log(
      `[bench] ${name}: no memory cgroup of ${limitBytes} bytes (${(error as Error).message}); ` +
        "running with the machine's memory defaults",
    );
    started.outside++;
    return undefined;
  }
}
