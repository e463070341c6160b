import { setTimeout as sleep } from 'node:timers/promises';
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { RotationPasses } from '../../common/crypto/rotation-passes';
import { SETTINGS, type Settings } from '../../config/settings';
import { ReportsRepository } from './reports.repository';

// between reports: the pass yields to live traffic
const PAUSE_MS = 5;

// The reports' reasons and reported text and file names after an ENCRYPTION_KEY rotation, as
// KeyRotationService does for sessions: rewritten with the new key in the background, once at start
// while ENCRYPTION_KEY_PREVIOUS is set (docs/operations.md, "Rotating ENCRYPTION_KEY"). Why no lock:
// ReportsRepository.reencrypt.
@Injectable()
export class ReportRotationService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('key-rotation');
  private readonly passes = new RotationPasses();

  constructor(
    private readonly reports: ReportsRepository,
    @Inject(SETTINGS) private readonly settings: Settings,
  ) {}

  onApplicationBootstrap(): void {
    this.passes.start(this.settings, () => this.run());
  }

  onModuleDestroy(): void {
    this.passes.stop();
  }

  async run(pauseMs = PAUSE_MS): Promise<{ rewritten: number; failed: number }> {
    const result = { rewritten: 0, failed: 0 };
    try {
      for await (const { id, stale } of this.reports.withOldKeys()) {
        if (this.passes.stopped) break;
        try {
          if (await this.reports.reencrypt(id, stale)) result.rewritten++;
        } catch (error) {
          // an unknown key or a store error: this report keeps its fields as they are
          result.failed++;
          this.logger.error(
            { event: 'key_rotation_failed', report_id: id, error: String(error) },
            'could not re-encrypt a report',
          );
        }
        if (pauseMs > 0) await sleep(pauseMs);
      }
    } catch (error) {
      result.failed++;
      this.logger.error({ event: 'key_rotation_failed', error: String(error) }, 'reports not re-encrypted');
    }
    this.logger.log(
      { event: 'key_rotation_reports_done', ...result, stopped: this.passes.stopped },
      'reports re-encrypted',
    );
    return result;
  }
}
