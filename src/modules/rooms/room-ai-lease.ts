// The lease of a room's `@ai` run (chat_ai_runs; docs/protocol.md, "@ai in a room"), from the length
// ROOM_AI_LEASE sets: the run is renewed every quarter of it, and one not renewed for the whole of it
// is a dead instance's, ended by the sweep (every half of it) or by the next `@ai` in the room.
export interface AiLeaseTimes {
  leaseMs: number;
  renewMs: number;
  sweepMs: number;
  // a renewal matches only a run renewed less than this long ago (RoomAiRunsRepository.renew): a
  // renewal and another instance's takeover (a run renewed at least leaseMs ago) never both match
  // one document, even as FerretDB applies the renewal as an unlocked read-modify-write (the two
  // reads would have to lie renewMs apart)
  renewableMs: number;
}

export function aiLeaseTimes(leaseMs: number): AiLeaseTimes {
  const renewMs = Math.floor(leaseMs / 4);
  return { leaseMs, renewMs, sweepMs: Math.floor(leaseMs / 2), renewableMs: leaseMs - renewMs };
}

// The holder's view of its run's lease: when its last renewal that matched was sent, and whether it
// is lost. Lost once a renewal matched nothing (another instance ended the run, or a new run holds
// the room), or once no renewal was confirmed for renewableMs (the process was paused, or the store
// did not answer: another instance may have ended the run meanwhile); known on resuming from the
// clock alone, before anything goes out. Lost stays lost.
export class RunLease {
  private confirmedAt: number;
  private gone = false;

  constructor(
    startedAt: number,
    private readonly renewableMs: number,
  ) {
    this.confirmedAt = startedAt;
  }

  // a renewal sent at `sentAt` was answered: it matched this run, or nothing
  renewed(sentAt: number, matched: boolean): void {
    if (!matched) this.gone = true;
    else if (!this.gone) this.confirmedAt = Math.max(this.confirmedAt, sentAt);
  }

  lost(now = Date.now()): boolean {
    if (!this.gone && now - this.confirmedAt >= this.renewableMs) this.gone = true;
    return this.gone;
  }
}
