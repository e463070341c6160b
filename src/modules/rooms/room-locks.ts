import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { LockUnavailableError, type KeyLock } from '../../infra/lock/lock';
import { settledOnFailure } from '../../common/store-settle';

// Writes to one room message (edits, deletes), one reaction or one membership take that key's lock
// on every instance (SESSION_LOCK: Redis, or the store's own while Redis is away): FerretDB 1.24
// applies a compare-and-set as an unlocked read-modify-write (docs/protocol.md, "The store"). A
// lock not had in time is INTERNAL: try again.
// The room's own document (its settings, activity time and highest seq): on FerretDB a rename and a
// note of the activity that read the room before it would otherwise write the old name back.
export function roomDocumentKey(roomId: string): string {
  return `room:${roomId}`;
}

// A write that fails with an error after which the store may still run it keeps the key until the
// store answers `ping` again (docs/protocol.md, "A write given up on"): run late beside the key's
// next holder on FerretDB, one of the two would be lost.
export function roomLocked<T>(
  lock: KeyLock,
  key: string,
  task: () => Promise<T>,
  ping: () => Promise<unknown>,
): Promise<T> {
  return lock
    .run(key, () => settledOnFailure(task, ping))
    .catch((error: unknown) => {
      if (error instanceof LockUnavailableError)
        throw new DomainException(ErrorCode.INTERNAL, 'Busy here; please retry.');
      throw error;
    });
}
