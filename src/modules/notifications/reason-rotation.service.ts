import { Inject, Injectable } from '@nestjs/common';
import { KeyRotationPass } from '../../common/crypto/rotation-passes';
import { SETTINGS, type Settings } from '../../config/settings';
import { NotificationsRepository } from './notifications.repository';

// alerts still pending at a pass are settled within ALERT_RETRY_MAX × attempts: a later pass gets them
const REPEAT_MS = 3_600_000;

// The alerts' encrypted reasons after an ENCRYPTION_KEY rotation, as KeyRotationService does for
// sessions: rewritten with the new key in the background, at start and then hourly while
// ENCRYPTION_KEY_PREVIOUS is set.
@Injectable()
export class ReasonRotationService extends KeyRotationPass {
  constructor(
    private readonly repository: NotificationsRepository,
    @Inject(SETTINGS) settings: Settings,
  ) {
    super(settings, REPEAT_MS);
  }

  async run(): Promise<{ rewritten: number; failed: number }> {
    try {
      const result = await this.repository.reencryptReasons();
      this.logger.log({ event: 'key_rotation_notifications_done', ...result }, 'alert reasons re-encrypted');
      return result;
    } catch (error) {
      this.logger.error(
        { event: 'key_rotation_failed', error: String(error) },
        'alert reasons not re-encrypted',
      );
      return { rewritten: 0, failed: 1 };
    }
  }
}
