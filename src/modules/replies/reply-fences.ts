import type { WrittenSession } from '../sessions/session.types';
import type { Generation } from './reply-generation';

// how long a takeover's fence is kept: no reply decided before the takeover is still to show that long
// after it (one queued behind another instance's reply that never heard of the takeover may wait
// minutes, so FENCE_OPEN_MS would not do: the AI would answer a turn the human took)
const FENCE_KEPT_MS = 60 * 60 * 1000;
const FENCE_OPEN_MS = 30_000;

// The takeover fences (docs/protocol.md, "Takeover handoff"): the AI never talks over a human admin.
export class ReplyFences {
  // the session's latest takeover as this instance heard of it (TakeoverAnswers): when it started,
  // and when it ended
  // (`takeoverStart`: the takeover's own start, as its admin_leave names it)
  private readonly fences = new Map<
    string,
    { epoch?: number; takeoverStart?: number; startedAt: number; endedAt?: number }
  >();

  // this instance's reply lease of the session was lost (ReplyLeases.lost)
  constructor(private readonly leaseLost: (sessionId: string) => boolean = () => false) {}

  // An admin took the session over (ReplyService.takeoverStarted): every reply decided before now
  // is fenced off.
  takeoverStarted(sessionId: string, epoch?: number, takeoverStart?: number, now = Date.now()): void {
    const fence = this.fences.get(sessionId);
    // a copy of this takeover's start (the bus hands an instance its own events too) moves nothing
    if (!(fence && epoch !== undefined && fence.epoch === epoch)) {
      // set last, so the fences stand in the order they started
      this.fences.delete(sessionId);
      this.fences.set(sessionId, { epoch, takeoverStart, startedAt: now });
    }
    // Those older than FENCE_KEPT_MS go, the oldest first, at every takeover: until the memory-leak
    // audit of session 43 they went only once 10,000 were held, so an instance kept a fence for every
    // session ever taken over, for days.
    for (const [id, old] of this.fences) {
      if (now - old.startedAt <= FENCE_KEPT_MS) break;
      this.fences.delete(id);
    }
  }

  // the end of that takeover: a late copy of an earlier one's end leaves a newer one on
  takeoverClosed(sessionId: string, epoch?: number, now = Date.now()): void {
    const fence = this.fences.get(sessionId);
    if (
      fence &&
      fence.endedAt === undefined &&
      (epoch === undefined || fence.epoch === undefined || fence.epoch <= epoch)
    )
      fence.endedAt = now;
  }

  // The session as a write left it says the takeover fenced here has ended: its admin_leave is the
  // log's last word of a takeover (stored before this write, under the session lock), and nobody
  // assists. On this instance the bus's word of that end may still be on its way; a message stored
  // after the leave is answered by its own reply, not cut off and answered by the turn watch seconds
  // later (docs/protocol.md, "Takeover handoff"). A leave of an earlier takeover opens nothing.
  endedInLog(written: WrittenSession, now = Date.now()): void {
    const fence = this.fences.get(written.id);
    if (!fence || fence.endedAt !== undefined || fence.takeoverStart === undefined) return;
    if (written.assisting_admin_id) return;
    const last = written.messages.findLast(
      (message) => message.type === 'admin_join' || message.type === 'admin_leave',
    );
    const startedAt = last?.type === 'admin_leave' ? last.metadata?.started_at : undefined;
    if (typeof startedAt === 'string' && Date.parse(startedAt) === fence.takeoverStart) fence.endedAt = now;
  }

  // Whether the reply may no longer show: it was decided before the session's latest takeover
  // started, or the takeover is on (a store write under the session lock makes it visible to appends
  // a little later: a message stored meanwhile was read as unassisted). The second rule lasts
  // FENCE_OPEN_MS at most, in case the takeover's end never reaches this instance (Redis away): a
  // takeover's start is visible to every append long before.
  fenced(generation: Generation, now = Date.now()): boolean {
    const fence = this.fences.get(generation.sessionId);
    if (!fence) return false;
    if (fence.startedAt >= generation.decidedAt) return true;
    return fence.endedAt === undefined && now - fence.startedAt < FENCE_OPEN_MS;
  }

  // Whether a takeover of the session is on as this instance heard it: a reply asked for now would be
  // cut before its first piece (the second rule of fenced())
  on(sessionId: string, now = Date.now()): boolean {
    const fence = this.fences.get(sessionId);
    return fence !== undefined && fence.endedAt === undefined && now - fence.startedAt < FENCE_OPEN_MS;
  }

  // Whether the reply ends here: stopped already, fenced off by a takeover, or its reply lease lost
  // (and stopped now). A piece of text read from the vendor after that reaches no device and is not
  // stored: the reply stored is what the devices were shown. A lost lease is another instance's to
  // answer (a pause here past the lease: the local check needs no round trip, so a resumed instance
  // stops before the first piece it had buffered); this reply stores nothing (ReplyRecorder).
  cut(generation: Generation): boolean {
    const signal = generation.controller.signal;
    if (!signal.aborted && this.fenced(generation)) generation.controller.abort('takeover');
    if (!signal.aborted && this.leaseLost(generation.sessionId)) generation.controller.abort('lease_lost');
    return signal.aborted;
  }
}
