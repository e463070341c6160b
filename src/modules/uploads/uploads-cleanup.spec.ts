import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Settings } from '../../config/settings';
import { InProcessLock } from '../../infra/lock/in-process.lock';
import { WriteLock } from '../../infra/lock/write.lock';
import { LocalDiskStorage } from '../../infra/storage/local-disk.storage';
import type { FilesRepository } from './files.repository';
import type { LateScanSweep } from './late-scan-sweep';
import type { UploadMetrics } from './upload-metrics';
import { UploadsCleanup } from './uploads-cleanup';

const MINUTE = 60_000;

describe(UploadsCleanup.name, () => {
  let root: string;

  beforeEach(() => (root = mkdtempSync(join(tmpdir(), 'uploads-cleanup-'))));
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  function cleanupWith(clamavTimeoutMs?: number, storeDown = false): UploadsCleanup {
    const files = {
      findExpired: () => (storeDown ? Promise.reject(new Error('store down')) : Promise.resolve([])),
    } as unknown as FilesRepository;
    const settings = {
      uploads: {
        unattachedTtlMs: 24 * 60 * MINUTE,
        cleanupIntervalMs: 60 * MINUTE,
        clamav: clamavTimeoutMs ? { host: 'x', port: 1, timeoutMs: clamavTimeoutMs } : undefined,
      },
    } as unknown as Settings;
    const storage = new LocalDiskStorage(root, randomBytes(32));
    return new UploadsCleanup(
      files,
      storage,
      {} as UploadMetrics,
      settings,
      new WriteLock(new InProcessLock(), async () => undefined),
      { run: async () => undefined, stop: () => undefined } as unknown as LateScanSweep,
    );
  }

  // a part of an object under the root, last written `ageMs` before `now`
  function part(name: string, now: number, ageMs: number): string {
    mkdirSync(join(root, 'files', 'abc'), { recursive: true });
    const path = join(root, 'files', 'abc', `${name}.part-${randomBytes(6).toString('hex')}`);
    writeFileSync(path, 'half');
    utimesSync(path, new Date(now - ageMs), new Date(now - ageMs));
    return path;
  }

  it('should remove the parts a crash left once untouched for an hour', async () => {
    const now = Date.now();
    const crashed = part('a', now, 61 * MINUTE);
    const recent = part('b', now, 30 * MINUTE);
    await cleanupWith().run(new Date(now));
    expect([existsSync(crashed), existsSync(recent)]).toEqual([false, true]);
  });

  it('should wait longer when clamd may hold a write longer', async () => {
    const now = Date.now();
    // clamd slower than the uploader holds the copy to disk for up to CLAMAV_TIMEOUT at a time
    const held = part('a', now, 90 * MINUTE);
    const crashed = part('b', now, 120 * MINUTE);
    await cleanupWith(20 * MINUTE).run(new Date(now));
    expect([existsSync(held), existsSync(crashed)]).toEqual([true, false]);
  });

  it('should sweep the parts while the store is down', async () => {
    const now = Date.now();
    const crashed = part('a', now, 61 * MINUTE);
    expect(await cleanupWith(undefined, true).run(new Date(now))).toBe(0);
    expect(existsSync(crashed)).toBe(false);
  });
});
