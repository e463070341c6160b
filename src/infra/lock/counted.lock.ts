import type { KeyLock } from './lock';

// The instance's KeyLock, counting the tasks given to it (waiting for their key or running). An
// instance that stops waits for them before it closes its store client: a write cut off by that
// close may still run in the store, late, beside the next holder's (docs/protocol.md, "A write given
// up on"; a 10-minute chaos run lost an acked message that way).
export class CountedLock implements KeyLock {
  private tasks = 0;
  private waiters: Array<() => void> = [];

  constructor(private readonly inner: KeyLock) {}

  get kind(): KeyLock['kind'] {
    return this.inner.kind;
  }

  async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    this.tasks++;
    try {
      return await this.inner.run(key, task);
    } finally {
      if (--this.tasks === 0) {
        const waiters = this.waiters;
        this.waiters = [];
        for (const wake of waiters) wake();
      }
    }
  }

  // Resolves true once no task is left, false if some still are after `timeoutMs`.
  idle(timeoutMs: number): Promise<boolean> {
    if (this.tasks === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

// how long a stopping instance waits for the tasks under its locks
const SETTLE_ON_STOP_MS = 5_000;

// For the gateways' shutdown, once their sockets are closed: the instance's lock tasks settled (or
// SETTLE_ON_STOP_MS passed) before the store client closes. Any other KeyLock (a test's) has nothing
// to wait for.
export async function lockTasksSettled(lock: KeyLock): Promise<void> {
  if (lock instanceof CountedLock) await lock.idle(SETTLE_ON_STOP_MS);
}
