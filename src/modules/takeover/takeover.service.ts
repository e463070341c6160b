import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Principal } from '../../common/auth/principal';
import { shownName } from '../../common/display-text';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { SETTINGS, type Settings } from '../../config/settings';
import { ClientHub } from '../realtime/client-hub';
import { type Recorded, RecordService } from '../replies/record.service';
import type { Connection } from '../realtime/connection';
import type { ClientMessageOf } from '../../protocol/frames';
import type { MessageRecord, NewMessage, SessionRecord } from '../sessions/session.types';
import { adminKeyOf } from '../sessions/session-rules';
import { SessionsService } from '../sessions/sessions.service';
import { AttachmentsService } from '../uploads/attachments.service';
import { LeaveNoticeService } from './leave-notice.service';
import { type Binding, TakeoverBindingsService } from './takeover-bindings.service';
import { TakeoverLeaseService } from './takeover-lease.service';
import { type Claim, TakeoverRepository } from './takeover.repository';

export interface TakeoverView {
  session_id: string;
  admin_id: string;
  admin_name: string;
  started_at: string;
  lease_until: string;
  // false when this admin already held the session (a rejoin or a renewal)
  started: boolean;
}

// The name the user and other admins are shown (docs/protocol.md, "Tokens"): the token's `name`
// as TokenService cleaned it, else the user id held to the same rule, else "Admin" (an id showing
// nothing).
export function adminName(principal: Principal): string {
  return principal.name ?? shownName(principal.userId) ?? 'Admin';
}

// Human takeover (CONTRACT §4). The claim is an atomic compare-and-set in the database (an insert
// keyed by session and epoch, see TakeoverClaim) held as a lease; TakeoverLeaseService starts and
// ends it, TakeoverRenewalsService renews it. Here: who may claim or release, and routing an admin
// socket's messages.
@Injectable()
export class TakeoverService {
  private readonly logger = new Logger('takeover');

  constructor(
    private readonly repository: TakeoverRepository,
    private readonly lease: TakeoverLeaseService,
    private readonly bindings: TakeoverBindingsService,
    private readonly sessions: SessionsService,
    private readonly hub: ClientHub,
    private readonly records: RecordService,
    @Inject(SETTINGS) private readonly settings: Settings,
    private readonly notices: LeaveNoticeService,
    private readonly attachments: AttachmentsService,
  ) {}

