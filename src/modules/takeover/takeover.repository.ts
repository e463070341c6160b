import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { TakeoverClaim } from './schemas/takeover-claim.schema';
import { isDuplicateKey } from '../../common/store-errors';
import { KeyedMutex } from '../../common/keyed-mutex';
import { SETTINGS, type Settings } from '../../config/settings';

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
const leaseId = (sessionId: string, epoch: number, until: Date, round: number) =>
  `${sessionId}:${epoch}:lease:${until.getTime()}:${round}`;

// Takeover leases (takeover_claims). What they mirror onto the session document is written with the
// log's admin_join and admin_leave (TakeoverLeaseService, AppendOptions.mirror).
@Injectable()
export class TakeoverRepository implements OnModuleInit {
  // a renewal writes the lease it decided at once; one whose lease still reads the old one a grace
  // later died halfway (decideFrom)
  private readonly staleMs: number;
  private readonly renewals = new KeyedMutex();

  constructor(
    @InjectModel(TakeoverClaim.name) private readonly claims: Model<TakeoverClaim>,
    @Inject(SETTINGS) settings: Settings,
  ) {
    this.staleMs = settings.takeoverGraceMs;
  }

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

  // Extends the holder's lease to `leaseUntil` (never shortens it); false once the claim has ended,
  // belongs to someone else, or the lease it read was judged lapsed. A renewal and a lapse decide
  // the lease they read by a unique insert (decideFrom) before either writes, so a renewal that
  // answers true is never followed by a lapse of the lease it read. Before, the end was looked for
  // and the lease written in two steps: a lapse between them ended a takeover just renewed
  // (docs/protocol.md, "Takeover handoff").
  //
  // An instance's renewals of one claim run one after another: a closing socket's (a grace from its
  // close) and a tick's in flight (a grace from the last pong, earlier) read the same lease and, on
  // both stores, the later write stood, so the tick's could cut the grace short. Until session 44 a
  // takeover lapsed 794 ms after its admin closed with a 1 s grace (docs/protocol.md, "Takeover
  // handoff"). Renewals from two instances still race; the one of a live socket comes again.
  renew(claim: Pick<Claim, 'sessionId' | 'epoch' | 'adminId'>, leaseUntil: Date): Promise<boolean> {
    return this.renewals.run(claimId(claim.sessionId, claim.epoch), () => this.renewNow(claim, leaseUntil));
  }

  private async renewNow(
    claim: Pick<Claim, 'sessionId' | 'epoch' | 'adminId'>,
    leaseUntil: Date,
  ): Promise<boolean> {
    const id = claimId(claim.sessionId, claim.epoch);
    const [found, ended] = await Promise.all([
      this.claims.findOne({ _id: id, admin_id: claim.adminId }, { lease_until: 1 }).lean<TakeoverClaim>(),
      this.claims.exists({ _id: endId(claim.sessionId, claim.epoch) }),
    ]);
    if (!found || ended) return false;
    const current = new Date(found.lease_until as Date);
    // it runs that long already: a lapse comes after it, if at all
    if (leaseUntil.getTime() <= current.getTime()) return true;
    const started = Date.now();
    const round = await this.decideFrom(claim, current, 'renewed', 0);
    if (round === undefined) return false;
    await this.claims.updateOne({ _id: id, admin_id: claim.adminId }, { $set: { lease_until: leaseUntil } });
    // slow enough to have been taken for dead (decideFrom): decided again, against that lapse
    if (Date.now() - started > this.staleMs / 2) {
      const again = await this.decideFrom(claim, current, 'renewed', round + 1);
      if (again === undefined) return false;
    }
    // A lapse that took this renewal for dead may also have ended and closed the claim meanwhile,
    // its verdicts deleted with it, so the decision above found nothing against it: the end says.
    // Until the fixes audit a resume whose store stalled 4.5 s after its verdict was acked for a
    // takeover that had lapsed, and logged a second admin_join (docs/protocol.md, "Takeover handoff").
    return !(await this.claims.exists({ _id: endId(claim.sessionId, claim.epoch) }));
  }

  // Whether the lease that ran until `until` is decided lapsed (by this call or another): a lapse
  // check read it run out. False when a renewal that read it decided it first.
  async decideLapse(claim: Pick<Claim, 'sessionId' | 'epoch'>, until: Date): Promise<boolean> {
    return (await this.decideFrom(claim, until, 'lapsed', 0)) !== undefined;
  }

  // A lease is decided once per round: renewed (a renewal read it and writes a later one) or lapsed
  // (a lapse check read it run out), the round's first verdict standing. A renewal that never wrote
  // (died between the two: the lease still reads `until` a grace after its verdict) is taken for
  // dead and the next round decides, so the lease still runs out. The round decided as asked.
  private async decideFrom(
    claim: Pick<Claim, 'sessionId' | 'epoch'>,
    until: Date,
    verdict: 'renewed' | 'lapsed',
    from: number,
  ): Promise<number | undefined> {
    for (let round = from; ; round++) {
      const id = leaseId(claim.sessionId, claim.epoch, until, round);
      const fields = { session_id: claim.sessionId, epoch: claim.epoch, kind: 'lease', lease_until: until };
      if (await inserted(this.claims.create({ _id: id, ...fields, verdict, decided_at: new Date() }))) {
        // decided after the claim was closed (which deletes its verdicts): the verdict goes too, and
        // a renewal of an ended claim renews nothing
        if (!(await this.claims.exists({ _id: endId(claim.sessionId, claim.epoch) }))) return round;
        await this.claims.deleteOne({ _id: id });
        return verdict === 'lapsed' ? round : undefined;
      }
      const found = await this.claims
        .findOne({ _id: id }, { verdict: 1, decided_at: 1 })
        .lean<TakeoverClaim>();
      // gone with the claim's close: it has ended
      if (!found) return verdict === 'lapsed' ? round : undefined;
      const dead =
        found.verdict === 'renewed' &&
        Date.now() - new Date(found.decided_at as Date).getTime() > this.staleMs &&
        (await this.stillUntil(claim, until));
      if (!dead) return found.verdict === verdict ? round : undefined;
    }
  }

  private async stillUntil(claim: Pick<Claim, 'sessionId' | 'epoch'>, until: Date): Promise<boolean> {
    const found = await this.claims
      .findOne({ _id: claimId(claim.sessionId, claim.epoch) }, { lease_until: 1 })
      .lean<TakeoverClaim>();
    return found !== null && new Date(found.lease_until as Date).getTime() === until.getTime();
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
    // its leases' verdicts decide nothing more: a renewal finds the end first
    await this.claims.deleteMany({ session_id: claim.sessionId, epoch: claim.epoch, kind: 'lease' });
  }

  // Every record of a purged session's takeovers: claims, ends, verdicts (SessionPurgeService). A
  // deleted session has ended, and only an active one is taken over: none is written after this.
  async removeOf(sessionId: string): Promise<void> {
    await this.claims.deleteMany({ session_id: sessionId });
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
