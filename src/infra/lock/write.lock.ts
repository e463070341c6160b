import { Logger } from '@nestjs/common';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { settledOnFailure } from '../../common/store-settle';
import { LockUnavailableError, type Hold, type KeyLock } from './lock';

// how long a stopping instance waits for the tasks under its locks
const SETTLE_ON_STOP_MS = 5_000;

const logger = new Logger('lock');

// The instance's lock for writes to the store (SESSION_LOCK: sessions, rooms, memberships, read
// marks), over whichever KeyLock the deployment has (Redis, the store's own while Redis is away,
// in-process). What every such write needs, once for all of them:
// - a write that fails with an error after which the store may still run it keeps its key until the
//   store answers a ping again, and a while more (docs/protocol.md, "A write given up on"): run late
//   beside the key's next holder on FerretDB, one of the two would be lost;
// - its tasks are counted, so a stopping instance lets them finish before its store client closes
//   (`stopped`): a write cut off by that close may still run, late (a 10-minute chaos run lost an
//   acked message that way);
// - a key not had in time is INTERNAL for the client: try again, nothing was written.
export class WriteLock implements KeyLock {
  private tasks = 0;
  private waiters: Array<() => void> = [];

  constructor(
    private readonly inner: KeyLock,
    // the store answers at all (`pingOf`)
    private readonly ping: () => Promise<unknown>,
  ) {}

  get kind(): KeyLock['kind'] {
    return this.inner.kind;
  }

  // `onGivenUp` runs, the key still held, when the write failed that way (before the wait): what the
  // caller holds of the document may be stale from then on.
  async run<T>(
    key: string,
    task: (hold: Hold) => Promise<T>,
    onGivenUp?: (error: unknown) => void,
  ): Promise<T> {
    this.tasks++;
    try {
      return await this.inner.run(key, (hold) =>
        settledOnFailure(
          () => task(hold),
          this.ping,
          (error) => {
            logger.warn(
              { key, event: 'write_failed', err: String(error) },
              'write failed; it may still land',
            );
            onGivenUp?.(error);
          },
        ),
      );
    } catch (error) {
      if (error instanceof LockUnavailableError)
        throw new DomainException(ErrorCode.INTERNAL, 'Busy here; please retry.');
      throw error;
    } finally {
      if (--this.tasks === 0) {
        const waiters = this.waiters;
        this.waiters = [];
        for (const wake of waiters) wake();
      }
    }
  }

  // For the gateways' shutdown, once their sockets are closed: resolves true once no task is left
  // (waiting for its key or running), false if some still are after `timeoutMs`.
  stopped(timeoutMs = SETTLE_ON_STOP_MS): Promise<boolean> {
    if (this.tasks === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter !== wake);
        resolve(false);
      }, timeoutMs);
      this.waiters.push(wake);
    });
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
