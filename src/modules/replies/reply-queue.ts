import { KeyedMutex } from '../../common/keyed-mutex';
import type { ReplyLeases } from '../../infra/lock/reply-lease';
import type { DeletedSessions } from './deleted-sessions';
import type { EarlyStart } from './early-reply';
import type { RegenerationsInFlight } from './regenerations';
import type { ReplyAttempts } from './reply-attempts';
import type { ReplyDrain } from './reply-drain';
import type { ReplyRequest } from './reply-generation';
import type { ReplyHolds } from './reply-holds';
import type { StopsBeforeShown } from './reply-stops';
import type { ReplyTurns } from './reply-turns';

// What the queue keeps of the replies asked for on this instance (ReplyService).
export interface QueuedReplies {
  // replies requested and not yet stored, per session (queued or running), and the reply lease
  readonly holds: ReplyHolds;
  readonly regenerations: RegenerationsInFlight;
  readonly stopsBeforeShown: StopsBeforeShown;
  // a graceful stop: no reply starts from SIGTERM on, those shown run within the grace
  readonly drained: ReplyDrain;
  readonly deleted: DeletedSessions;
}

// The per-session queue: replies run one at a time per session, in the order their messages were
// stored (ReplyService asks, ReplyAttempts runs each one).
export class ReplySessionQueue {
  private readonly queue = new KeyedMutex();

  constructor(
    private readonly leases: ReplyLeases,
    // turn order across instances, and the turns whose reply failed here
    private readonly turns: ReplyTurns,
    // one reply: prompt, stream, storage, title (or its failure reported)
    private readonly attempts: ReplyAttempts,
    private readonly replies: QueuedReplies,
  ) {}

  // A request for a turn answers the turns before it still open first, after any other instance's
  // reply of the session (ReplyTurns; docs/protocol.md, "Every acked turn ends").
  run(input: ReplyRequest, early?: EarlyStart): void {
    const { holds, regenerations, stopsBeforeShown, drained, deleted } = this.replies;
    // stopping: not started here, its turn left for the instance the user comes back to (ReplyDrain;
    // an early one started before SIGTERM is running, and runs within the grace)
    if (!early && drained.leaving(input)) return;
    holds.add(input.sessionId);
    const regeneration = input.alternativeOf !== undefined ? input.clientId : undefined;
    if (regeneration !== undefined) regenerations.add(input.sessionId, regeneration);
    // waits for other instances' replies ended before this request (ReplyTurns.inTurn)
    const waitsBefore = holds.waitsEnded(input.sessionId);
    const task = this.queue.run(input.sessionId, async () => {
      try {
        if (early) {
          // another instance answers the session: dropped unseen (the record path asks again, and
          // that request waits its turn)
          if (!early.generation.shown && (await this.leases.answeringElsewhere(input.sessionId)))
            early.generation.controller.abort('cancelled');
          await this.attempts.attempt(input, early);
          return;
        }
        // queued behind a reply that was running at SIGTERM: its turn is left, and the lease let go
        // with its hold below (no longer left to lapse once the instance had exited)
        if (drained.leaving(input)) return;
        // a session deleted while this waited in the queue: nothing more of it is asked
        if (deleted.has(input.sessionId)) return;
        const turns = await this.turns.inTurn(input, waitsBefore).catch((error: unknown) => {
          this.attempts.report(input, error);
          return [];
        });
        for (const turn of turns) {
          if (drained.leaving(turn)) break;
          if (!deleted.has(turn.sessionId)) await this.attempts.attempt(turn);
        }
      } finally {
        if (regeneration !== undefined) regenerations.delete(input.sessionId, regeneration);
        if (holds.done(input.sessionId)) stopsBeforeShown.delete(input.sessionId);
      }
    });
    drained.track(task, early?.generation);
  }
}
