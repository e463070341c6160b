import { Injectable, type OnModuleInit } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { TakeoverClaim } from './schemas/takeover-claim.schema';
import { isDuplicateKey } from '../../common/store-errors';

// One takeover of a session: epoch n is the session's n-th takeover.
export interface Claim {
  sessionId: string;
  epoch: number;
  adminId: string;
  adminName: string;
  startedAt: Date;
  leaseUntil: Date;
  ended: boolean;
  // when and why it ended (read with an ended claim)
  endedAt?: Date;
  endReason?: string;
  // not closed yet: an ended claim stays open until its admin_leave is logged (TakeoverLeaseService)
  open?: boolean;
}

const claimId = (sessionId: string, epoch: number) => `${sessionId}:${epoch}`;
const endId = (sessionId: string, epoch: number) => `${sessionId}:${epoch}:end`;

// Takeover leases (takeover_claims). What they mirror onto the session document is written with the
// log's admin_join and admin_leave (TakeoverLeaseService, AppendOptions.mirror).
@Injectable()
export class TakeoverRepository implements OnModuleInit {
  constructor(@InjectModel(TakeoverClaim.name) private readonly claims: Model<TakeoverClaim>) {}

  async onModuleInit(): Promise<void> {
    await this.claims.createIndexes();
  }

  // The session's latest takeover, ended or not.
  async latest(sessionId: string): Promise<Claim | null> {
    const [found] = await this.claims
      .find({ session_id: sessionId, kind: 'claim' })
      .sort({ epoch: -1 })
      .limit(1)
      .lean<TakeoverClaim[]>();
    if (!found) return null;
    const end = await this.claims
      .findOne({ _id: endId(sessionId, found.epoch) }, { ended_at: 1, reason: 1 })
      .lean<TakeoverClaim>();
    const claim = toClaim(found, end !== null);
    if (end) {
      claim.endedAt = end.ended_at ? new Date(end.ended_at) : undefined;
      claim.endReason = end.reason ?? undefined;
    }
    return claim;
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
}

async function inserted(insert: Promise<unknown>): Promise<boolean> {
  try {
    await insert;
    return true;
  } catch (error) {
    if (isDuplicateKey(error)) return false;
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
    open: document.open !== false,
  };
}
