import { Inject, Injectable } from '@nestjs/common';
import { SETTINGS, type Settings } from '../../config/settings';
import { ClientHub } from '../realtime/client-hub';
import type { Connection } from '../realtime/connection';
import { SessionsService } from '../sessions/sessions.service';
import { LeaveNoticeService } from './leave-notice.service';
import { type Claim, TakeoverRepository } from './takeover.repository';

// An admin socket on this instance moved to a session its admin took over.
export interface Binding {
  connection: Connection;
  claim: Claim;
  ownSessionId: string;
  // where the socket joined the session's log
  fromSeq: number;
}

// The admin sockets on this instance bound to the sessions their admins took over (CONTRACT §4,
// docs/protocol.md, "Takeover handoff"): while one is bound, TakeoverRenewalsService renews its lease;
// once none is, the lease runs out TAKEOVER_GRACE later.
@Injectable()
export class TakeoverBindingsService {
  private readonly bindings = new Map<string, Binding>();

  constructor(
    private readonly repository: TakeoverRepository,
    private readonly sessions: SessionsService,
    private readonly hub: ClientHub,
    @Inject(SETTINGS) private readonly settings: Settings,
    private readonly notices: LeaveNoticeService,
  ) {}

  // the admins' own sessions while their sockets here assist others (kept remembered: SessionsService.keepLive)
  ownSessions(): string[] {
    return [...this.bindings.values()].map((binding) => binding.ownSessionId);
  }

  binding(connection: Connection): Binding | undefined {
    return this.bindings.get(connection.id);
  }

  // every binding here, by socket id (a copy: the renewal tick drops some as it goes)
  all(): [string, Binding][] {
    return [...this.bindings];
  }

  // Forgets the socket's binding and nothing else (a silent socket the renewal tick ends: its lease
  // runs from its last sign of life).
  drop(connectionId: string): void {
    this.bindings.delete(connectionId);
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
    if (!binding) return;
    binding.connection.endedTakeover = binding.claim.sessionId;
    this.notices.show(binding.connection, binding.claim, binding.fromSeq);
  }

  // The admin's socket closed: the lease now runs out TAKEOVER_GRACE from here unless another
  // socket of the admin (here or on another instance) keeps renewing it.
  disconnected(connection: Connection): void {
    const binding = this.bindings.get(connection.id);
    if (!binding) return;
    this.bindings.delete(connection.id);
    // the socket's typing: false (TypingSignal.stop) may never come: the user is told the admin
    // stopped typing (docs/protocol.md, "Typing indicators"). Until the admin-dashboard audit of
    // session 43 the user saw "<admin> is typing…" for good after the admin's link dropped mid-word
    // (1 of 1).
    this.hub.toSession(
      binding.claim.sessionId,
      {
        type: 'typing_indicator',
        sender: 'admin',
        session_id: binding.claim.sessionId,
        seq: this.sessions.lastSeq(binding.claim.sessionId) ?? 0,
        metadata: { typing: false },
      },
      undefined,
      'users',
    );
    this.expireFrom(binding.claim);
  }

  // No socket of the admin here any more: the lease runs TAKEOVER_GRACE from now, then lapses.
  private expireFrom(claim: Claim): void {
    if (this.boundHere(claim)) return;
    const until = new Date(Date.now() + this.settings.takeoverGraceMs);
    void this.repository.renew(claim, until).catch(() => undefined);
  }

  // The session's takeover ended: every socket bound to it here goes back to its admin's own
  // session; `leaverId`, the socket whose admin_leave ended it, is answered by its ack, the others
  // are let go (shown the admin_leave).
  unbindSession(sessionId: string, leaverId?: string): void {
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
}
