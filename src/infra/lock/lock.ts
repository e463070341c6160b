// Mutual exclusion per key across every instance of chatbox: what the store cannot give on its own
// (FerretDB 1.24 applies updates as unlocked read-modify-write; docs/protocol.md, "The store").
export interface KeyLock {
  readonly kind: 'in-process' | 'redis' | 'store';
  // Runs `task` while holding `key`; tasks with the same key never overlap, here or elsewhere, as
  // long as `hold.lost()` is false (a holder paused past its key's life may have lost it).
  run<T>(key: string, task: (hold: Hold) => Promise<T>): Promise<T>;
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

// A task's hold of its key. A key shared by instances lives ttlMs past its last renewal: a holder
// paused longer (SIGSTOP, a long GC, a VM stall) resumes without it, and another instance may hold
// it meanwhile; nothing tells the resumed holder, its renewal timer only fires late. `lost()` says so
// at once, on the monotonic clock (a step of the wall clock is no pause): no renewal was confirmed
// for ttlMs, counted from when it was sent (as RedisReplyLeases.lost does for reply leases), or one
// found the key gone. It stays lost. A task that writes what another holder must not run beside
// asks it right before (docs/protocol.md, "Uploads and files").
export interface Hold {
  lost(): boolean;
}

// in one process the key is never lost
export const KEPT: Hold = { lost: () => false };

// the hold of a key renewed every ttl/3 (RedisLock, StoreLock)
export class RenewedHold implements Hold {
  private confirmedAt: number;
  private gone = false;

  // `takenAt`: performance.now() when the request that took the key was sent
  constructor(
    private readonly ttlMs: number,
    takenAt: number,
    private readonly also?: Hold,
  ) {
    this.confirmedAt = takenAt;
  }

  // a renewal sent at `sentAt` (performance.now()) answered: still held (true), or gone (false)
  renewed(sentAt: number, held: boolean, now = performance.now()): void {
    if (this.lost(now)) return;
    if (held) this.confirmedAt = Math.max(this.confirmedAt, sentAt);
    else this.gone = true;
  }

  lost(now = performance.now()): boolean {
    if (!this.gone && now - this.confirmedAt >= this.ttlMs) this.gone = true;
    return this.gone || (this.also?.lost() ?? false);
  }
}
