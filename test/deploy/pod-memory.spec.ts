import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { parse } from 'yaml';
import { imageEnv, makePod, parseQuantity, podMemoryBytes, podNote } from '../../bench/pod-memory';

// The benches run each server in a memory cgroup with the chart's limit (bench/pod-memory.ts): the
// limit they read must be the chart's, and a quantity they cannot read must stop them, not be
// taken as no limit.
describe('bench pod memory limit', () => {
  const saved = process.env.BENCH_POD_MEMORY;
  afterEach(() => {
    if (saved === undefined) delete process.env.BENCH_POD_MEMORY;
    else process.env.BENCH_POD_MEMORY = saved;
  });

  it('reads Kubernetes binary quantities', () => {
    const units = { '': 1, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 } as const;
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4096 }), fc.constantFrom('', 'Ki', 'Mi', 'Gi'), (n, unit) => {
        expect(parseQuantity(`${n}${unit}`)).toBe(n * units[unit as keyof typeof units]);
      }),
    );
    expect(parseQuantity('0')).toBeUndefined();
  });

  it('refuses anything else', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        fc.pre(!/^\s*\d+(Ki|Mi|Gi)?\s*$/.test(text));
        expect(() => parseQuantity(text)).toThrow(/not a memory quantity/);
      }),
    );
    for (const text of ['512M', '1.5Gi', '-1Mi', '512mi', '0x10'])
      expect(() => parseQuantity(text)).toThrow();
  });

  it("defaults to the chart's memory limit; 0 and off mean none", () => {
    const values = parse(readFileSync(join(__dirname, '../../helm/chatbox/values.yaml'), 'utf8')) as {
      resources: { limits: { memory: string } };
    };
    expect(values.resources.limits.memory).toBe('512Mi');
    delete process.env.BENCH_POD_MEMORY;
    expect(podMemoryBytes()).toBe(512 * 1024 ** 2);
    process.env.BENCH_POD_MEMORY = '0';
    expect(podMemoryBytes()).toBeUndefined();
    process.env.BENCH_POD_MEMORY = 'off';
    expect(podMemoryBytes()).toBeUndefined();
    process.env.BENCH_POD_MEMORY = '1Gi';
    expect(podMemoryBytes()).toBe(1024 ** 3);
  });

  // the benches give every server the production image's environment
  it("reads the image's environment from the Dockerfile's last stage", () => {
    expect(imageEnv()).toMatchObject({
      NODE_ENV: 'production',
      MALLOC_ARENA_MAX: '2',
      NODE_OPTIONS: '--max-semi-space-size=16',
    });
    expect(imageEnv('FROM a AS build\nENV X=1\nFROM b\nENV Y=2\nRUN true\nENV Z= 3 \n')).toEqual({
      Y: '2',
      Z: '3',
    });
  });

  // What the cgroup is for: Node in it sees the limit and sizes its heap from it. Where no cgroup can
  // be made the server runs without one, and the report must say so.
  it('starts a process that Node sees inside the limit, or says it could not', () => {
    process.env.BENCH_POD_MEMORY = '256Mi';
    const script = 'console.log(process.constrainedMemory())';
    const pod = makePod('pod-test', [process.execPath, '-e', script]);
    if (pod === undefined) {
      expect(podNote()).toMatch(/without|no cgroup|defaults/);
      return;
    }
    try {
      const [command, args] = pod.command;
      expect(Number(execFileSync(command, args, { encoding: 'utf8' }).trim())).toBe(256 * 1024 ** 2);
      expect(podNote()).toMatch(/memory cgroup of 256 MiB/);
    } finally {
      pod.remove();
    }
  });
});
