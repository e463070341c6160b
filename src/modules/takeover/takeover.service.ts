import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { Principal } from '../../common/auth/principal';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { SETTINGS, type Settings } from '../../config/settings';
import { BUS, type Bus } from '../../infra/bus/bus';
import { ClientHub } from '../chat/client-hub';
import type { Connection } from '../chat/connection';
import type { ClientEnvelopeDto } from '../chat/dto/client-envelope.dto';
import { storedFrame } from '../chat/frames';
import { ReplyService } from '../chat/reply.service';
import type { SessionRecord } from '../sessions/session.types';
import { SessionsService } from '../sessions/sessions.service';
import { type Claim, TakeoverRepository } from './takeover.repository';

const TOPIC = 'takeover';

type TakeoverEvent = { kind: 'started'; session: string } | { kind: 'ended'; session: string };

export interface TakeoverView {
  session_id: string;
  admin_id: string;
  admin_name: string;
  started_at: string;
  lease_until: string;
  // false when this admin already held the session (a rejoin or a renewal)
  started: boolean;
}

interface Binding {
  connection: Connection;
  claim: Claim;
  ownSessionId: string;
}

export function adminName(principal: Principal): string {
  return principal.name ?? principal.userId;
}

// Human takeover (CONTRACT §4). The claim is an atomic compare-and-set in the database (an insert
// keyed by session and epoch, see TakeoverClaim) held as a lease: an instance renews it while the
// admin has a socket bound to the session there; once it has run TAKEOVER_GRACE without one, any
// instance ends it. Start and end are stored session events, seen by every device of the user on
// every instance; the session document mirrors who assists for the chat path and the admin list.
@Injectable()
export class TakeoverService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('takeover');
  private readonly bindings = new Map<string, Binding>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly repository: TakeoverRepository,
    private readonly sessions: SessionsService,
    private readonly hub: ClientHub,
    private readonly replies: ReplyService,
    @Inject(BUS) private readonly bus: Bus,
    @Inject(SETTINGS) private readonly settings: Settings,
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

  // Claims the session for this admin (REST takeover, WS admin_join). SESSION_LOCKED names the holder.
  async claim(sessionId: string, admin: Principal): Promise<TakeoverView> {
    this.requireAdmin(admin);
    const name = adminName(admin);
    let holder: Claim | null = null;
    for (let attempt = 0; attempt < 5; attempt++) {
      const session = await this.repository.session(sessionId);
      if (!session) throw new DomainException(ErrorCode.NOT_FOUND, 'Session not found.');
      const now = new Date();
      const leaseUntil = new Date(now.getTime() + this.settings.takeoverGraceMs);
      holder = await this.repository.latest(sessionId);
      if (holder && !holder.ended) {
        if (holder.adminId === admin.userId) {
          await this.repository.renew(holder, leaseUntil);
          return view(holder, leaseUntil, false);
        }
        if (holder.leaseUntil.getTime() >= now.getTime()) throw locked(holder);
        await this.finish(holder, 'lapsed');
        continue;
      }
      const epoch = (holder?.epoch ?? 0) + 1;
      if (await this.repository.insertClaim(sessionId, epoch, { id: admin.userId, name }, now, leaseUntil)) {
        const claim: Claim = {
          sessionId,
          epoch,
          adminId: admin.userId,
          adminName: name,
          startedAt: now,
          leaseUntil,
          ended: false,
        };
        await this.started(claim, session.help_pending ? session.help_requested_at : null);
        return view(claim, leaseUntil, true);
      }
      // another admin won this epoch: the next round reads who
    }
    throw locked(holder);
  }

  // Ends this admin's takeover (REST release, WS admin_leave).
  async release(sessionId: string, admin: Principal): Promise<void> {
    this.requireAdmin(admin);
    const holder = await this.repository.latest(sessionId);
    if (!holder || holder.ended) throw new DomainException(ErrorCode.NOT_FOUND, 'No takeover in progress.');
    if (holder.adminId !== admin.userId) throw locked(holder);
    await this.finish(holder, 'released');
  }

  // WS admin_join: claim, then bind this socket to the session so it sees the user's messages.
  async join(connection: Connection, sessionId: string, clientId?: string): Promise<void> {
    const current = this.bindings.get(connection.id);
    if (current && current.claim.sessionId !== sessionId)
      await this.leave(connection, current.claim.sessionId);
    const claimed = await this.claim(sessionId, connection.principal);
    const [claim, session] = await Promise.all([
      this.repository.latest(sessionId),
      this.repository.session(sessionId),
    ]);
    if (!claim || claim.adminId !== connection.principal.userId) throw locked(claim);
    if (!this.bindings.has(connection.id)) {
      this.bindings.set(connection.id, { connection, claim, ownSessionId: connection.sessionId });
      this.hub.move(connection, sessionId, session?.seq);
    }
    this.hub.send(connection, {
      type: 'ack',
      session_id: sessionId,
      seq: session?.seq ?? 0,
      client_id: clientId,
      metadata: {
        admin_name: claimed.admin_name,
        lease_until: claimed.lease_until,
        user_id: session?.user_id,
      },
    });
  }

  // WS admin_leave: ends the takeover and takes the socket back to the admin's own session.
  async leave(connection: Connection, sessionId: string, clientId?: string): Promise<void> {
    await this.release(sessionId, connection.principal);
    this.unbind(connection.id);
    this.hub.send(connection, { type: 'ack', session_id: sessionId, client_id: clientId });
  }

  // The socket is bound to a session this admin took over: its messages go there as sender admin.
  isAssisting(connection: Connection): boolean {
    return this.bindings.has(connection.id);
  }

  // While an admin assists, the user's messages go to the admin, not to the LLM.
  isAssisted(session: Pick<SessionRecord, 'assisting_admin_id'>): boolean {
    return Boolean(session.assisting_admin_id);
  }

  // An admin's message: only from the lease holder; stored as sender admin, to every device.
  async adminMessage(connection: Connection, message: ClientEnvelopeDto): Promise<void> {
    const binding = this.bindings.get(connection.id) as Binding;
    const sessionId = binding.claim.sessionId;
    const holder = await this.repository.latest(sessionId);
    if (
      !holder ||
      holder.ended ||
      holder.epoch !== binding.claim.epoch ||
      holder.adminId !== binding.claim.adminId
    ) {
      this.unbind(connection.id);
      throw new DomainException(ErrorCode.SESSION_LOCKED, 'You no longer hold this session.');
    }
    const { message: stored, duplicate } = await this.sessions.append(sessionId, {
      type: 'user_message',
      sender: 'admin',
      client_id: message.client_id,
      content: message.content as string,
      timestamp: new Date(),
      metadata: { admin_name: holder.adminName },
    });
    this.hub.send(connection, {
      type: 'ack',
      session_id: sessionId,
      seq: stored.seq,
      client_id: stored.client_id,
      id: stored.id,
    });
    if (duplicate) return;
    this.hub.toSession(sessionId, storedFrame(sessionId, stored), connection);
    this.logger.log(
      { event: 'admin_message', admin_id: holder.adminId, session_id: sessionId, seq: stored.seq },
      'admin message stored',
    );
  }

  // The admin's socket closed: the lease now runs out TAKEOVER_GRACE from here unless another
  // socket of the admin (here or on another instance) keeps renewing it.
  disconnected(connection: Connection): void {
    const binding = this.bindings.get(connection.id);
    if (!binding) return;
    this.bindings.delete(connection.id);
    if (this.boundHere(binding.claim)) return;
    const until = new Date(Date.now() + this.settings.takeoverGraceMs);
    void this.repository.renew(binding.claim, until).catch(() => undefined);
  }

  private async started(claim: Claim, helpRequestedAt: Date | null): Promise<void> {
    this.logger.log(
      { event: 'takeover_started', admin_id: claim.adminId, session_id: claim.sessionId, epoch: claim.epoch },
      'takeover started',
    );
    // a reply streaming on any instance stops: the admin answers from here on
    this.replies.stop(claim.sessionId, 'stopped');
    this.bus.publish(TOPIC, { kind: 'started', session: claim.sessionId } satisfies TakeoverEvent);
    await this.sessions.exclusive(claim.sessionId, async () => {
      await this.repository.mirrorStart(claim);
      if (helpRequestedAt) {
        const responseMs = Math.max(0, claim.startedAt.getTime() - helpRequestedAt.getTime());
        await this.repository.answerHelp(claim.sessionId, helpRequestedAt, responseMs);
      }
    });
    await this.event(claim.sessionId, 'admin_join', { admin_name: claim.adminName });
  }

  // Ends the claim once, whichever instance or request gets there first.
  private async finish(claim: Claim, reason: 'released' | 'lapsed'): Promise<void> {
    const end = reason === 'lapsed' ? claim.leaseUntil : new Date();
    if (!(await this.repository.insertEnd(claim, end, reason))) return;
    await this.repository.close(claim, end);
    await this.sessions.exclusive(claim.sessionId, () => this.repository.mirrorEnd(claim, end));
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
    this.bus.publish(TOPIC, { kind: 'ended', session: claim.sessionId } satisfies TakeoverEvent);
    await this.event(claim.sessionId, 'admin_leave', { admin_name: claim.adminName, reason });
  }

  // Stores admin_join / admin_leave in the session log and sends it to every socket of the session.
  private async event(
    sessionId: string,
    type: 'admin_join' | 'admin_leave',
    metadata: Record<string, unknown>,
  ) {
    try {
      const { message } = await this.sessions.append(
        sessionId,
        { type, sender: 'admin', timestamp: new Date(), metadata },
        { countsAsMessage: false },
      );
      this.hub.toSession(sessionId, storedFrame(sessionId, message));
    } catch (error) {
      // the takeover itself is stored; a full session only misses the visible event
      this.logger.warn(
        { event: 'takeover_event_failed', session_id: sessionId, type, err: String(error) },
        type,
      );
    }
  }

  private onEvent(event: TakeoverEvent): void {
    if (event.kind === 'started') this.replies.stop(event.session, 'stopped');
    else this.unbindSession(event.session);
  }

  private unbindSession(sessionId: string): void {
    for (const [id, binding] of this.bindings) if (binding.claim.sessionId === sessionId) this.unbind(id);
  }

  private unbind(connectionId: string): void {
    const binding = this.bindings.get(connectionId);
    if (!binding) return;
    this.bindings.delete(connectionId);
    const { connection } = binding;
    if (connection.sessionId === binding.claim.sessionId)
      this.hub.move(connection, binding.ownSessionId, this.sessions.lastSeq(binding.ownSessionId));
  }

  private boundHere(claim: Claim): boolean {
    for (const binding of this.bindings.values())
      if (binding.claim.sessionId === claim.sessionId && binding.claim.epoch === claim.epoch) return true;
    return false;
  }

  // Renews the leases of admins connected here; ends leases that lapsed anywhere.
  private async tick(): Promise<void> {
    try {
      const until = new Date(Date.now() + this.settings.takeoverGraceMs);
      const renewed = new Set<string>();
      for (const [id, binding] of [...this.bindings]) {
        const key = `${binding.claim.sessionId}:${binding.claim.epoch}`;
        if (renewed.has(key)) continue;
        renewed.add(key);
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

  private requireAdmin(principal: Principal): void {
    // recoverable: a user who sends admin_join keeps the socket
    if (!principal.isAdmin)
      throw new DomainException(ErrorCode.FORBIDDEN, 'Only admins can do that.', { recoverable: true });
  }
}

function locked(holder: Claim | null): DomainException {
  return new DomainException(
    ErrorCode.SESSION_LOCKED,
    `${holder?.adminName ?? 'Another admin'} is assisting this session.`,
  );
}

function view(claim: Claim, leaseUntil: Date, started: boolean): TakeoverView {
  return {
    session_id: claim.sessionId,
    admin_id: claim.adminId,
    admin_name: claim.adminName,
    started_at: claim.startedAt.toISOString(),
    lease_until: leaseUntil.toISOString(),
    started,
  };
}
