import type { Generation } from './reply-generation';
import type { StopReason } from './reply-recorder';

// A user's stop (stop_generation, or new_session ending the session) that came while the session's
// reply was asked for and not yet shown (its prompt still being read): when it came, and which. The
// next reply shown, if decided before then, is stopped at once, and stored as that stop stores it
// (docs/protocol.md, "The reply in flight").
export class StopsBeforeShown {
  private readonly stops = new Map<string, { at: number; reason: StopReason }>();

  set(sessionId: string, at: number, reason: StopReason = 'stopped'): void {
    this.stops.set(sessionId, { at, reason });
  }

  delete(sessionId: string): void {
    this.stops.delete(sessionId);
  }

  // The reply is being shown: a stop that came since it was decided stops it now.
  apply(generation: Generation): void {
    const stop = this.stops.get(generation.sessionId);
    if (stop !== undefined) {
      this.stops.delete(generation.sessionId);
      if (stop.at >= generation.decidedAt) generation.controller.abort(stop.reason);
    }
  }
}

// how long a session whose reply was dropped for a lost lease keeps a user's stop for its turn: the
// turn watch answers it within seconds (a check every 2 s once the turn is 3 s old)
const LOSS_KEPT_MS = 60_000;

// A user's stop of a reply dropped for a lost lease (docs/protocol.md, "Every acked turn ends"). The
// reply is gone and the turn watch answers the turn anew; a stop that came for it (read after the
// drop: a paused instance runs its timers before it reads its sockets) holds for that answer, which
// closes the turn stopped before its first piece. Until the second review of session 43 the stop was
// acked and did nothing, and the turn was answered anew in full (7 of 7 rounds).
export class StopsAfterLoss {
  // session → when its reply was dropped
  private readonly lost = new Map<string, number>();
  private readonly stops = new Map<string, { at: number; reason: StopReason }>();

  dropped(sessionId: string, now = Date.now()): void {
    for (const [id, at] of this.lost)
      if (now - at > LOSS_KEPT_MS) {
        this.lost.delete(id);
        this.stops.delete(id);
      }
    this.lost.set(sessionId, now);
  }

  // A user's stop: kept when the session's reply was dropped, or is being cut for its lost lease
  // (`cutForLoss`: not recorded yet).
  stop(sessionId: string, at: number, reason: StopReason, cutForLoss: boolean): void {
    if (cutForLoss || this.lost.has(sessionId)) this.stops.set(sessionId, { at, reason });
  }

  // The turn is asked of the model again: the stop that came for it, if any (and the drop is over).
  take(sessionId: string): { at: number; reason: StopReason } | undefined {
    this.lost.delete(sessionId);
    const stop = this.stops.get(sessionId);
    this.stops.delete(sessionId);
    return stop;
  }

  get size(): number {
    return this.lost.size + this.stops.size;
  }
}
