import { Injectable, Logger } from '@nestjs/common';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { FilesRepository } from './files.repository';
import { LateScan } from './late-scan';

// Files one run scans at most (a run every UPLOAD_CLEANUP_INTERVAL).
export const LATE_SCAN_BATCH = 100;

// What LateScan refuses a file for that is this file's alone: the next file is scanned all the same.
// Infected: deleted. Missing: its object is gone. Too large for clamd: it stays unscanned.
const FILE_OUTCOMES: ReadonlySet<ErrorCode> = new Set([
  ErrorCode.FILE_REJECTED,
  ErrorCode.NOT_FOUND,
  ErrorCode.FILE_TOO_LARGE,
]);

// Scans the files stored while scanning was off ahead of any download, once a scanner is set: a
// batch a run, oldest first, each through LateScan as a download would (clean: marked scanned;
// infected: deleted; the same logs) (docs/protocol.md, "Uploads and files"). Every instance may run
// it at once: a file two instances scan is scanned twice, and both verdicts are applied as a
// download's would be (marking scanned and deleting are idempotent), so it is wasted work only.
@Injectable()
export class LateScanSweep {
  private readonly logger = new Logger('uploads');
  // the last file this instance's pass took: files it could not scan (too large, missing) are not
  // read again before the pass reaches the newest, so they never hold up the ones behind them
  private after?: { created_at: Date; id: string };
  private stopped = false;

  constructor(
    private readonly files: FilesRepository,
    private readonly lateScan: LateScan,
  ) {}

  // The instance shuts down: the file being scanned is the last.
  stop(): void {
    this.stopped = true;
  }

  // Never throws. A failure that is not the file's (clamd or storage down, the store) ends the run
  // with one error log; the next run begins with the same file.
  async run(limit = LATE_SCAN_BATCH): Promise<void> {
    if (!this.lateScan.active || this.stopped) return;
    let batch;
    try {
      batch = await this.files.findUnscanned(limit, this.after);
    } catch (error) {
      this.logger.error({ event: 'late_scan_sweep_failed', err: String(error) }, 'late scan sweep failed');
      return;
    }
    for (const file of batch) {
      if (this.stopped) return;
      try {
        await this.lateScan.ensureClean(file);
      } catch (error) {
        if (!(error instanceof DomainException && FILE_OUTCOMES.has(error.code))) {
          // clamd down is logged by LateScan (scanner_unavailable), once: the run stops at it
          if (!(error instanceof DomainException && error.code === ErrorCode.SCANNER_UNAVAILABLE))
            this.logger.error(
              { event: 'late_scan_sweep_failed', file_id: file.id, err: String(error) },
              'late scan sweep failed',
            );
          return;
        }
      }
      this.after = { created_at: file.created_at, id: file.id };
    }
    // the newest was reached: the next pass starts from the oldest again
    if (batch.length < limit) this.after = undefined;
  }
}
