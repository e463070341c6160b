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
