import { Inject, Injectable } from '@nestjs/common';
import { KeyRotationPass, type RotationCount } from '../../common/crypto/rotation-passes';
import { SETTINGS, type Settings } from '../../config/settings';
import { SESSION_LOCK } from '../../infra/lock/lock';
import type { WriteLock } from '../../infra/lock/write.lock';
import { fileLockKey, FilesRepository } from './files.repository';

// an upload pending at a pass is ready (or swept) within minutes: a later pass gets it
const REPEAT_MS = 3_600_000;
// between files: the pass yields to live traffic
const PAUSE_MS = 5;

// The files' encrypted names after an ENCRYPTION_KEY rotation, as KeyRotationService does for
// sessions: rewritten with the new key in the background, each under its file's lock, at start and
// then hourly while ENCRYPTION_KEY_PREVIOUS is set (docs/operations.md, "Rotating ENCRYPTION_KEY").
@Injectable()
export class FileNameRotationService extends KeyRotationPass {
  constructor(
    private readonly files: FilesRepository,
    @Inject(SESSION_LOCK) private readonly lock: WriteLock,
    @Inject(SETTINGS) settings: Settings,
  ) {
    super(settings, REPEAT_MS);
  }

  run(pauseMs = PAUSE_MS): Promise<RotationCount> {
    return this.passes.rewriteEach(
      this.logger,
      { what: 'file names', idField: 'file_id', doneEvent: 'key_rotation_files_done' },
      this.files.filesWithOldNames(),
      (id) => id,
      (id) => this.lock.run(fileLockKey(id), () => this.files.reencryptName(id)),
      pauseMs,
    );
  }
}
