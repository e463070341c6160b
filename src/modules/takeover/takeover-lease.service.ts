import {
  Inject,
  Injectable,
  Logger,
  Optional,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { SETTINGS, type Settings } from '../../config/settings';
import { BUS, type Bus } from '../../infra/bus/bus';
import { ChatMetrics } from '../metrics/chat-metrics';
import { ClientHub } from '../realtime/client-hub';
import type { Connection } from '../realtime/connection';
import { RecordService } from '../replies/record.service';
import { SessionEvents } from '../realtime/session-events';
import { SessionsService } from '../sessions/sessions.service';
import { type Claim, TakeoverRepository } from './takeover.repository';

const TOPIC = 'takeover';

// `epoch`: which takeover of the session (a late copy of an earlier one's end ends nothing newer).
// 'ended': admin sockets let go of the session; 'closed': its admin_leave is logged, so a reply of the
// model may show again (docs/protocol.md, "Takeover handoff").
type TakeoverEvent = { kind: 'started' | 'ended' | 'closed'; session: string; epoch?: number };

// An admin socket on this instance moved to a session its admin took over.
export interface Binding {
  connection: Connection;
  claim: Claim;
  ownSessionId: string;
}

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
    @Optional() private readonly metrics?: ChatMetrics,
  ) {}

  onModuleInit(): void {
    this.bus.subscribe(TOPIC, (payload) => this.onEvent(payload as TakeoverEvent));
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
    // admin_join first, then the mirror: an admin's message is stored only while the session mirrors
    // the takeover, so it always follows the admin_join in the log (docs/protocol.md, "Takeover
    // handoff"). A user's message in between is fenced from the model like any during the takeover.
    await this.event(claim.sessionId, 'admin_join', { admin_name: claim.adminName });
    await this.sessions.mirrorTakeoverStart(
      claim,
      helpRequestedAt && responseMs !== undefined ? { requestedAt: helpRequestedAt, responseMs } : undefined,
    );
  }

  // Ends the claim once, whichever instance or request gets there first.
  async finish(claim: Claim, reason: 'released' | 'lapsed'): Promise<void> {
    const end = reason === 'lapsed' ? claim.leaseUntil : new Date();
    if (!(await this.repository.insertEnd(claim, end, reason))) return;
    await this.sessions.mirrorTakeoverEnd(claim, end);
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
    this.unbindSession(claim.sessionId);
    this.publish('ended', claim);
    await this.event(claim.sessionId, 'admin_leave', { admin_name: claim.adminName, reason });
    // closed once its admin_leave is logged: a claim of the session waits for that (TakeoverService),
    // so the next admin_join follows this admin_leave in the log
    await this.repository.close(claim, end);
    // only now may the model's replies show again: a message the user sent once the session was
    // unassisted in the store but before admin_leave was logged is answered after it (a reply to it
    // that began meanwhile is cut off before its first piece and answered again below)
    this.tell('closed', claim);
    // the replies module answers what the user asked that no admin answered; once per takeover:
    // finish() gets here only on the instance that ended it
    this.events.emit({ kind: 'takeover_ended', sessionId: claim.sessionId });
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
    this.bindings.set(connection.id, { connection, claim, ownSessionId: connection.sessionId });
    this.hub.move(connection, claim.sessionId, seq);
  }

  // Takes the socket back to the admin's own session.
  unbind(connectionId: string): void {
    const binding = this.bindings.get(connectionId);
    if (!binding) return;
    this.bindings.delete(connectionId);
    const { connection } = binding;
    if (connection.sessionId === binding.claim.sessionId)
      this.hub.move(connection, binding.ownSessionId, this.sessions.lastSeq(binding.ownSessionId));
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
    const event = kind === 'started' ? 'takeover_started' : 'takeover_closed';
    this.events.emit({ kind: event, sessionId: claim.sessionId, epoch: claim.epoch });
    this.publish(kind, claim);
  }

  private publish(kind: TakeoverEvent['kind'], claim: Claim): void {
    this.bus.publish(TOPIC, { kind, session: claim.sessionId, epoch: claim.epoch } satisfies TakeoverEvent);
  }

  private async event(
    sessionId: string,
    type: 'admin_join' | 'admin_leave',
    metadata: Record<string, unknown>,
  ) {
    try {
      await this.records.record({
        sessionId,
        message: { type, sender: 'admin', timestamp: new Date(), metadata },
        effects: { countsAsMessage: false },
      });
    } catch (error) {
      // the takeover itself is stored; a full session only misses the visible event
      this.logger.warn(
        { event: 'takeover_event_failed', session_id: sessionId, type, err: String(error) },
        type,
      );
    }
  }

  private onEvent(event: TakeoverEvent): void {
    if (event.kind === 'started')
      this.events.emit({ kind: 'takeover_started', sessionId: event.session, epoch: event.epoch });
    else if (event.kind === 'ended') this.unbindSession(event.session);
    else this.events.emit({ kind: 'takeover_closed', sessionId: event.session, epoch: event.epoch });
  }

  private unbindSession(sessionId: string): void {
    for (const [id, binding] of this.bindings) if (binding.claim.sessionId === sessionId) this.unbind(id);
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
        if (!(await this.repository.renew(binding.claim, until))) this.unbind(id);
      }
      const now = Date.now();
      for (const claim of await this.repository.lapsed(new Date(now))) {
        // the claim row may be stale (a renewal elsewhere); judge by the latest read
        const latest = await this.repository.latest(claim.sessionId);
        if (latest && latest.epoch === claim.epoch && !latest.ended && latest.leaseUntil.getTime() < now)
          await this.finish(latest, 'lapsed');
        else if (!latest || latest.epoch !== claim.epoch || latest.ended)
          await this.repository.close(claim, new Date(now));
      }
    } catch (error) {
      this.logger.warn({ event: 'takeover_tick_failed', err: String(error) }, 'takeover renewal failed');
    }
  }
}
