import type { Generation } from './reply-generation';

// A user's stop that came while the session's reply was asked for and not yet shown (its prompt
// still being read): when it came. The next reply shown, if decided before then, is stopped at once
// (docs/protocol.md, "The reply in flight").
export class StopsBeforeShown {
  private readonly stops = new Map<string, number>();

  set(sessionId: string, at: number): void {
    this.stops.set(sessionId, at);
  }

  delete(sessionId: string): void {
    this.stops.delete(sessionId);
  }

  // The reply is being shown: a stop that came since it was decided stops it now.
  apply(generation: Generation): void {
    const stoppedAt = this.stops.get(generation.sessionId);
    if (stoppedAt !== undefined) {
      this.stops.delete(generation.sessionId);
      if (stoppedAt >= generation.decidedAt) generation.controller.abort('stopped');
    }
  }
}
