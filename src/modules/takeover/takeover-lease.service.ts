import { Inject, Injectable, Logger, Optional, type OnModuleInit } from '@nestjs/common';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { SETTINGS, type Settings } from '../../config/settings';
import { BUS, type Bus } from '../../infra/bus/bus';
import { ChatMetrics } from '../metrics/chat-metrics';
import { ReplyService } from '../replies/reply.service';
import { SessionEvents } from '../realtime/session-events';
import type { MessageRecord } from '../sessions/session.types';
import { SessionsService } from '../sessions/sessions.service';
import { HelpService } from './help.service';
import { LapseJudge } from './lapse-judge';
import { TakeoverBindingsService } from './takeover-bindings.service';
import { sameTakeover, TakeoverLogService } from './takeover-log.service';
import { type Claim, TakeoverRepository } from './takeover.repository';

const TOPIC = 'takeover';

// renewals and lapse checks a few times per grace period (TakeoverRenewalsService)
export function renewalPeriod(graceMs: number): number {
  return Math.max(200, Math.min(graceMs / 4, 10_000));
}

// How long a takeover's start waits for the replies it cut off to be stored (docs/protocol.md,
// "Takeover handoff"): as long as the reply lease of an instance that died mid-reply still reads as
// held (REPLY_LEASE), and a second more. A store restarting holds a reply's store for seconds; 1.5 s
// let 4 replies of 547 takeovers be logged after their admin_join in a 10-minute chaos run.
const REPLIES_SETTLE_MORE_MS = 1_000;

// `epoch`: which takeover of the session (a late copy of an earlier one's end ends nothing newer).
// 'ended': admin sockets let go of the session; 'closed': its admin_leave is logged, so a reply of the
// model may show again (docs/protocol.md, "Takeover handoff"). `started_at`: the takeover's start (ms),
// which its admin_leave names too (metadata.started_at).
type TakeoverEvent = {
  kind: 'started' | 'ended' | 'closed';
  session: string;
  epoch?: number;
  started_at?: number;
};

// released: by its admin (REST or admin_leave); lapsed: no socket renewed it; session_ended: the
// session ended (before its admin_join was logged, or after: its user left it)
export type EndReason = 'released' | 'lapsed' | 'session_ended';

// The life of a takeover lease once claimed (CONTRACT §4): an instance renews it while the admin has
// a socket bound to the session there (TakeoverRenewalsService); once it has run TAKEOVER_GRACE
// without one, any instance ends it (not before the store has answered long enough after an outage
// for it to be renewed: LapseJudge).
// Start and end are stored session events, seen by every device of the user on every instance; the
// session document mirrors who assists for the chat path and the admin list.
@Injectable()
export class TakeoverLeaseService implements OnModuleInit {
  private readonly logger = new Logger('takeover');
  // whether a lease that ran out in the store has lapsed: not while the store was away (LapseJudge)
  readonly judge: LapseJudge;

  constructor(
    private readonly repository: TakeoverRepository,
    private readonly sessions: SessionsService,
    private readonly bindings: TakeoverBindingsService,
    private readonly takeoverLog: TakeoverLogService,
    private readonly events: SessionEvents,
    @Inject(BUS) private readonly bus: Bus,
    @Inject(SETTINGS) private readonly settings: Settings,
    @Optional() private readonly metrics?: ChatMetrics,
    @Optional() private readonly replies?: ReplyService,
    @Optional() private readonly help?: HelpService,
  ) {
    this.judge = new LapseJudge({
      graceMs: settings.takeoverGraceMs,
      renewalMs: renewalPeriod(settings.takeoverGraceMs),
    });
  }

  onModuleInit(): void {
    this.bus.subscribe(TOPIC, (payload) => this.onEvent(payload as TakeoverEvent));
    this.sessions.onEnded((sessionId) => void this.sessionEnded(sessionId));
  }

