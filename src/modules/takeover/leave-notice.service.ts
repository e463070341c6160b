import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { ClientHub } from '../realtime/client-hub';
import type { Connection } from '../realtime/connection';
import { storedFrame } from '../realtime/frames';
import { SessionEvents } from '../realtime/session-events';
import type { MessageRecord } from '../sessions/session.types';
import { SessionsService } from '../sessions/sessions.service';
import type { Claim } from './takeover.repository';

// How long a let-go socket waits for the takeover's close when none is heard (Redis away, its
// finisher dead): after that the log is read once more, and nothing is shown if the leave is not there.
const LEAVE_WAIT_MS = 30_000;

interface Waiter {
  epoch: number;
  wake: () => void;
}

// An admin socket let go of a takeover that ended other than by its own admin_leave (a release over
// REST or from another socket, a lapse; on any instance) is back in the admin's own session before
// the takeover's admin_leave is logged, so it never saw it: the dashboard went on holding the session,
// and its next message, refused, stayed "Sending…". It is shown that stored admin_leave, once,
// read from the log (docs/protocol.md, "Takeover handoff").
@Injectable()
export class LeaveNoticeService implements OnModuleInit {
  private readonly logger = new Logger('takeover');
  private readonly waiting = new Map<string, Set<Waiter>>();

  constructor(
    private readonly sessions: SessionsService,
    private readonly hub: ClientHub,
    private readonly events: SessionEvents,
  ) {}

  onModuleInit(): void {
    // told on every instance once the takeover's admin_leave is stored (or was logged already)
    this.events.on((event) => {
      if (event.kind === 'takeover_closed') this.wake(event.sessionId, event.epoch);
    });
  }

  // `fromSeq`: where the socket joined the session's log (the leave comes after it).
  show(connection: Connection, claim: Claim, fromSeq: number): void {
    void this.deliver(connection, claim, fromSeq).catch((error: unknown) =>
      this.logger.warn(
        { event: 'admin_leave_not_shown', session_id: claim.sessionId, err: String(error) },
        'admin_leave not shown',
      ),
    );
  }

  private async deliver(connection: Connection, claim: Claim, fromSeq: number): Promise<void> {
    // waited for from before the first read, so a close heard meanwhile is not missed
    const closed = this.closedOrAfter(claim, LEAVE_WAIT_MS);
    try {
      let leave = await this.storedLeave(claim, fromSeq);
      if (!leave) {
        await closed.promise;
        leave = await this.storedLeave(claim, fromSeq);
      }
      // not to a closed socket, nor to one that joined the session again (it is shown its log there)
      if (leave && !connection.closed && connection.sessionId !== claim.sessionId)
        this.hub.send(connection, storedFrame(claim.sessionId, leave));
    } finally {
      closed.cancel();
    }
  }

  // this takeover's admin_leave names its start (metadata.started_at)
  private async storedLeave(claim: Claim, fromSeq: number): Promise<MessageRecord | undefined> {
    const startedAt = claim.startedAt.toISOString();
    const log = await this.sessions.storedAfter(claim.sessionId, fromSeq);
    return log.find(
      (message) => message.type === 'admin_leave' && message.metadata?.started_at === startedAt,
    );
  }

  private closedOrAfter(claim: Claim, ms: number): { promise: Promise<void>; cancel: () => void } {
    const waiters = this.waiting.get(claim.sessionId) ?? new Set<Waiter>();
    this.waiting.set(claim.sessionId, waiters);
    let resolve: () => void = () => undefined;
    const promise = new Promise<void>((done) => (resolve = done));
    const cancel = () => {
      clearTimeout(timer);
      waiters.delete(waiter);
      if (waiters.size === 0 && this.waiting.get(claim.sessionId) === waiters)
        this.waiting.delete(claim.sessionId);
      resolve();
    };
    const waiter: Waiter = { epoch: claim.epoch, wake: cancel };
    const timer = setTimeout(cancel, ms);
    timer.unref();
    waiters.add(waiter);
    return { promise, cancel };
  }

  // a close without an epoch wakes every waiter of the session: each reads the log for its own leave
  private wake(sessionId: string, epoch: number | undefined): void {
    for (const waiter of [...(this.waiting.get(sessionId) ?? [])])
      if (epoch === undefined || waiter.epoch === epoch) waiter.wake();
  }
}
