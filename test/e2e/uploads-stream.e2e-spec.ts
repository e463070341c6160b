import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testEnv } from '../helpers/env';
import { startAppProcess, type AppProcess } from '../helpers/process';
import { uniqueUser, userToken } from '../helpers/tokens';
import { filesUnder, rawUpload } from './uploads.helpers';

const MIB = 1024 * 1024;
const FILE_BYTES = 200 * MIB;

// kB values of the child's /proc status: current and peak resident set
function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: field('VmRSS'), peak: field('VmHWM') };
}

// VmHWM is the peak since the process started: "5" in clear_refs starts it again from the current
// RSS (Linux ≥ 4.0), so each upload's peak is its own. Without it the second upload's growth was
// measured from the first one's peak: 47.7 MiB in a CI run where both peaks were 271.5 MiB and the
// RSS had fallen 1.7 MiB in between. Where that is refused, the 50 ms samples alone.
function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

// The built server (dist/main.js) as its own process, so its memory is measured alone: a 200 MiB
// upload goes to local disk (and to clamd when the test service runs) through a bounded pipeline.
describe('a 200 MiB upload streams with bounded server memory (e2e, built server)', () => {
  let server: AppProcess;
  let dir: string;
  let scanning = false;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'uploads-stream-'));
    const clamav: Record<string, string> =
      process.env.TEST_CLAMAV_HOST && process.env.TEST_CLAMAV_PORT
        ? { CLAMAV_HOST: process.env.TEST_CLAMAV_HOST, CLAMAV_PORT: process.env.TEST_CLAMAV_PORT }
        : {};
    scanning = 'CLAMAV_HOST' in clamav;
    server = await startAppProcess({
      ...testEnv(),
      ...clamav,
      UPLOAD_DIR: dir,
      UPLOAD_MAX_BYTES: String(300 * MIB),
      UPLOAD_QUOTA_BYTES: String(1024 * MIB),
    });
  }, 60_000);
  afterAll(async () => {
    server?.child.kill('SIGTERM');
    await server?.exited;
    rmSync(dir, { recursive: true, force: true });
  });

  it('should store the whole file while the server grows by far less than the file', async () => {
    const pid = server.child.pid as number;
    const token = userToken(uniqueUser());
    // warm up: code paths loaded, pools and buffers allocated
    expect((await rawUpload(server.port, token, { fileBytes: 4 * MIB }).response).status).toBe(201);
    const mib = (bytes: number) => (bytes / MIB).toFixed(1);
    const measure = async (label: string) => {
      const peakReset = resetPeak(pid);
      const before = memoryOf(pid);
      let highest = before.rss;
      const sampler = setInterval(() => (highest = Math.max(highest, memoryOf(pid).rss)), 50);
      const started = performance.now();
      const result = await rawUpload(server.port, token, { fileBytes: FILE_BYTES }).response;
      const seconds = (performance.now() - started) / 1000;
      clearInterval(sampler);
      const after = memoryOf(pid);
      expect(result.status).toBe(201);
      expect(JSON.parse(result.body)).toMatchObject({ size: FILE_BYTES, mime_type: 'text/plain' });
      const peak = peakReset ? Math.max(highest, after.peak) : highest;
      const growth = peak - before.rss;
      console.log(
        `${label} 200 MiB upload (${scanning ? 'with' : 'without'} clamd) in ${seconds.toFixed(1)} s ` +
          `(${(200 / seconds).toFixed(0)} MiB/s): server RSS ${mib(before.rss)} MiB before, ` +
          `peak ${mib(peak)} MiB, after ${mib(after.rss)} MiB → growth ${mib(growth)} MiB`,
      );
      return growth;
    };
    // buffering the file whole would add at least its 200 MiB; streaming adds a fixed working set
    expect(await measure('first')).toBeLessThan(140 * MIB);
    // ...that the next upload reuses: memory does not grow with the bytes streamed
    expect(await measure('second')).toBeLessThan(40 * MIB);
    const stored = filesUnder(dir).map((path) => statSync(path).size);
    expect(stored.filter((size) => size === FILE_BYTES)).toHaveLength(2);
  }, 240_000);
});
