import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { SETTINGS, type Settings } from '../../config/settings';
import { STORAGE_DRIVER, type StorageDriver } from '../../infra/storage/storage-driver';
import { SESSION_LOCK } from '../../infra/lock/lock';
import type { WriteLock } from '../../infra/lock/write.lock';
import { fileLockKey, FilesRepository, PENDING_HEARTBEAT_MS, type BareFileRecord } from './files.repository';
import { LateScanSweep } from './late-scan-sweep';
import { UPLOAD_IDLE_MS } from './multipart-reader';
import { UploadMetrics } from './upload-metrics';

// A pending upload's record is touched every PENDING_HEARTBEAT_MS while its bytes stream
// (upload-pipeline.ts), so one untouched for this long (min(1h, UPLOAD_UNATTACHED_TTL), at least five
// minutes) was cut off by a crash: its object may be half-written (docs/protocol.md, "Uploads and
// files"). Its room in the quota was given back long before (FilesRepository.usedBytes).
const PENDING_GRACE_MS = 60 * 60 * 1000;
const PENDING_GRACE_MIN_MS = Math.max(5 * 60_000, 5 * PENDING_HEARTBEAT_MS);
// A part storage is writing gets bytes at least every UPLOAD_IDLE_MS (the uploader's stall ends it)
// or CLAMAV_TIMEOUT (clamd slower than the uploader holds both copies): one untouched for an hour,
// and for five of the longer of those, was cut off by a crash (docs/protocol.md, "Uploads and files").
const PART_GRACE_MS = 60 * 60 * 1000;
const PART_GRACE_PAUSES = 5;

// Deletes uploads never attached to a message after UPLOAD_UNATTACHED_TTL (a day), uploads that
// never finished, and the parts of writes a crash cut off (local disk); then scans a batch of the
// files stored while scanning was off (LateScanSweep). Every instance may run it: deletes are
// idempotent.
@Injectable()
export class UploadsCleanup implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('uploads');
  private timer?: NodeJS.Timeout;
  private running?: Promise<number>;

  constructor(
    private readonly files: FilesRepository,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
    private readonly metrics: UploadMetrics,
    @Inject(SETTINGS) private readonly settings: Settings,
    @Inject(SESSION_LOCK) private readonly lock: WriteLock,
    private readonly lateScans: LateScanSweep,
  ) {}

  onModuleInit(): void {
    this.timer = setInterval(() => void this.run(), this.settings.uploads.cleanupIntervalMs);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    this.lateScans.stop();
    await this.running;
  }

  run(now = new Date()): Promise<number> {
    this.running ??= this.sweep(now)
      .catch((error: unknown) => {
        this.logger.error({ event: 'upload_cleanup_failed', err: String(error) }, 'upload cleanup failed');
        return 0;
      })
      // the disk needs no store: its parts are swept whatever the records' sweep did; the late scans
      // come last, so no file the sweep deletes is scanned first
      .then(async (deleted) => {
        await this.sweepParts(now);
        await this.lateScans.run();
        return deleted;
      })
      .finally(() => (this.running = undefined));
    return this.running;
  }

  private async sweep(now: Date): Promise<number> {
    const unattachedBefore = new Date(now.getTime() - this.settings.uploads.unattachedTtlMs);
    const pendingBefore = new Date(
      now.getTime() -
        Math.max(PENDING_GRACE_MIN_MS, Math.min(PENDING_GRACE_MS, this.settings.uploads.unattachedTtlMs)),
    );
    let deleted = 0;
    for (;;) {
      const expired = await this.files.findExpired(unattachedBefore, pendingBefore);
      let batch = 0;
      for (const file of expired) if (await this.sweepOne(file.id, unattachedBefore, pendingBefore)) batch++;
      deleted += batch;
      // none of them is to go any more (attached, finished meanwhile): the next run sees them again
      if (batch === 0) break;
    }
    if (deleted > 0) {
      this.metrics.deleted.inc(deleted);
      this.logger.log({ event: 'uploads_cleaned', count: deleted }, 'unattached uploads deleted');
    }
    return deleted;
  }

  // One file, under its lock (the attach takes it too), judged again on its record as it is now: a
  // file sent in a message after the batch was read is kept. The sweep deleted such a file while the
  // message was acked (GET /chat/files/:id 404 for good; docs/protocol.md, "Uploads and files").
  // Until the files audit of session 44 an instance paused past the lock's key (SIGSTOP 7 s) with
  // its markDeleting in flight resumed and deleted a file another instance had meanwhile attached to
  // an acked message (4 of 4 runs): the mark is now checked against what the sweep judged
  // (FilesRepository.markDeletingAsJudged).
  private sweepOne(id: string, unattachedBefore: Date, pendingBefore: Date): Promise<boolean> {
    return this.lock.run(fileLockKey(id), async (hold) => {
      const judged = await this.files.judged(id);
      const found = judged && (await this.files.findForSweep(id));
      if (!judged || !found || !stillExpired(found.file, found.shown, unattachedBefore, pendingBefore))
        return false;
      // no attach takes it from here, even if the delete below fails (the next run retries it); an
      // attach since the judgement keeps it (the next run judges again)
      if (!(await this.files.markDeletingAsJudged(id, judged, hold))) return false;
      // object first: a record without an object is harmless, an object without a record is a leak
      await this.storage.delete(found.file.storage_key);
      await this.files.remove(id);
      return true;
    });
  }

  // The `.part-*` files a crash left on local disk; a write cut off otherwise removes its own.
  private async sweepParts(now: Date): Promise<void> {
    if (!this.storage.sweepParts) return;
    const pause = Math.max(UPLOAD_IDLE_MS, this.settings.uploads.clamav?.timeoutMs ?? 0);
    const untouchedBefore = new Date(now.getTime() - Math.max(PART_GRACE_MS, PART_GRACE_PAUSES * pause));
    try {
      const removed = await this.storage.sweepParts(untouchedBefore);
      if (removed > 0)
        this.logger.log({ event: 'upload_parts_removed', count: removed }, 'parts of cut-off writes removed');
    } catch (error) {
      this.logger.error({ event: 'upload_parts_sweep_failed', err: String(error) }, 'part sweep failed');
    }
  }
}

// findExpired's rule, on one record read under the file's lock (docs/protocol.md, "Uploads and files")
function stillExpired(
  file: BareFileRecord,
  shown: boolean,
  unattachedBefore: Date,
  pendingBefore: Date,
): boolean {
  if (file.status === 'deleting') return true;
  if (file.status === 'ready') return !file.attached && !shown && file.created_at < unattachedBefore;
  return new Date(file.alive_at ?? file.created_at) < pendingBefore;
}
