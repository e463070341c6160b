import { Injectable } from '@nestjs/common';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { RecordService } from '../replies/record.service';
import { adminKeyOf } from '../sessions/session-rules';
import type { AppendOptions, MessageRecord } from '../sessions/session.types';
import { SessionsService } from '../sessions/sessions.service';
import { type Claim, TakeoverRepository } from './takeover.repository';

// A takeover's admin_join and admin_leave in the session log, each stored through the record path
// only while the session mirrors the right takeover, and changing that mirror in the same write: one
// admin at a time, in the log too (docs/protocol.md, "Takeover handoff").
@Injectable()
export class TakeoverLogService {
  constructor(
    private readonly records: RecordService,
    private readonly sessions: SessionsService,
    private readonly repository: TakeoverRepository,
  ) {}

  // admin_join, logged only while the session mirrors no takeover, and mirrored in the same write.
  // The session may still mirror an earlier takeover whose instance died after storing its end and
  // before logging it: its admin_leave is logged first. Throws SESSION_LOCKED when this claim is no
  // longer the session's latest open one. `beforeFanOut`: once this call stored it, before any socket
  // hears of it (the joining admin's socket is bound there: TakeoverService.join). `clientId`: of the
  // admin_join frame this call answers (eventMetadata).
  async logStart(
    claim: Claim,
    beforeFanOut?: (event: MessageRecord) => void,
    clientId?: string,
  ): Promise<void> {
    for (let attempt = 0; attempt < 4; attempt++) {
      const metadata = eventMetadata(claim);
      const start = { start: claim };
      if (await this.logEvent(claim.sessionId, 'admin_join', metadata, null, start, beforeFanOut, clientId))
        return;
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
  // its leave logged already). `clientId`: of the admin_leave frame that ended it (eventMetadata).
  logEnd(
    takeover: Pick<Claim, 'sessionId' | 'adminId' | 'adminName' | 'startedAt'>,
    end: Date,
    reason: string,
    beforeFanOut?: () => void,
    clientId?: string,
  ): Promise<boolean> {
    // the takeover it ends, by its start: an instance that has not yet heard of the end over the bus
    // knows from the log that it has come (ReplyFences.endedInLog)
    const metadata = { ...eventMetadata(takeover), reason };
    return this.logEvent(
      takeover.sessionId,
      'admin_leave',
      metadata,
      takeover,
      { end: takeover, at: end },
      beforeFanOut,
      clientId,
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
    beforeFanOut?: (event: MessageRecord) => void,
    clientId?: string,
  ): Promise<boolean> {
    try {
      await this.records.record({
        sessionId,
        // never taken for a resend's copy (dedupKey): the takeover's guard alone decides it is stored
        message: { type, sender: 'admin', client_id: clientId, metadata },
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
}

// What a takeover's admin_join and admin_leave name: the admin as shown, the admin's key (adminKeyOf,
// as on the admin's messages) and the takeover's start. The event carries the client_id of the admin's
// frame that caused it (CONTRACT §2: echoed on every message it causes), and a resend of that frame
// is answered with it, found by the key and the client_id (TakeoverService, "Takeover handoff" in
// docs/protocol.md). Until the contract audit of session 44 neither was stored: a resent admin_leave
// was refused NOT_FOUND, a resent admin_join started a second takeover, and the user's devices were
// shown both events with no client_id, their acks with no id (3 of 3 runs each).
function eventMetadata(
  takeover: Pick<Claim, 'adminId' | 'adminName' | 'startedAt'>,
): Record<string, unknown> {
  return {
    admin_name: takeover.adminName,
    admin_key: adminKeyOf(takeover.adminId),
    started_at: takeover.startedAt.toISOString(),
  };
}

// the session mirrors this very takeover
export function sameTakeover(
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
