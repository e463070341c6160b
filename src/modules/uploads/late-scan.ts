import type { Readable } from 'node:stream';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { ClamdScanner, ScanSizeLimit, type ScanVerdict } from '../../infra/scanner/clamd.scanner';
import { SESSION_LOCK } from '../../infra/lock/lock';
import type { WriteLock } from '../../infra/lock/write.lock';
import {
  STORAGE_DRIVER,
  StorageObjectMissing,
  StorageUnavailable,
  type StorageDriver,
} from '../../infra/storage/storage-driver';
import { MALWARE_SCANNER } from './malware-scanner';
import { fileLockKey, FilesRepository, type BareFileRecord } from './files.repository';
import { UploadMetrics } from './upload-metrics';

// Files stored while scanning was off (`scanned: false`) are scanned before they are served once a
// scanner is configured: they were served as clean forever (docs/protocol.md, "Uploads and files").
// Clean: marked scanned, served. Infected: refused like an infected upload (FILE_REJECTED) and
// deleted. clamd down: 503, never served unscanned. The uploads cleanup's sweep (LateScanSweep) takes
// the same path ahead of any download.
@Injectable()
export class LateScan {
  private readonly logger = new Logger('uploads');
  // one scan per file at a time on this instance; the others wait for its verdict
  private readonly running = new Map<string, Promise<void>>();

  constructor(
    private readonly files: FilesRepository,
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
    @Inject(MALWARE_SCANNER) private readonly scanner: ClamdScanner | null,
    @Inject(SESSION_LOCK) private readonly lock: WriteLock,
    private readonly metrics: UploadMetrics,
  ) {}

  // Whether a scanner is configured (without one, nothing is scanned late).
  get active(): boolean {
    return this.scanner !== null;
  }

  // Whether `file` must be scanned before it is served.
  pending(file: Pick<BareFileRecord, 'scanned'>): boolean {
    return this.scanner !== null && !file.scanned;
  }

  // Throws unless `file` may be served: scanned now when it never was.
  async ensureClean(file: BareFileRecord): Promise<void> {
    if (!this.pending(file)) return;
    let scan = this.running.get(file.id);
    if (!scan) {
      scan = this.scan(file).finally(() => this.running.delete(file.id));
      this.running.set(file.id, scan);
    }
    await scan;
  }

  // The signed-link route (local disk) knows the storage key only: a link signed while scanning was
  // off is good for SIGNED_URL_TTL after a restart with it on.
  async ensureCleanKey(key: string): Promise<void> {
    if (!this.scanner) return;
    const file = await this.files.findByStorageKey(key);
    if (!file) return;
    if (file.status === 'deleting') throw new DomainException(ErrorCode.NOT_FOUND, 'File not found.');
    if (file.status === 'ready') await this.ensureClean(file);
  }

  private async scan(file: BareFileRecord): Promise<void> {
    const verdict = await this.verdictOf(file);
    this.metrics.lateScan(verdict.clean ? 'clean' : 'infected');
    // under the file's lock (attach and discard take it): FerretDB loses one of two updates of one
    // document at once (docs/protocol.md, "Uploads and files")
    await this.lock.run(fileLockKey(file.id), async () => {
      if (verdict.clean) {
        await this.files.markScanned(file.id);
        this.logger.log({ event: 'file_late_scanned', file_id: file.id }, 'stored file scanned clean');
        return;
      }
      this.logger.warn(
        {
          event: 'upload_infected',
          user_id: file.owner_id,
          file_id: file.id,
          source: file.source,
          late_scan: true,
          signature: verdict.signature,
        },
        'stored file rejected: malware found',
      );
      // as `discard`: never served or attached again; object first, a failed delete is the cleanup's
      await this.files.markDeleting(file.id);
      try {
        await this.storage.delete(file.storage_key);
        await this.files.remove(file.id);
      } catch (error) {
        this.logger.warn(
          { event: 'upload_discard_deferred', file_id: file.id, err: String(error) },
          'object not deleted yet; the cleanup will',
        );
      }
    });
    if (!verdict.clean)
      throw new DomainException(ErrorCode.FILE_REJECTED, 'The file was rejected: it contains malware.');
  }

  // clamd's verdict on the stored bytes; any failure to get one is a refusal, never a pass
  private async verdictOf(file: BareFileRecord): Promise<ScanVerdict> {
    let body: Readable | undefined;
    try {
      body = await this.storage.get(file.storage_key);
      return await this.scanner!.scan(body);
    } catch (error) {
      if (error instanceof StorageObjectMissing) {
        this.metrics.lateScan('missing');
        throw new DomainException(ErrorCode.NOT_FOUND, 'File not found.');
      }
      if (error instanceof StorageUnavailable) {
        this.metrics.lateScan('storage_down');
        throw new DomainException(ErrorCode.STORAGE_UNAVAILABLE);
      }
      if (error instanceof ScanSizeLimit) {
        this.metrics.lateScan('too_large');
        throw new DomainException(
          ErrorCode.FILE_TOO_LARGE,
          'The file is larger than the malware scanner accepts.',
        );
      }
      this.metrics.lateScan('scanner_down');
      this.logger.error(
        { event: 'scanner_unavailable', file_id: file.id, err: String(error) },
        'scanner down: stored file not served',
      );
      throw new DomainException(
        ErrorCode.SCANNER_UNAVAILABLE,
        'This file cannot be checked for malware right now; please try again later.',
      );
    } finally {
      body?.destroy();
    }
  }
}