  // Claims the session for this admin (REST takeover, WS admin_join). SESSION_LOCKED names the holder;
  // NOT_FOUND when there is no conversation to take over. `joined`: when this call logs the claim's
  // admin_join, once it is stored and before any socket hears of it (never for a refused claim), with
  // `clientId` (of the admin_join frame) on it.
  async claim(
    sessionId: string,
    admin: Principal,
    joined?: (claim: Claim, event: MessageRecord) => void,
    clientId?: string,
  ): Promise<TakeoverView> {
    this.requireAdmin(admin);
    const name = adminName(admin);
    let holder: Claim | null = null;
    for (let attempt = 0; attempt < 5; attempt++) {
      // timed: whether the holder's lease lapsed rests on these reads (LapseJudge)
      const read = await this.lease.judge.timed(async () => {
        const state = await this.sessions.assistanceState(sessionId);
        return { session: state, latest: await this.repository.latest(sessionId) };
      });
      const session = read.session;
      // an admin's console is no conversation, and an ended session has no user to assist: its
      // takeover was logged where nobody reads and counted as assisted (docs/protocol.md, "Takeover
      // handoff"; a session ending meanwhile is caught where the admin_join is logged)
      if (!session || session.console) throw new DomainException(ErrorCode.NOT_FOUND, 'Session not found.');
      if (!session.is_active) throw new DomainException(ErrorCode.NOT_FOUND, 'This session has ended.');
      const now = new Date();
      const leaseUntil = new Date(now.getTime() + this.settings.takeoverGraceMs);
      holder = read.latest;
      if (holder && !holder.ended) {
        if (holder.adminId === admin.userId) {
          // ended or lapsed meanwhile: the next round reads it (and takes the session anew). Until the
          // timers audit the renewal's answer was not looked at, and a lapsed takeover was acked.
          if (!(await this.lease.extend(holder, leaseUntil))) continue;
          // another request of this admin may still be starting it: its admin_join is logged first
          const held = holder;
          await this.lease.ensureStarted(held, joined && ((event) => joined(held, event)), clientId);
          return view(holder, leaseUntil, false);
        }
        // run out in the store, and nobody has renewed it since the store was last away (nor since
        // this read: a renewal decides it first, and the next round reads it)
        if (!this.lease.judge.lapsed(holder.leaseUntil)) throw locked(holder);
        await this.lease.lapse(holder);
        continue;
      }
      // the last takeover is ending (its end stored, its admin_leave perhaps not logged yet, its
      // instance perhaps dead): its last steps are taken here too, so this one's admin_join follows
      // its admin_leave in the log (whoever logs that leave, it is logged once)
      if (holder?.ended && holder.open) await this.lease.complete(holder, false);
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
        await this.lease.started(
          claim,
          session.help_pending ? session.help_requested_at : null,
          joined && ((event) => joined(claim, event)),
          clientId,
        );
        return view(claim, leaseUntil, true);
      }
      // another admin won this epoch: the next round reads who
    }
    throw locked(holder);
  }

  // Ends this admin's takeover (REST release, WS admin_leave from `leaver`, its frame's `clientId` on
  // the admin_leave).
  async release(sessionId: string, admin: Principal, leaver?: Connection, clientId?: string): Promise<void> {
    this.requireAdmin(admin);
    const holder = await this.repository.latest(sessionId);
    if (!holder || holder.ended) throw new DomainException(ErrorCode.NOT_FOUND, 'No takeover in progress.');
    if (holder.adminId !== admin.userId) throw locked(holder);
    await this.lease.finish(holder, 'released', leaver?.id, clientId);
  }

  // WS admin_join: claim, then bind this socket to the session so it sees the user's messages.
  // `resume` (metadata.resume, a dashboard's socket come back): only the takeover this admin holds
  // now, that very epoch; one that ended meanwhile is not started anew behind the admin's back
  // (docs/protocol.md, "Takeover handoff").
  // `lastSeq` (metadata.last_seq): the socket is bound there, when below where the log stands, and
  // caught up from the store after it, so a resuming socket gets what the user sent while it was away.
  async join(
    connection: Connection,
    sessionId: string,
    clientId?: string,
    resume = false,
    lastSeq?: number,
    // false: no ack (adopt)
    answered = true,
  ): Promise<void> {
    // an admin's frame first (FORBIDDEN), whatever a resume would say of the session (the admin
    // audit of session 34: a non-admin's resume was told NOT_FOUND)
    this.requireAdmin(connection.principal);
    let held = resume ? await this.resumable(connection, sessionId) : undefined;
    // A resend of a frame whose admin_join is stored (its ack lost with the socket: CONTRACT §2, same
    // client_id = same message): the takeover it started is continued while this admin holds it, that
    // epoch only, as a resume is; once it has ended, the stored copy's ack answers, and nothing is
    // claimed. Until the contract audit of session 44 the resend claimed the session anew: a second
    // admin_join was logged, the user shown it, and the model stopped answering (3 of 3 runs).
    const sent =
      clientId !== undefined
        ? await this.sentEvent(connection, sessionId, 'admin_join', clientId)
        : undefined;
    if (sent && !held) {
      const latest = await this.repository.latest(sessionId);
      if (
        !latest ||
        latest.ended ||
        latest.adminId !== connection.principal.userId ||
        latest.startedAt.toISOString() !== sent.metadata?.started_at
      ) {
        this.records.ack(connection, sessionId, sent, { admin_name: sent.metadata?.admin_name });
        return;
      }
      held = latest;
    }
    // where the log stood before this admin_join: the socket is bound there and caught up from
    // the store, so what the user sends the instant they see admin_join reaches the admin too
    const before = await this.sessions.assistanceState(sessionId);
    // Until the timers audit of session 43 a resume was bound where the log stood at the resume: the
    // user's messages of the gap never reached the socket (the dashboard re-reads over REST).
    const bindAt = Math.min(lastSeq ?? Infinity, before?.seq ?? 0);
    // The socket is bound the moment this join's admin_join is stored, before any socket of the user
    // hears of it (on any instance: the bus carries it after the bind), so a frame that is never stored
    // and is sent the instant the user sees admin_join (a typing_indicator) finds it. A refused claim
    // stores no admin_join: its socket is never bound. Until the contract audit of session 42 the socket
    // was bound only after two more store reads, and the user's first typing_indicator was dropped (45
    // of 45 rounds; test/e2e/takeover-handoff.e2e-spec.ts).
    let attached: Binding | undefined;
    let left: Claim | undefined;
    // the admin_join this frame caused (the ack carries its id: CONTRACT §2)
    let logged: MessageRecord | undefined = sent;
    const attach = (claim: Claim, event?: MessageRecord) => {
      if (event) logged = event;
      const current = this.bindings.binding(connection);
      if (current?.claim.sessionId === sessionId) return;
      // the takeover this socket assisted is released below, once this join is done
      if (current) left = this.bindings.unbind(connection.id)?.claim;
      this.bindings.bind(connection, claim, bindAt);
      attached = this.bindings.binding(connection);
      // seq order holds whichever comes first, the store's copy or the live admin_join (SeqOrder)
      if (attached) void this.hub.catchUp(connection);
    };
    try {
      const claimed = held
        ? await this.continueHeld(connection, held, attach, clientId)
        : await this.claim(sessionId, connection.principal, attach, clientId);
      // the session this socket assisted is let go once the new one is this admin's, not before: until
      // an admin audit in session 40 a join refused SESSION_LOCKED (another admin held it) had ended
      // the admin's takeover already, the user was shown admin_leave and the model answered them
      // (4 of 4 runs; test/e2e/takeover-join-refused.e2e-spec.ts)
      const current = this.bindings.binding(connection);
      if (left)
        // unbound already when this join's admin_join was stored: one that ended or changed hands
        // meanwhile is not this socket's either way
        await this.leave(connection, left.sessionId).catch((error: unknown) => {
          if (!(error instanceof DomainException)) throw error;
        });
      else if (current && current.claim.sessionId !== sessionId)
        await this.leave(connection, current.claim.sessionId);
      const [claim, session] = await Promise.all([
        this.repository.latest(sessionId),
        this.sessions.assistanceState(sessionId),
      ]);
      if (!claim || claim.adminId !== connection.principal.userId) throw locked(claim);
      // ended while it was being continued (a lapse elsewhere): never acked (a socket bound above is
      // let go below, shown the admin_leave once)
      if (claim.ended)
        throw attached
          ? new DomainException(ErrorCode.NOT_FOUND, 'Your takeover of this session has ended.')
          : this.ended(connection, claim);
      if (!this.bindings.binding(connection)) {
        this.bindings.bind(connection, claim, bindAt);
        void this.hub.catchUp(connection);
      }
      // bound for the frame that named the session (adopt): that frame's own answer follows
      if (!answered) return;
      this.hub.send(connection, {
        type: 'ack',
        session_id: sessionId,
        seq: session?.seq ?? 0,
        client_id: clientId,
        id: logged?.id,
        metadata: {
          admin_name: claimed.admin_name,
          lease_until: claimed.lease_until,
          user_id: session?.user_id,
        },
      });
    } catch (error) {
      // refused after all: the socket bound above leaves the session (shown its admin_leave once
      // logged; its end, here or elsewhere, lets go of it once: letGo forgets the binding first)
      if (attached && this.bindings.binding(connection) === attached) this.bindings.letGo(connection.id);
      throw error;
    }
  }

  // A frame of the admin naming a session whose lease the admin holds, from a socket bound to no
  // takeover (the admin claimed it over REST, or its socket came back within TAKEOVER_GRACE): the
  // socket is bound there as a resume binds it (caught up from where the log stands, its renewals
  // keeping the lease), then the frame is handled there. CONTRACT §4 refuses only a session whose
  // lease the admin does not hold: false then, and the caller refuses it. Until the contract audit of
  // session 44 such a frame was refused SESSION_LOCKED ("You do not hold this session.") and the
  // user's messages never reached the socket (1 of 1 each; test/e2e/takeover.e2e-spec.ts).
  async adopt(connection: Connection, sessionId: string): Promise<boolean> {
    if (!connection.principal.isAdmin || this.isAssisting(connection)) return false;
    const holder = await this.repository.latest(sessionId);
    if (!holder || holder.ended || holder.adminId !== connection.principal.userId) return false;
    await this.join(connection, sessionId, undefined, true, undefined, false);
    return true;
  }

  // A resume of a takeover that is not this admin's open one is refused: NOT_FOUND when it ended (the
  // socket is shown its admin_leave, which it missed while away), SESSION_LOCKED when another admin
  // holds the session now.
  private async resumable(connection: Connection, sessionId: string): Promise<Claim> {
    const holder = await this.repository.latest(sessionId);
    if (holder && !holder.ended && holder.adminId === connection.principal.userId) return holder;
    if (holder && !holder.ended) throw locked(holder);
    throw this.ended(connection, holder);
  }

  // A resume continues the takeover it found, that epoch or none: never a claim, which takes the
  // session anew once that one has ended. Until the timers audit a lapse between the check above and
  // the claim had the user shown a second admin_join, and a lapse during the renewal acked a takeover
  // that was over (docs/protocol.md, "Takeover handoff").
  private async continueHeld(
    connection: Connection,
    held: Claim,
    joined: (claim: Claim, event: MessageRecord) => void,
    clientId?: string,
  ): Promise<TakeoverView> {
    const leaseUntil = new Date(Date.now() + this.settings.takeoverGraceMs);
    if (!(await this.lease.extend(held, leaseUntil))) throw this.ended(connection, held);
    await this.lease.ensureStarted(held, (event) => joined(held, event), clientId);
    return view(held, leaseUntil, false);
  }

  private ended(connection: Connection, holder: Claim | null): DomainException {
    if (holder && holder.adminId === connection.principal.userId) this.notices.show(connection, holder, 0);
    return new DomainException(ErrorCode.NOT_FOUND, 'Your takeover of this session has ended.');
  }

  // WS admin_leave: ends the takeover and takes the socket back to the admin's own session; the ack
  // answers this socket (with the id of the admin_leave it caused: CONTRACT §2), the admin's other
  // sockets there are shown admin_leave.
  // A resend of a frame whose admin_leave is stored (its ack lost with the socket) is acked with that
  // copy and releases nothing: a later takeover of this admin's is not ended by it. Until the contract
  // audit of session 44 it was refused NOT_FOUND, "No takeover in progress." (3 of 3 runs).
  async leave(connection: Connection, sessionId: string, clientId?: string): Promise<void> {
    this.requireAdmin(connection.principal);
    const sent = () =>
      clientId !== undefined ? this.sentEvent(connection, sessionId, 'admin_leave', clientId) : undefined;
    let left = await sent();
    if (!left) {
      try {
        await this.release(sessionId, connection.principal, connection, clientId);
      } catch (error) {
        // its first copy, on another socket at once, ended the takeover meanwhile
        left = error instanceof DomainException ? await sent() : undefined;
        if (!left) throw error;
      }
      left ??= await sent();
    }
    if (this.bindings.binding(connection)?.claim.sessionId === sessionId) this.bindings.unbind(connection.id);
    this.hub.send(connection, {
      type: 'ack',
      session_id: sessionId,
      seq: left?.seq ?? this.sessions.lastSeq(sessionId) ?? 0,
      client_id: clientId,
      id: left?.id,
    });
  }

  // The admin_join or admin_leave that this admin's frame with `clientId` caused, when it is stored.
  private sentEvent(
    connection: Connection,
    sessionId: string,
    type: 'admin_join' | 'admin_leave',
    clientId: string,
  ): Promise<MessageRecord | undefined> {
    return this.sessions.takeoverEvent(sessionId, type, adminKeyOf(connection.principal.userId), clientId);
  }

  // The socket is bound to a session this admin took over: its messages go there as sender admin.
  isAssisting(connection: Connection): boolean {
    return this.bindings.binding(connection) !== undefined;
  }

  // While an admin assists, the user's messages go to the admin, not to the LLM.
  isAssisted(session: Pick<SessionRecord, 'assisting_admin_id'>): boolean {
    return Boolean(session.assisting_admin_id);
  }

  // An admin's message: only from the lease holder; stored as sender admin, to every device (asHolder).
  async adminMessage(connection: Connection, message: ClientMessageOf<'user_message'>): Promise<void> {
    await this.asHolder(connection, message.session_id, 'admin_message', (holder, store) =>
      store({
        type: 'user_message',
        sender: 'admin',
        client_id: message.client_id,
        content: message.content,
        // admin_key: the resend of this admin's message is this admin's (session-rules.ts, dedupKey)
        metadata: { admin_name: holder.adminName, admin_key: adminKeyOf(holder.adminId) },
      }),
    );
  }

  // An admin's `file_upload` (CONTRACT §2 names no role; §4: the admin's messages reach every device
  // of the user as sender admin): one of the admin's uploads, attached to the session it holds and
  // stored as the admin's message is, never answered by the model (AttachmentsService.record). Until
  // the contract audit of session 44 it was looked up as the admin's own session and refused
  // NOT_FOUND, and the user got nothing (every run; test/e2e/takeover.e2e-spec.ts).
  async adminFile(connection: Connection, message: ClientMessageOf<'file_upload'>): Promise<void> {
    await this.asHolder(connection, message.session_id, 'admin_file', (holder, store) =>
      this.attachments.record(
        {
          sessionId: holder.sessionId,
          userId: holder.adminId,
          fileId: message.file_id,
          clientId: message.client_id,
          caption: message.content,
          admin: { name: holder.adminName },
        },
        store,
      ),
    );
  }

  // The one path of an admin's messages: only from the lease holder; stored as sender admin, to every
  // device, once per client_id. The holder check here is early; the one that holds is the append's
  // own, under the session lock the takeover's join and leave are logged under (docs/protocol.md,
  // "Takeover handoff"): the message lands between its admin's admin_join and admin_leave in the log,
  // or is refused. (A socket is bound only once its takeover's admin_join is logged: started(),
  // ensureStarted().) `write` builds the message and stores it with `store`.
  private async asHolder(
    connection: Connection,
    named: string | undefined,
    event: string,
    write: (
      holder: Claim,
      store: (message: Omit<NewMessage, 'id' | 'timestamp'>) => Promise<Recorded>,
    ) => Promise<Recorded>,
  ): Promise<void> {
    const binding = this.bindings.binding(connection) as Binding;
    const sessionId = binding.claim.sessionId;
    if (named !== undefined && named !== sessionId)
      throw new DomainException(ErrorCode.SESSION_LOCKED, 'You do not hold this session.');
    const holder = await this.repository.latest(sessionId);
    // ended elsewhere, not heard here yet: the socket is let go as when it is (shown admin_leave)
    const gone = () => {
      this.bindings.letGo(connection.id);
      return new DomainException(ErrorCode.SESSION_LOCKED, 'You no longer hold this session.');
    };
    if (
      !holder ||
      holder.ended ||
      holder.epoch !== binding.claim.epoch ||
      holder.adminId !== binding.claim.adminId
    )
      throw gone();
    const { message: stored, duplicate } = await write(holder, (message) =>
      this.records.record({
        sessionId,
        origin: connection,
        message,
        takeover: { adminId: holder.adminId, startedAt: holder.startedAt },
      }),
    ).catch((error: unknown) => {
      throw error instanceof DomainException && error.code === ErrorCode.SESSION_LOCKED ? gone() : error;
    });
    if (duplicate) return;
    this.logger.log(
      { event, admin_id: holder.adminId, session_id: sessionId, seq: stored.seq },
      'admin message stored',
    );
  }

  // The admin's socket closed: its lease starts running out (see TakeoverBindingsService).
  // the admins' own sessions while their sockets here assist others
  ownSessions(): string[] {
    return this.bindings.ownSessions();
  }

  disconnected(connection: Connection): void {
    this.bindings.disconnected(connection);
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