  // The claim is stored: the admin answers from here on, and every device of the user sees it.
  // `joined`: once its admin_join is stored, before any socket hears of it (TakeoverLogService.logStart).
  // `clientId`: of the admin_join frame that claimed it, stored on its admin_join.
  async started(
    claim: Claim,
    helpRequestedAt: Date | null,
    joined?: (event: MessageRecord) => void,
    clientId?: string,
  ): Promise<void> {
    this.logger.log(
      { event: 'takeover_started', admin_id: claim.adminId, session_id: claim.sessionId, epoch: claim.epoch },
      'takeover started',
    );
    // a reply streaming on any instance stops: the admin answers from here on
    this.tell('started', claim);
    this.metrics?.takeovers.inc({ event: 'started', reason: '' });
    // the replies just cut off are stored with what they showed, before the admin_join (bounded: an
    // instance that never heard of the takeover, or died, is not waited for)
    await this.repliesSettled(claim);
    try {
      await this.takeoverLog.logStart(claim, joined, clientId);
    } catch (error) {
      // the session ended while it was being claimed (the join is logged only into a live session):
      // the claim ends here, with no admin_join to leave (docs/protocol.md, "Takeover handoff")
      if (error instanceof DomainException && error.code === ErrorCode.NOT_FOUND) {
        await this.finish(claim, 'session_ended');
        throw new DomainException(ErrorCode.NOT_FOUND, 'This session has ended.');
      }
      throw error;
    }
    // The request as it stands once the join is logged (with the session's takeover mirror, in one
    // write): one marked while the claim was made read no takeover yet and is pending, and this join
    // answers it too; any marked later sees the takeover. Until a help audit in session 39 only the
    // claim's first read counted: such a request stayed pending after the admin answered and left,
    // listed as waiting for help (10–13 of 16 rounds; test/e2e/help-join-race.e2e-spec.ts). The
    // claim's read stands in only when this one fails.
    const after = await this.sessions.assistanceState(claim.sessionId).catch(() => undefined);
    const pendingAt =
      after === undefined ? helpRequestedAt : after?.help_pending ? after.help_requested_at : null;
    if (pendingAt) {
      const responseMs = Math.max(0, claim.startedAt.getTime() - pendingAt.getTime());
      this.metrics?.helpResponse.observe(responseMs / 1000);
      await this.sessions.answerHelp(claim.sessionId, pendingAt, responseMs);
    }
    await this.leaveIfEnded(claim);
  }

  // an end stored while the join was being logged found no join to log its leave after
  private async leaveIfEnded(claim: Claim): Promise<void> {
    const latest = await this.repository.latest(claim.sessionId);
    if (!latest || latest.epoch !== claim.epoch || latest.ended)
      await this.complete(latest?.epoch === claim.epoch ? latest : { ...claim, ended: true }, true);
  }

  // The claim this admin holds (a renewal from another socket, a retried join): its admin_join is
  // logged before the socket speaks there, by whichever request gets there first (`joined`, as in
  // started(), when it is this one; its frame's `clientId` goes on the admin_join it logs).
  async ensureStarted(
    claim: Claim,
    joined?: (event: MessageRecord) => void,
    clientId?: string,
  ): Promise<void> {
    const state = await this.sessions.assistanceState(claim.sessionId);
    if (sameTakeover(state?.takeover, claim)) return;
    await this.repliesSettled(claim);
    await this.takeoverLog.logStart(claim, joined, clientId);
    await this.leaveIfEnded(claim);
  }

  // Waits for the replies the takeover cut off to be stored, the claim renewed meanwhile: no socket
  // renews it before the admin_join is logged, and the wait may outlast TAKEOVER_GRACE.
  private async repliesSettled(claim: Claim): Promise<void> {
    if (!this.replies) return;
    const grace = this.settings.takeoverGraceMs;
    const renewal = setInterval(
      () => void this.repository.renew(claim, new Date(Date.now() + grace)).catch(() => undefined),
      Math.max(100, grace / 4),
    );
    try {
      await this.replies.settled(claim.sessionId, this.settings.replyLeaseMs + REPLIES_SETTLE_MORE_MS);
    } finally {
      clearInterval(renewal);
    }
  }

  // A lease that ran out lapses, unless a renewal that read it decided it first
  // (TakeoverRepository.decideLapse): true when it lapsed (ended here, or being ended elsewhere).
  async lapse(claim: Claim): Promise<boolean> {
    if (!(await this.repository.decideLapse(claim, claim.leaseUntil))) return false;
    await this.finish(claim, 'lapsed');
    return true;
  }

  // Continues this admin's takeover to `until` (a resume, the holder's own claim), that epoch only;
  // false when it ended or lapsed. One that ran out in the store has lapsed (no socket of its admin
  // in the session for a grace: docs/protocol.md, "Takeover handoff") and lapses here,
  // unless the store was away too lately to tell (LapseJudge) or a renewal decided it first.
  async extend(claim: Claim, until: Date): Promise<boolean> {
    if (this.judge.lapsed(claim.leaseUntil) && (await this.lapse(claim))) return false;
    return this.repository.renew(claim, until);
  }

