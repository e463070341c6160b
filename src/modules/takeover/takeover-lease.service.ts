import {
  Inject,
  Injectable,
  Logger,
  Optional,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { SETTINGS, type Settings } from '../../config/settings';
import { BUS, type Bus } from '../../infra/bus/bus';
import { REPLY_LEASE_TTL_MS } from '../../infra/lock/reply-lease';
import { ChatMetrics } from '../metrics/chat-metrics';
import { ClientHub } from '../realtime/client-hub';
import type { Connection } from '../realtime/connection';
import { RecordService } from '../replies/record.service';
import { ReplyService } from '../replies/reply.service';
import { SessionEvents } from '../realtime/session-events';
import type { AppendOptions } from '../sessions/session.types';
import { SessionsService } from '../sessions/sessions.service';
import { HelpService } from './help.service';
import { LeaveNoticeService } from './leave-notice.service';
import { type Claim, TakeoverRepository } from './takeover.repository';

const TOPIC = 'takeover';
// How long a takeover's start waits for the replies it cut off to be stored (docs/protocol.md,
// "Takeover handoff"): as long as the reply lease of an instance that died mid-reply still reads as
// held, and a second more. A store restarting holds a reply's store for seconds; 1.5 s let 4 replies
// of 547 takeovers be logged after their admin_join in a 10-minute chaos run.
const REPLIES_SETTLE_MS = REPLY_LEASE_TTL_MS + 1_000;

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

// An admin socket on this instance moved to a session its admin took over.
export interface Binding {
  connection: Connection;
  claim: Claim;
  ownSessionId: string;
  // where the socket joined the session's log
  fromSeq: number;
}

// released: by its admin (REST or admin_leave); lapsed: no socket renewed it; session_ended: the
// session ended (before its admin_join was logged, or after: its user left it)
export type EndReason = 'released' | 'lapsed' | 'session_ended';

// The life of a takeover lease once claimed (CONTRACT §4): an instance renews it while the admin has
// a socket bound to the session there; once it has run TAKEOVER_GRACE without one, any instance ends
// it. Start and end are stored session events, seen by every device of the user on every instance;
// the session document mirrors who assists for the chat path and the admin list.
@Injectable()
export class TakeoverLeaseService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('takeover');
  private readonly bindings = new Map<string, Binding>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly repository: TakeoverRepository,
    private readonly sessions: SessionsService,
    private readonly hub: ClientHub,
    private readonly records: RecordService,
    private readonly events: SessionEvents,
    @Inject(BUS) private readonly bus: Bus,
    @Inject(SETTINGS) private readonly settings: Settings,
    private readonly notices: LeaveNoticeService,
    @Optional() private readonly metrics?: ChatMetrics,
    @Optional() private readonly replies?: ReplyService,
    @Optional() private readonly help?: HelpService,
  ) {}

  onModuleInit(): void {
    this.bus.subscribe(TOPIC, (payload) => this.onEvent(payload as TakeoverEvent));
    this.sessions.onEnded((sessionId) => void this.sessionEnded(sessionId));
    // renewals and lapse checks a few times per grace period
    const every = Math.max(200, Math.min(this.settings.takeoverGraceMs / 4, 10_000));
    this.timer = setInterval(() => void this.tick(), every);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  // The claim is stored: the admin answers from here on, and every device of the user sees it.
  async started(claim: Claim, helpRequestedAt: Date | null): Promise<void> {
    this.logger.log(
      { event: 'takeover_started', admin_id: claim.adminId, session_id: claim.sessionId, epoch: claim.epoch },
      'takeover started',
    );
    // a reply streaming on any instance stops: the admin answers from here on
    this.tell('started', claim);
    const responseMs = helpRequestedAt
      ? Math.max(0, claim.startedAt.getTime() - helpRequestedAt.getTime())
      : undefined;
    this.metrics?.takeovers.inc({ event: 'started', reason: '' });
    if (responseMs !== undefined) this.metrics?.helpResponse.observe(responseMs / 1000);
    // the replies just cut off are stored with what they showed, before the admin_join (bounded: an
    // instance that never heard of the takeover, or died, is not waited for)
    await this.repliesSettled(claim);
    try {
      await this.logStart(claim);
    } catch (error) {
      // the session ended while it was being claimed (the join is logged only into a live session):
      // the claim ends here, with no admin_join to leave (docs/protocol.md, "Takeover handoff")
      if (error instanceof DomainException && error.code === ErrorCode.NOT_FOUND) {
        await this.finish(claim, 'session_ended');
        throw new DomainException(ErrorCode.NOT_FOUND, 'This session has ended.');
      }
      throw error;
    }
    if (helpRequestedAt && responseMs !== undefined)
      await this.sessions.answerHelp(claim.sessionId, helpRequestedAt, responseMs);
    // an end stored while the join was being logged found no join to log its leave after
    const latest = await this.repository.latest(claim.sessionId);
    if (!latest || latest.epoch !== claim.epoch || latest.ended)
      await this.complete(latest?.epoch === claim.epoch ? latest : { ...claim, ended: true }, true);
  }

  // The claim this admin holds (a renewal from another socket, a retried join): its admin_join is
  // logged before the socket speaks there, by whichever request gets there first.
  async ensureStarted(claim: Claim): Promise<void> {
    const state = await this.sessions.assistanceState(claim.sessionId);
    if (sameTakeover(state?.takeover, claim)) return;
    await this.repliesSettled(claim);
    await this.logStart(claim);
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
      await this.replies.settled(claim.sessionId, REPLIES_SETTLE_MS);
    } finally {
      clearInterval(renewal);
    }
  }

  // Ends the claim once, whichever instance or request gets there first. `leaverId`: the socket whose
  // admin_leave ends it (its ack answers it; the takeover's other sockets are shown admin_leave).
  async finish(claim: Claim, reason: EndReason, leaverId?: string): Promise<void> {
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
    this.unbindSession(claim.sessionId, leaverId);
    this.publish('ended', claim);
    const leaveLogged = await this.complete(
      { ...claim, ended: true, endedAt: end, endReason: reason },
      false,
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
  // true when this call logged the admin_leave.
  async complete(claim: Claim, answer: boolean): Promise<boolean> {
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
    const logged = await this.logEnd(claim, end, claim.endReason ?? 'lapsed', open);
    // closed once its admin_leave is logged: the next claim's admin_join follows it in the log
    await this.repository.close(claim, end);
    open();
    if (answer && logged)
      this.events.emit({ kind: 'takeover_ended', sessionId: claim.sessionId, leaveLogged: true });
    return logged;
  }

  // the admins' own sessions while their sockets here assist others (kept remembered: SessionsService.keepLive)
  ownSessions(): string[] {
    return [...this.bindings.values()].map((binding) => binding.ownSessionId);
  }

  binding(connection: Connection): Binding | undefined {
    return this.bindings.get(connection.id);
  }

  // Moves the socket to the session it now assists; its renewals keep the lease alive.
  bind(connection: Connection, claim: Claim, seq: number | undefined): void {
    // closed while the join was being decided: its lease runs out as after any other close
    if (connection.closed) {
      this.expireFrom(claim);
      return;
    }
    this.bindings.set(connection.id, {
      connection,
      claim,
      ownSessionId: connection.sessionId,
      fromSeq: seq ?? 0,
    });
    this.hub.move(connection, claim.sessionId, seq);
  }

  // Takes the socket back to the admin's own session (its own admin_leave: the ack answers it).
  unbind(connectionId: string): Binding | undefined {
    const binding = this.bindings.get(connectionId);
    if (!binding) return undefined;
    this.bindings.delete(connectionId);
    const { connection } = binding;
    if (connection.sessionId === binding.claim.sessionId)
      this.hub.move(connection, binding.ownSessionId, this.sessions.lastSeq(binding.ownSessionId));
    return binding;
  }

  // The socket's takeover ended other than by its own admin_leave: back in the admin's own session,
  // it no longer gets the session's frames, so it is shown the takeover's admin_leave (LeaveNoticeService).
  letGo(connectionId: string): void {
    const binding = this.unbind(connectionId);
    if (binding) this.notices.show(binding.connection, binding.claim, binding.fromSeq);
  }

  // The admin's socket closed: the lease now runs out TAKEOVER_GRACE from here unless another
  // socket of the admin (here or on another instance) keeps renewing it.
  disconnected(connection: Connection): void {
    const binding = this.bindings.get(connection.id);
    if (!binding) return;
    this.bindings.delete(connection.id);
    this.expireFrom(binding.claim);
  }

  // No socket of the admin here any more: the lease runs TAKEOVER_GRACE from now, then lapses.
  private expireFrom(claim: Claim): void {
    if (this.boundHere(claim)) return;
    const until = new Date(Date.now() + this.settings.takeoverGraceMs);
    void this.repository.renew(claim, until).catch(() => undefined);
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

  // admin_join, logged only while the session mirrors no takeover, and mirrored in the same write.
  // The session may still mirror an earlier takeover whose instance died after storing its end and
  // before logging it: its admin_leave is logged first. Throws SESSION_LOCKED when this claim is no
  // longer the session's latest open one.
  private async logStart(claim: Claim): Promise<void> {
    for (let attempt = 0; attempt < 4; attempt++) {
      const metadata = { admin_name: claim.adminName };
      if (await this.logEvent(claim.sessionId, 'admin_join', metadata, null, { start: claim })) return;
      const state = await this.sessions.assistanceState(claim.sessionId);
      const mirrored = state?.takeover;
      // logged already (by another request of this admin, or an attempt whose answer was lost)
      if (sameTakeover(mirrored, claim)) return;
      const latest = await this.repository.latest(claim.sessionId);
      if (!latest || latest.epoch !== claim.epoch || latest.ended) break;
      // an earlier takeover: this claim was taken after it ended
      if (mirrored) await this.logEnd(mirrored, new Date(), 'lapsed');
    }
    throw new DomainException(ErrorCode.SESSION_LOCKED, 'The session changed hands; please try again.');
  }

  // admin_leave, logged only while the session mirrors this takeover, with the mirror cleared and the
  // takeover's record stored in the same write. False when it does not (its join never logged, or
  // its leave logged already).
  private logEnd(
    takeover: Pick<Claim, 'sessionId' | 'adminId' | 'adminName' | 'startedAt'>,
    end: Date,
    reason: string,
    beforeFanOut?: () => void,
  ): Promise<boolean> {
    // the takeover it ends, by its start: an instance that has not yet heard of the end over the bus
    // knows from the log that it has come (ReplyFences.endedInLog)
    const metadata = { admin_name: takeover.adminName, reason, started_at: takeover.startedAt.toISOString() };
    return this.logEvent(
      takeover.sessionId,
      'admin_leave',
      metadata,
      takeover,
      { end: takeover, at: end },
      beforeFanOut,
    );
  }

  // One of a takeover's events, stored only while the session mirrors `takeover` (null: none) and
  // changing the mirror in the same write; false when the guard refused it (AppendOptions).
  private async logEvent(
    sessionId: string,
    type: 'admin_join' | 'admin_leave',
    metadata: Record<string, unknown>,
    takeover: AppendOptions['takeover'],
    mirror: AppendOptions['mirror'],
    beforeFanOut?: () => void,
  ): Promise<boolean> {
    try {
      await this.records.record({
        sessionId,
        message: { type, sender: 'admin', timestamp: new Date(), metadata },
        effects: { countsAsMessage: false },
        takeover,
        mirror,
        beforeFanOut,
      });
      return true;
    } catch (error) {
      if (error instanceof DomainException && error.code === ErrorCode.SESSION_LOCKED) return false;
      throw error;
    }
  }

  private onEvent(event: TakeoverEvent): void {
    if (event.kind === 'started')
      this.events.emit({
        kind: 'takeover_started',
        sessionId: event.session,
        epoch: event.epoch,
        startedAt: typeof event.started_at === 'number' ? event.started_at : undefined,
      });
    else if (event.kind === 'ended') this.unbindSession(event.session);
    else this.events.emit({ kind: 'takeover_closed', sessionId: event.session, epoch: event.epoch });
  }

  private unbindSession(sessionId: string, leaverId?: string): void {
    for (const [id, binding] of this.bindings) {
      if (binding.claim.sessionId !== sessionId) continue;
      if (id === leaverId) this.unbind(id);
      else this.letGo(id);
    }
  }

  private boundHere(claim: Claim): boolean {
    for (const binding of this.bindings.values())
      if (binding.claim.sessionId === claim.sessionId && binding.claim.epoch === claim.epoch) return true;
    return false;
  }

  // Renews the leases of admins connected here; ends leases that lapsed anywhere.
  private async tick(): Promise<void> {
    try {
      const renewed = new Set<string>();
      for (const [id, binding] of [...this.bindings]) {
        const { connection } = binding;
        // a socket that showed no life for a whole grace (its admin's machine vanished without a
        // close) renews nothing: it is ended, and the lease lapses as after a close
        if (Date.now() - connection.seenAt > this.settings.takeoverGraceMs) {
          this.logger.log({ event: 'admin_socket_silent', admin_id: binding.claim.adminId }, 'admin silent');
          this.bindings.delete(id);
          connection.socket.terminate();
          continue;
        }
        // asks for a pong, so a live admin's seenAt stays fresh between its frames
        connection.socket.ping();
        const key = `${binding.claim.sessionId}:${binding.claim.epoch}`;
        if (renewed.has(key)) continue;
        renewed.add(key);
        // a grace from the admin's last sign of life, not from now: a vanished admin's lease ends
        // at most TAKEOVER_GRACE plus one tick after its last pong
        const until = new Date(connection.seenAt + this.settings.takeoverGraceMs);
        // ended elsewhere, and its end not heard here (Redis away)
        if (!(await this.repository.renew(binding.claim, until))) this.letGo(id);
      }
      const now = Date.now();
      for (const claim of await this.repository.lapsed(new Date(now))) {
        // the claim row may be stale (a renewal elsewhere); judge by the latest read
        const latest = await this.repository.latest(claim.sessionId);
        if (latest && latest.epoch === claim.epoch && !latest.ended && latest.leaseUntil.getTime() < now)
          await this.finish(latest, 'lapsed');
        // ended (or followed by a newer claim, which ended it) but never closed: its finisher died
        else if (!latest || latest.epoch !== claim.epoch || latest.ended)
          await this.complete(latest?.epoch === claim.epoch ? latest : { ...claim, ended: true }, true);
      }
    } catch (error) {
      this.logger.warn({ event: 'takeover_tick_failed', err: String(error) }, 'takeover renewal failed');
    }
  }
}

// the session mirrors this very takeover
function sameTakeover(
  mirrored: Pick<Claim, 'adminId' | 'startedAt'> | null | undefined,
  claim: Pick<Claim, 'adminId' | 'startedAt'>,
): boolean {
  return (
    mirrored !== null &&
    mirrored !== undefined &&
    mirrored.adminId === claim.adminId &&
    mirrored.startedAt.getTime() === claim.startedAt.getTime()
  );
}
