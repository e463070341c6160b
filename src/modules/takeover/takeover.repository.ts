import { Injectable, type OnModuleInit } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { Session } from '../sessions/schemas/session.schema';
import { TakeoverClaim } from './schemas/takeover-claim.schema';

// One takeover of a session: epoch n is the session's n-th takeover.
export interface Claim {
  sessionId: string;
  epoch: number;
  adminId: string;
  adminName: string;
  startedAt: Date;
  leaseUntil: Date;
  ended: boolean;
}

export interface HelpState {
  session_id: string;
  user_id: string;
  seq: number;
  help_pending: boolean;
  help_requested_at: Date | null;
}

const DUPLICATE_KEY = 11000;

const claimId = (sessionId: string, epoch: number) => `${sessionId}:${epoch}`;
const endId = (sessionId: string, epoch: number) => `${sessionId}:${epoch}:end`;

// Takeover leases (takeover_claims) and the takeover/help fields they mirror onto the session
// document, which the chat path, the session list and the admin filters read.
@Injectable()
export class TakeoverRepository implements OnModuleInit {
  constructor(
    @InjectModel(TakeoverClaim.name) private readonly claims: Model<TakeoverClaim>,
    @InjectModel(Session.name) private readonly sessions: Model<Session>,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.claims.createIndexes();
  }

  // admin/system read: any user's session
  async session(sessionId: string): Promise<HelpState | null> {
    const found = await this.sessions
      .findOne({ _id: sessionId }, { user_id: 1, seq: 1, help_pending: 1, help_requested_at: 1 })
      .lean<{
        _id: string;
        user_id: string;
        seq: number;
        help_pending?: boolean;
        help_requested_at?: Date;
      }>();
    if (!found) return null;
    return {
      session_id: found._id,
      user_id: found.user_id,
      seq: found.seq ?? 0,
      help_pending: found.help_pending === true,
      help_requested_at: found.help_requested_at ? new Date(found.help_requested_at) : null,
    };
  }

  // The session's latest takeover, ended or not.
  async latest(sessionId: string): Promise<Claim | null> {
    const [found] = await this.claims
      .find({ session_id: sessionId, kind: 'claim' })
      .sort({ epoch: -1 })
      .limit(1)
      .lean<TakeoverClaim[]>();
    if (!found) return null;
    const ended = (await this.claims.exists({ _id: endId(sessionId, found.epoch) })) !== null;
    return toClaim(found, ended);
  }

  // The compare-and-set: true for exactly one caller per (session, epoch).
  async insertClaim(
    sessionId: string,
    epoch: number,
    admin: { id: string; name: string },
    now: Date,
    leaseUntil: Date,
  ): Promise<boolean> {
    return inserted(
      this.claims.create({
        _id: claimId(sessionId, epoch),
        session_id: sessionId,
        epoch,
        kind: 'claim',
        admin_id: admin.id,
        admin_name: admin.name,
        started_at: now,
        lease_until: leaseUntil,
        open: true,
      }),
    );
  }

  // Extends the holder's lease; false once the claim has ended or belongs to someone else.
  async renew(claim: Pick<Claim, 'sessionId' | 'epoch' | 'adminId'>, leaseUntil: Date): Promise<boolean> {
    if (await this.claims.exists({ _id: endId(claim.sessionId, claim.epoch) })) return false;
    const result = await this.claims.updateOne(
      { _id: claimId(claim.sessionId, claim.epoch), admin_id: claim.adminId },
      { $set: { lease_until: leaseUntil } },
    );
    return result.matchedCount === 1;
  }

  // True for exactly one caller: the one that ends the claim and records it.
  async insertEnd(claim: Claim, end: Date, reason: string): Promise<boolean> {
    return inserted(
      this.claims.create({
        _id: endId(claim.sessionId, claim.epoch),
        session_id: claim.sessionId,
        epoch: claim.epoch,
        kind: 'end',
        ended_at: end,
        reason,
      }),
    );
  }

  async close(claim: Claim, end: Date): Promise<void> {
    await this.claims.updateOne(
      { _id: claimId(claim.sessionId, claim.epoch) },
      { $set: { open: false, ended_at: end } },
    );
  }

  // Claims not yet closed whose lease ran out.
  async lapsed(now: Date, limit = 100): Promise<Claim[]> {
    const found = await this.claims
      .find({ open: true, lease_until: { $lt: now } })
      .limit(limit)
      .lean<TakeoverClaim[]>();
    return found.filter((document) => document.kind === 'claim').map((document) => toClaim(document, false));
  }

  async mirrorStart(claim: Claim): Promise<void> {
    await this.sessions.updateOne(
      { _id: claim.sessionId },
      {
        $set: {
          admin_assisted: true,
          assisting_admin_id: claim.adminId,
          assisting_admin_name: claim.adminName,
          takeover_started_at: claim.startedAt,
        },
      },
    );
  }

  // Clears the takeover in progress (unless a newer one is already mirrored) and stores its record;
  // admin_assisted and the admin's name stay.
  async mirrorEnd(claim: Claim, end: Date): Promise<void> {
    const record = { admin_id: claim.adminId, admin_name: claim.adminName, start: claim.startedAt, end };
    const cleared = await this.sessions.updateOne(
      { _id: claim.sessionId, assisting_admin_id: claim.adminId, takeover_started_at: claim.startedAt },
      {
        $set: { assisting_admin_id: null, takeover_started_at: null, takeover_lease_until: null },
        $push: { takeovers: record },
      },
    );
    if (cleared.matchedCount === 0)
      await this.sessions.updateOne({ _id: claim.sessionId }, { $push: { takeovers: record } });
  }

  // Marks the owner's session help-requested. `pending` (no admin there yet) starts the clock for
  // the help → join response time, unless an earlier request is still unanswered.
  async markHelpRequested(sessionId: string, userId: string, at: Date, pending: boolean): Promise<void> {
    const owned = { _id: sessionId, user_id: userId };
    if (pending) {
      const started = await this.sessions.updateOne(
        { ...owned, help_pending: { $ne: true } },
        { $set: { help_requested: true, help_requested_at: at, help_pending: true } },
      );
      if (started.matchedCount === 1) return;
    }
    await this.sessions.updateOne(owned, { $set: { help_requested: true } });
  }

  // An admin joined: the pending help request was answered after `responseMs`.
  async answerHelp(sessionId: string, requestedAt: Date, responseMs: number): Promise<void> {
    await this.sessions.updateOne(
      { _id: sessionId, help_pending: true, help_requested_at: requestedAt },
      {
        $set: { help_pending: false },
        $inc: { help_response_count: 1, help_response_ms_total: responseMs },
        $max: { help_response_ms_max: responseMs },
      },
    );
  }
}

async function inserted(insert: Promise<unknown>): Promise<boolean> {
  try {
    await insert;
    return true;
  } catch (error) {
    if ((error as { code?: number }).code === DUPLICATE_KEY) return false;
    throw error;
  }
}

function toClaim(document: TakeoverClaim, ended: boolean): Claim {
  return {
    sessionId: document.session_id,
    epoch: document.epoch,
    adminId: document.admin_id as string,
    adminName: document.admin_name ?? (document.admin_id as string),
    startedAt: new Date(document.started_at as Date),
    leaseUntil: new Date(document.lease_until as Date),
    ended,
  };
}