  // Ends the claim once, whichever instance or request gets there first. `leaverId`: the socket whose
  // admin_leave ends it (its ack answers it; the takeover's other sockets are shown admin_leave), and
  // `clientId` that frame's, stored on the admin_leave when this call logs it.
  async finish(claim: Claim, reason: EndReason, leaverId?: string, clientId?: string): Promise<void> {
    const end = reason === 'lapsed' ? claim.leaseUntil : new Date();
    if (!(await this.repository.insertEnd(claim, end, reason))) return;
    this.metrics?.takeovers.inc({ event: 'ended', reason });
    this.logger.log(
      {
        event: 'takeover_ended',
        admin_id: claim.adminId,
        session_id: claim.sessionId,
        epoch: claim.epoch,
        reason,
      },
      'takeover ended',
    );
    this.bindings.unbindSession(claim.sessionId, leaverId);
    this.publish('ended', claim);
    const leaveLogged = await this.complete(
      { ...claim, ended: true, endedAt: end, endReason: reason },
      false,
      clientId,
    );
    // the replies module answers what the user asked that no admin answered; once per takeover:
    // finish() gets here only on the instance that ended it
    this.events.emit({ kind: 'takeover_ended', sessionId: claim.sessionId, leaveLogged });
    // a help request answered "already in this chat" by a takeover whose admin had gone waits now,
    // and the admins are alerted (docs/protocol.md, "Help requests")
    if (reason === 'lapsed') await this.helpAfterLapse(claim);
  }

  private async helpAfterLapse(claim: Claim): Promise<void> {
    try {
      await this.help?.takeoverLapsed(claim);
    } catch (error) {
      this.logger.warn(
        { event: 'help_after_lapse_failed', session_id: claim.sessionId, err: String(error) },
        'could not tell whether a help request waits after the lapse',
      );
    }
  }

  // The session ended (its user started a new chat, deleted it, resumed another one): a takeover of
  // it ends too (session_ended), and the admin is shown its admin_leave, instead of writing on into a
  // conversation no device of the user shows (docs/protocol.md, "Takeover handoff"). Told only of
  // sessions that mirrored a takeover: a claim whose admin_join is not logged yet ends in started(),
  // its join refused in the ended session.
  private async sessionEnded(sessionId: string): Promise<void> {
    try {
      const latest = await this.repository.latest(sessionId);
      if (latest && !latest.ended) await this.finish(latest, 'session_ended');
    } catch (error) {
      // the lapse check ends it once its admin's sockets stop renewing it
      this.logger.warn(
        { event: 'takeover_end_failed', session_id: sessionId, err: String(error) },
        'could not end the takeover of an ended session',
      );
    }
  }

  // An ended claim's last steps, by its finisher or, when that instance died between them, by the
  // next claim of the session or the lapse check (docs/protocol.md, "Takeover handoff"): its
  // admin_leave is logged with the mirror cleared (once, whoever tries; nothing when its admin_join
  // never was), then the claim is closed and the model's replies may show again. `answer`: the
  // replies module answers what no admin did, when this call logged the leave.
  // true when this call logged the admin_leave (with `clientId`, of the admin_leave frame that ended it).
  async complete(claim: Claim, answer: boolean, clientId?: string): Promise<boolean> {
    const end = claim.endedAt ?? new Date();
    // The model's replies may show again once admin_leave is logged (the session unassisted in the
    // same write) and before any socket hears of it: a message the user sends the instant
    // admin_leave arrives is answered by its own reply, not cut off as if the admin were still there
    // (the bus carries this before admin_leave to the other instances). A message stored before
    // the leave was read as assisted: the replies module answers it after (takeover_ended).
    let told = false;
    const open = () => {
      if (told) return;
      told = true;
      this.tell('closed', claim);
    };
    const logged = await this.takeoverLog.logEnd(claim, end, claim.endReason ?? 'lapsed', open, clientId);
    // closed once its admin_leave is logged: the next claim's admin_join follows it in the log
    await this.repository.close(claim, end);
    open();
    if (answer && logged)
      this.events.emit({ kind: 'takeover_ended', sessionId: claim.sessionId, leaveLogged: true });
    return logged;
  }

  // Stores admin_join / admin_leave in the session log and sends it to every socket of the session.
  // Told on this instance and to the others, which emit it there (onEvent).
  private tell(kind: 'started' | 'closed', claim: Claim): void {
    const { sessionId, epoch } = claim;
    if (kind === 'started')
      this.events.emit({ kind: 'takeover_started', sessionId, epoch, startedAt: claim.startedAt.getTime() });
    else this.events.emit({ kind: 'takeover_closed', sessionId, epoch });
    this.publish(kind, claim);
  }

  private publish(kind: TakeoverEvent['kind'], claim: Claim): void {
    this.bus.publish(TOPIC, {
      kind,
      session: claim.sessionId,
      epoch: claim.epoch,
      started_at: claim.startedAt.getTime(),
    } satisfies TakeoverEvent);
  }

  private onEvent(event: TakeoverEvent): void {
    if (event.kind === 'started')
      this.events.emit({
        kind: 'takeover_started',
        sessionId: event.session,
        epoch: event.epoch,
        startedAt: typeof event.started_at === 'number' ? event.started_at : undefined,
      });
    else if (event.kind === 'ended') this.bindings.unbindSession(event.session);
    else this.events.emit({ kind: 'takeover_closed', sessionId: event.session, epoch: event.epoch });
  }
}
