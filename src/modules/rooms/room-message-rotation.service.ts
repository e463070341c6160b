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
import { SESSION_LOCK } from '../../infra/lock/lock';
import type { WriteLock } from '../../infra/lock/write.lock';
import { roomMessageKey } from './room-locks';
import { RoomMessagesRepository } from './room-messages.repository';

// between messages: the pass yields to live traffic
const PAUSE_MS = 5;

// The room messages' text, earlier texts (edits) and file names after an ENCRYPTION_KEY rotation, as
// KeyRotationService does for sessions: rewritten with the new key in the background, each under the
// lock its edits and deletes take (room-locks.ts: FerretDB's updates are unlocked read-modify-writes,
// so an edit landing between the pass's read and write would otherwise be written over), once at
// start while ENCRYPTION_KEY_PREVIOUS is set (docs/operations.md, "Rotating ENCRYPTION_KEY").
@Injectable()
export class RoomMessageRotationService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('key-rotation');
  private readonly passes = new RotationPasses();

  constructor(
    private readonly messages: RoomMessagesRepository,
    @Inject(SESSION_LOCK) private readonly lock: WriteLock,
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
      for await (const id of this.messages.messagesWithOldKeys()) {
        if (this.passes.stopped) break;
        try {
          if (await this.lock.run(roomMessageKey(id), () => this.messages.reencrypt(id))) result.rewritten++;
        } catch (error) {
          // an unknown key, a lock not had in time or a store error: this message stays as it is
          result.failed++;
          this.logger.error(
            { event: 'key_rotation_failed', message_id: id, error: String(error) },
            'could not re-encrypt a room message',
          );
        }
        if (pauseMs > 0) await sleep(pauseMs);
      }
    } catch (error) {
      result.failed++;
      this.logger.error(
        { event: 'key_rotation_failed', error: String(error) },
        'room messages not re-encrypted',
      );
    }
    this.logger.log(
      { event: 'key_rotation_room_messages_done', ...result, stopped: this.passes.stopped },
      'room messages re-encrypted',
    );
    return result;
  }
}
