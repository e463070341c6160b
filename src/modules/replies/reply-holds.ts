import type { ReplyLeases } from '../../infra/lock/reply-lease';

// The replies asked for on this instance, per session (queued or running), and the session's reply
// lease (reply-lease.ts), which says "this instance may still show or store a reply of the session":
// held while replies are asked for here, except while a takeover is on and none is shown here
// (`needed`). Each reply then queued is cut before its first piece and stores nothing, so another
// instance's takeover need not wait for it (docs/protocol.md, "Takeover handoff"). Holding it then
// let a user writing on this instance hold another instance's admin_join back for the whole wait:
// each message stored before the join asked for a reply here, and the queue never emptied.
export class ReplyHolds {
  // per session: the replies asked for, the lease's release while held, and how many waits for
  // another instance's reply ended here since the first of them (`waitsEnded`)
  private readonly pending = new Map<string, { count: number; waits: number; release?: () => void }>();
  // sessions whose next reply here waits for another instance's (ReplyTurns.inTurn): not held
  // meanwhile, or two instances each waiting for the other would wait for ever
  private readonly waiting = new Set<string>();

  constructor(
    private readonly leases: ReplyLeases,
    private readonly needed: (sessionId: string) => boolean,
  ) {}

  has(sessionId: string): boolean {
    return this.pending.has(sessionId);
  }

  sessions(): string[] {
    return [...this.pending.keys()];
  }

  // a reply is asked for: held from the request on, so another instance's turn check sees this turn
  // is being answered
  add(sessionId: string): void {
    const held = this.pending.get(sessionId);
    if (held) held.count++;
    else this.pending.set(sessionId, { count: 1, waits: 0 });
    this.sync(sessionId);
  }

  // a reply asked for here ended (stored, dropped or failed): true when it was the session's last
  done(sessionId: string): boolean {
    const held = this.pending.get(sessionId);
    if (!held) return false;
    if (--held.count > 0) {
      this.sync(sessionId);
      return false;
    }
    this.pending.delete(sessionId);
    held.release?.();
    return true;
  }

  // the next reply here waits for another instance's: the lease is let go until `resume`
  pause(sessionId: string): void {
    this.waiting.add(sessionId);
    this.sync(sessionId);
  }

  resume(sessionId: string): void {
    this.waiting.delete(sessionId);
    const held = this.pending.get(sessionId);
    if (held) held.waits++;
    this.sync(sessionId);
  }

  // How many waits for another instance's reply of the session ended here while replies of it were
  // asked for (0 when none is): a request that sees this number change between being asked for and
  // its turn check was queued behind such a wait, and the other instance may have stored replies
  // since the log it carries was written (ReplyTurns.inTurn).
  waitsEnded(sessionId: string): number {
    return this.pending.get(sessionId)?.waits ?? 0;
  }

  // the lease held or let go as `needed` says now (a takeover began or ended, a reply showed)
  sync(sessionId: string): void {
    const held = this.pending.get(sessionId);
    if (!held) return;
    const needed = !this.waiting.has(sessionId) && this.needed(sessionId);
    if (needed && !held.release) held.release = this.leases.hold(sessionId);
    else if (!needed && held.release) {
      held.release();
      held.release = undefined;
    }
  }
}
