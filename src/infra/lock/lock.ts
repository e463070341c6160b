// Mutual exclusion per key across every instance of chatbox: what the store cannot give on its own
// (FerretDB 1.24 applies updates as unlocked read-modify-write; docs/protocol.md, "The store").
export interface KeyLock {
  readonly kind: 'in-process' | 'redis' | 'store';
  // Runs `task` while holding `key`; tasks with the same key never overlap, here or elsewhere.
  run<T>(key: string, task: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

// the instance's WriteLock (write.lock.ts) over the deployment's KeyLock (lock.module.ts)
export const SESSION_LOCK = Symbol('SESSION_LOCK');

export class LockUnavailableError extends Error {
  constructor(key: string, waitedMs: number) {
    super(`lock ${key} not acquired within ${waitedMs} ms`);
    this.name = 'LockUnavailableError';
  }
}
