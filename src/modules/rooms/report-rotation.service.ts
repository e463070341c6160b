import { Inject, Injectable } from '@nestjs/common';
import { KeyRotationPass, type RotationCount } from '../../common/crypto/rotation-passes';
import { SETTINGS, type Settings } from '../../config/settings';
import { ReportsRepository } from './reports.repository';

// between reports: the pass yields to live traffic
const PAUSE_MS = 5;

// The reports' reasons and reported text and file names after an ENCRYPTION_KEY rotation, as
// KeyRotationService does for sessions: rewritten with the new key in the background, once at start
// while ENCRYPTION_KEY_PREVIOUS is set (docs/operations.md, "Rotating ENCRYPTION_KEY"). Why no lock:
// ReportsRepository.reencrypt.
@Injectable()
export class ReportRotationService extends KeyRotationPass {
  constructor(
    private readonly reports: ReportsRepository,
    @Inject(SETTINGS) settings: Settings,
  ) {
    super(settings);
  }

  run(pauseMs = PAUSE_MS): Promise<RotationCount> {
    return this.passes.rewriteEach(
      this.logger,
      { what: 'reports', idField: 'report_id', doneEvent: 'key_rotation_reports_done' },
      this.reports.withOldKeys(),
      ({ id }) => id,
      ({ id, stale }) => this.reports.reencrypt(id, stale),
      pauseMs,
    );
  }
}
