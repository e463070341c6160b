import { Logger } from '@nestjs/common';
import { ErrorCode } from '../../common/errors/error-code';
import { toErrorFrame } from '../../protocol/frames';
import type { ClientHub } from '../realtime/client-hub';
import type { Generation, ReplyRequest } from './reply-generation';

// what a regeneration the stop left, or refused, is told
export const STOPPING_MESSAGE = 'The server is restarting; please ask again.';

// A graceful stop (docs/protocol.md, "Graceful shutdown"). From SIGTERM on no reply starts on this
// instance: one not shown yet (queued behind the session's reply in flight, waiting for another
// instance's, its prompt being read) is left, nothing of it shown or stored, its turn open and the
// session's reply lease let go as its request ends (ReplyHolds), for the instance the user's device
// comes back to, whose turn watch answers it ("Every acked turn ends"). The replies shown by then run
// within SHUTDOWN_GRACE; those still running are cut then and stored interrupted. Until the deploy
// audit the queue kept starting the replies queued behind one streaming at SIGTERM and the stop cut
// them 76–300 ms later (a fragment stored `interrupted` as the turn's answer: 3 of 8 turns), or left
// them running past the store's close (`reply_failed`, an INTERNAL error for the turn), and the
// lease of such a session lapsed 10 s after the instance had exited.
export class ReplyDrain {
  private readonly logger = new Logger('replies');
  private stopping = false;
  // the session queue's tasks not over yet (queued, streaming, storing)
  private readonly tasks = new Set<Promise<unknown>>();
  // replies started early (before their message was stored) and not over: running at SIGTERM too
  private readonly early = new Set<Generation>();

  constructor(private readonly hub: ClientHub) {}

  get draining(): boolean {
    return this.stopping;
  }

  begin(): void {
    this.stopping = true;
  }

  // Whether the reply asked for is not to start (the instance is stopping): logged, no text; its turn
  // stays open. A regeneration has no turn of its own for another instance to answer, and its client
  // does not send it again: the session's devices are told to ask again.
  leaving(input: ReplyRequest): boolean {
    if (!this.stopping) return false;
    this.logger.log(
      {
        session_id: input.sessionId,
        client_id: input.clientId,
        turn_seq: input.turnSeq,
        regeneration: input.alternativeOf !== undefined,
        event: 'reply_left',
      },
      'reply not started: the instance is stopping',
    );
    if (input.alternativeOf !== undefined)
      this.hub.ephemeral(
        input.sessionId,
        toErrorFrame(ErrorCode.LLM_UNAVAILABLE, STOPPING_MESSAGE, {
          recoverable: true,
          clientId: input.clientId,
        }),
      );
    return true;
  }

  track(task: Promise<unknown>, early?: Generation): void {
    const done = task.catch(() => undefined);
    this.tasks.add(done);
    if (early) this.early.add(early);
    void done.then(() => {
      this.tasks.delete(done);
      if (early) this.early.delete(early);
    });
  }

  // the replies started early and not shown yet (cut at the end of the grace like those shown)
  unshown(): Generation[] {
    return [...this.early].filter((generation) => !generation.shown);
  }

  // Resolves once every task is over (one queued behind another ends at once, left), or after
  // `timeoutMs`.
  async settled(timeoutMs?: number): Promise<void> {
    const until = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
    while (this.tasks.size > 0) {
      const left = until === undefined ? undefined : until - Date.now();
      if (left !== undefined && left <= 0) return;
      const waits: Array<Promise<unknown>> = [Promise.all(this.tasks)];
      if (left !== undefined) waits.push(new Promise((resolve) => setTimeout(resolve, left).unref()));
      await Promise.race(waits);
    }
  }
}
