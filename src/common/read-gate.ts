import { DomainException } from './errors/domain.exception';
import { ErrorCode } from './errors/error-code';

// Reads of a whole conversation (a session's every message: its REST detail and export, a
// reconnect's replay from last_seq) each hold the stored log several times over while they run: the
// document, its decoded and decrypted messages, the response. A session may hold up to
// MAX_SESSION_BYTES (12 MB), so forty such reads at once grew a server by ~400 MB, past a pod's
// memory limit (test/e2e/heavy-reads.e2e-spec.ts). Here at most `atOnce` run on an instance, one
// per user at a time (a user's reads cannot take every place), later ones wait in order; a user
// with `perUserWaiting` reads waiting already is refused with RATE_LIMITED (docs/protocol.md,
// "Whole-session reads").
export class ReadGate {
  private running = 0;
  private readonly users = new Map<string, { running: number; waiting: number }>();
  private readonly queue: Array<{ userId: string; resolve: (release: () => void) => void }> = [];

  constructor(
    private readonly atOnce: number,
    private readonly perUserWaiting: number,
    // what a user past `perUserWaiting` is told
    private readonly refusal = {
      message: 'Too many reads of whole conversations at once; retry shortly.',
      retryAfterMs: 1000,
    },
  ) {
    if (!(atOnce >= 1) || !(perUserWaiting >= 0)) throw new RangeError('atOnce ≥ 1 and perUserWaiting ≥ 0');
  }

  // reads running and waiting now, on the instance
  get active(): number {
    return this.running;
  }

  get waiting(): number {
    return this.queue.length;
  }

  // A place for one read of `userId`'s: resolves with its release (idempotent) once the read may
  // run. `maxWaiting` overrides the per-user bound (a socket's replay waits: the user's sockets are
  // bounded already).
  enter(userId: string, maxWaiting = this.perUserWaiting): Promise<() => void> {
    const user = this.users.get(userId) ?? { running: 0, waiting: 0 };
    if (user.running === 0 && this.running < this.atOnce) return Promise.resolve(this.start(userId, user));
    if (user.waiting >= maxWaiting)
      return Promise.reject(
        new DomainException(ErrorCode.RATE_LIMITED, this.refusal.message, {
          retryAfterMs: this.refusal.retryAfterMs,
        }),
      );
    user.waiting++;
    this.users.set(userId, user);
    return new Promise((resolve) => this.queue.push({ userId, resolve }));
  }

  private start(userId: string, user: { running: number; waiting: number }): () => void {
    user.running++;
    this.running++;
    this.users.set(userId, user);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      user.running--;
      this.running--;
      if (user.running === 0 && user.waiting === 0) this.users.delete(userId);
      this.dispatch();
    };
  }

  // the first waiting reads whose users have none running, while there is room
  private dispatch(): void {
    for (let index = 0; index < this.queue.length && this.running < this.atOnce;) {
      const waiter = this.queue[index];
      const user = this.users.get(waiter.userId);
      if (!user || user.running > 0) {
        index++;
        continue;
      }
      this.queue.splice(index, 1);
      user.waiting--;
      waiter.resolve(this.start(waiter.userId, user));
    }
  }
}
