import { Inject, Injectable } from '@nestjs/common';
import { KeyRotationPass, type RotationCount } from '../../common/crypto/rotation-passes';
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
export class RoomMessageRotationService extends KeyRotationPass {
  constructor(
    private readonly messages: RoomMessagesRepository,
    @Inject(SESSION_LOCK) private readonly lock: WriteLock,
    @Inject(SETTINGS) settings: Settings,
  ) {
    super(settings);
  }

  run(pauseMs = PAUSE_MS): Promise<RotationCount> {
    return this.passes.rewriteEach(
      this.logger,
      { what: 'room messages', idField: 'message_id', doneEvent: 'key_rotation_room_messages_done' },
      this.messages.messagesWithOldKeys(),
      (id) => id,
      (id) => this.lock.run(roomMessageKey(id), () => this.messages.reencrypt(id)),
      pauseMs,
    );
  }
}
