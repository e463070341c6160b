import { randomUUID } from 'node:crypto';
import { getModelToken, MongooseModule } from '@nestjs/mongoose';
import { Test, type TestingModule } from '@nestjs/testing';
import type { Model } from 'mongoose';
import { Session, SessionSchema } from '../../src/modules/sessions/schemas/session.schema';
import { TakeoverClaim, TakeoverClaimSchema } from '../../src/modules/takeover/schemas/takeover-claim.schema';
import { TakeoverRepository, type Claim } from '../../src/modules/takeover/takeover.repository';
import { AssistanceRepository } from '../../src/modules/sessions/assistance.repository';
import { databaseModules } from '../helpers/nest';
import { testSettings } from '../helpers/env';

// The lease table against FerretDB, which runs updates as read-then-replace: only inserts on a
// unique _id are atomic there, and that is what the claim and its end rely on.
describe('takeover lease against FerretDB', () => {
  let module: TestingModule;
  let repository: TakeoverRepository;
  let assistance: AssistanceRepository;
  let sessions: Model<Session>;

  beforeAll(async () => {
    const settings = testSettings();
    module = await Test.createTestingModule({
      imports: [
        ...databaseModules(settings),
        MongooseModule.forFeature([
          { name: Session.name, schema: SessionSchema },
          { name: TakeoverClaim.name, schema: TakeoverClaimSchema },
        ]),
      ],
      providers: [TakeoverRepository, AssistanceRepository],
    }).compile();
    await module.init();
    repository = module.get(TakeoverRepository);
    assistance = module.get(AssistanceRepository);
    sessions = module.get(getModelToken(Session.name));
  });
  afterAll(() => module.close());

  async function newSession(): Promise<string> {
    const id = randomUUID();
    const now = new Date();
    await sessions.create({
      _id: id,
      user_id: 'u1',
      name: 'chat',
      model_id: 'demo',
      is_active: true,
      start_time: now,
      last_activity: now,
    });
    return id;
  }

  // Ada's takeover (epoch 1) of a new session, its lease run out 100 ms ago
  async function ranOutClaim(): Promise<{ sessionId: string; ranOut: Date; held: Claim }> {
    const sessionId = await newSession();
    const ranOut = new Date(Date.now() - 100);
    await repository.insertClaim(
      sessionId,
      1,
      { id: 'ada', name: 'Ada' },
      new Date(Date.now() - 5_000),
      ranOut,
    );
    return { sessionId, ranOut, held: (await repository.latest(sessionId))! };
  }

  it('should let exactly one of 30 concurrent claims of an epoch succeed', async () => {
    const sessionId = await newSession();
    const now = new Date();
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, index) =>
        repository.insertClaim(
          sessionId,
          1,
          { id: `admin-${index}`, name: `Admin ${index}` },
          now,
          new Date(now.getTime() + 60_000),
        ),
      ),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    const winner = results.indexOf(true);
    expect(await repository.latest(sessionId)).toMatchObject({
      epoch: 1,
      adminId: `admin-${winner}`,
      ended: false,
    });
  });

  it('should end a claim exactly once however many try, and renew only an open claim', async () => {
    const sessionId = await newSession();
    const now = new Date();
    await repository.insertClaim(
      sessionId,
      1,
      { id: 'ada', name: 'Ada' },
      now,
      new Date(now.getTime() + 60_000),
    );
    const claim = (await repository.latest(sessionId))!;
    expect(await repository.renew(claim, new Date(now.getTime() + 120_000))).toBe(true);
    expect(await repository.renew({ ...claim, adminId: 'bob' }, new Date())).toBe(false);
    const ends = await Promise.all(
      Array.from({ length: 10 }, () => repository.insertEnd(claim, new Date(), 'lapsed')),
    );
    expect(ends.filter(Boolean)).toHaveLength(1);
    expect((await repository.latest(sessionId))?.ended).toBe(true);
    expect(await repository.renew(claim, new Date())).toBe(false);
  });

  // docs/protocol.md, "Takeover handoff": the renewal a closing socket writes (a grace from its close)
  // and a tick's renewal in flight (a grace from the socket's last pong, earlier) read the same lease
  // and wrote in either order. Until session 44 the tick's could land last: a takeover whose admin
  // closed lapsed ~200 ms short of TAKEOVER_GRACE (CI on 96350dc, takeover.e2e, 794 ms of 1 s).
  it('should keep the later of two renewals an instance writes at once, in whichever order they start', async () => {
    for (let round = 0; round < 10; round++) {
      const sessionId = await newSession();
      const now = Date.now();
      await repository.insertClaim(
        sessionId,
        1,
        { id: 'ada', name: 'Ada' },
        new Date(now),
        new Date(now + 1000),
      );
      const claim = (await repository.latest(sessionId))!;
      const later = new Date(now + 60_000);
      const earlier = new Date(now + 30_000);
      const order = round % 2 === 0 ? [later, earlier] : [earlier, later];
      expect(await Promise.all(order.map((until) => repository.renew(claim, until)))).toEqual([true, true]);
      expect((await repository.latest(sessionId))?.leaseUntil.getTime()).toBe(later.getTime());
    }
  });

  it('should list open claims whose lease ran out, until they are closed', async () => {
    const sessionId = await newSession();
    const past = new Date(Date.now() - 10_000);
    await repository.insertClaim(sessionId, 1, { id: 'ada', name: 'Ada' }, past, new Date(Date.now() - 1000));
    const lapsed = await repository.lapsed(new Date());
    const mine = lapsed.find((claim) => claim.sessionId === sessionId);
    expect(mine).toMatchObject({ epoch: 1, adminName: 'Ada' });
    await repository.close(mine!, new Date());
    expect((await repository.lapsed(new Date())).some((claim) => claim.sessionId === sessionId)).toBe(false);
  });

  // docs/protocol.md, "Takeover handoff": a renewal and a lapse of a lease that ran out decide it by
  // one unique insert. Until the timers audit the renewal looked for the end and then wrote the
  // lease, two steps a lapse could come between: the resume was acked and the takeover ended.
  it('should let either the renewal or the lapse of a run-out lease win, never both, however they interleave', async () => {
    const claims = module.get<Model<TakeoverClaim>>(getModelToken(TakeoverClaim.name));
    const outcomes = { renewed: 0, lapsed: 0 };
    for (let round = 0; round < 40; round++) {
      const { sessionId, held } = await ranOutClaim();
      const until = new Date(Date.now() + 60_000);
      // the lapse check's steps (TakeoverLeaseService.lapse): decided, then ended; started 0–9 ms
      // after the renewal, so each comes first in some rounds
      const lapse = async () => {
        await new Promise((resolve) => setTimeout(resolve, round % 10));
        if (!(await repository.decideLapse(held, held.leaseUntil))) return false;
        await repository.insertEnd(held, held.leaseUntil, 'lapsed');
        return true;
      };
      const [renewed, lapsed] = await Promise.all([repository.renew(held, until), lapse()]);
      expect([renewed, lapsed]).toContain(true);
      expect(renewed && lapsed).toBe(false);
      const after = await repository.latest(sessionId);
      expect(after?.ended).toBe(lapsed);
      if (renewed) expect(after?.leaseUntil.getTime()).toBe(until.getTime());
      outcomes[renewed ? 'renewed' : 'lapsed']++;
      // closed, its verdicts go with it
      await repository.close(after!, new Date());
      expect(await claims.countDocuments({ session_id: sessionId, kind: 'lease' })).toBe(0);
    }
    console.log('renewal against lapse, 40 rounds:', JSON.stringify(outcomes));
  });

  // A renewal that decided a lease and died before writing it: the lease reads the old one a grace
  // later, and is decided again, so it still lapses.
  it('should lapse a lease whose renewal decided it and never wrote it, once a grace has passed', async () => {
    const claims = module.get<Model<TakeoverClaim>>(getModelToken(TakeoverClaim.name));
    const grace = testSettings().takeoverGraceMs;
    for (const [ageMs, lapses] of [
      [grace + 1_000, true],
      [grace / 4, false],
    ] as const) {
      const { sessionId, ranOut, held } = await ranOutClaim();
      await claims.create({
        _id: `${sessionId}:1:lease:${ranOut.getTime()}:0`,
        session_id: sessionId,
        epoch: 1,
        kind: 'lease',
        lease_until: ranOut,
        verdict: 'renewed',
        decided_at: new Date(Date.now() - ageMs),
      });
      expect(await repository.decideLapse(held, held.leaseUntil)).toBe(lapses);
      // a renewal after it follows the verdict
      expect(await repository.renew(held, new Date(Date.now() + 60_000))).toBe(!lapses);
    }
  });

  // The fixes audit: a resume's store stalled 4.5 s after its verdict; meanwhile another instance
  // took the renewal for dead, lapsed the claim and closed it (its verdicts deleted). The renewal's
  // write then went through: it must answer false, and leave no verdict behind.
  it('should not renew a claim that lapsed and closed while the renewal stalled after its verdict', async () => {
    const claims = module.get<Model<TakeoverClaim>>(getModelToken(TakeoverClaim.name));
    const grace = testSettings().takeoverGraceMs;
    const { sessionId, ranOut, held } = await ranOutClaim();
    const write = claims.updateOne.bind(claims);
    const stalled = jest.spyOn(claims, 'updateOne').mockImplementationOnce(((
      ...args: Parameters<typeof write>
    ) =>
      (async () => {
        // a grace has passed for the other instance: the renewal's verdict reads as dead
        await claims.updateOne(
          { _id: `${sessionId}:1:lease:${ranOut.getTime()}:0` },
          { $set: { decided_at: new Date(Date.now() - grace - 1_000) } },
        );
        expect(await repository.decideLapse(held, held.leaseUntil)).toBe(true);
        await repository.insertEnd(held, held.leaseUntil, 'lapsed');
        await repository.close(held, new Date());
        return write(...args);
      })()) as unknown as typeof claims.updateOne);
    try {
      expect(await repository.renew(held, new Date(Date.now() + 60_000))).toBe(false);
    } finally {
      stalled.mockRestore();
    }
    expect((await repository.latest(sessionId))?.ended).toBe(true);
    // a verdict decided after the close goes too
    expect(await repository.decideLapse(held, held.leaseUntil)).toBe(true);
    expect(await claims.countDocuments({ session_id: sessionId, kind: 'lease' })).toBe(0);
  });

  it('should time a help request from the first unanswered request to the admin joining', async () => {
    const sessionId = await newSession();
    const first = new Date(Date.now() - 30_000);
    await assistance.markHelpRequested(sessionId, 'u1', { seq: 1, clientId: 'a', at: first });
    await assistance.markHelpRequested(sessionId, 'u1', {
      seq: 2,
      clientId: 'b',
      at: new Date(Date.now() - 10_000),
    });
    await assistance.markHelpRequested(sessionId, 'someone-else', { seq: 3, at: new Date() });
    expect(await assistance.state(sessionId)).toMatchObject({
      help_pending: true,
      help_requested_at: first,
    });
    await assistance.answerHelp(sessionId, first, 30_000);
    await assistance.answerHelp(sessionId, first, 99_000);
    const session = await sessions.findById(sessionId).lean();
    expect(session).toMatchObject({
      help_requested: true,
      help_pending: false,
      help_response_count: 1,
      help_response_ms_total: 30_000,
      help_response_ms_max: 30_000,
    });
  });

  // docs/protocol.md, "Help requests": the guard on help_request_seq is an equality with null on a
  // document older than the field (written here without it), then with a number
  it('should take a help request once, alert for the one that starts the wait, and note a resend', async () => {
    const sessionId = randomUUID();
    const now = new Date();
    await sessions.collection.insertOne({
      _id: sessionId as never,
      user_id: 'u1',
      is_active: true,
      start_time: now,
      last_activity: now,
      help_requested: false,
    });
    const first = { seq: 1, clientId: 'first', at: now };
    expect(await assistance.markHelpRequested(sessionId, 'u1', first)).toEqual({
      taken: true,
      alert: true,
      outcome: 'notified',
    });
    // the same request again (a resend, on any instance): nothing more
    expect(await assistance.markHelpRequested(sessionId, 'u1', first)).toEqual({
      taken: false,
      alert: false,
      outcome: 'notified',
    });
    // another while the first waits (from another device at the same moment): no second alert
    expect(
      await assistance.markHelpRequested(sessionId, 'u1', { seq: 3, clientId: 'other', at: new Date() }),
    ).toEqual({ taken: true, alert: false, outcome: 'notified' });
    expect(await assistance.state(sessionId)).toMatchObject({
      help_pending: true,
      help_requested_at: now,
      help_client_id: 'other',
    });
    expect(await assistance.markHelpRequested(sessionId, 'u1', first)).toMatchObject({ taken: false });
  });

  it('should let a help request answered under a takeover wait once that takeover lapses', async () => {
    const sessionId = await newSession();
    const startedAt = new Date(Date.now() - 5_000);
    await sessions.updateOne(
      { _id: sessionId },
      { $set: { assisting_admin_id: 'ada', assisting_admin_name: 'Ada', takeover_started_at: startedAt } },
    );
    expect(
      await assistance.markHelpRequested(sessionId, 'u1', { seq: 2, clientId: 'h', at: new Date() }),
    ).toEqual({
      taken: true,
      alert: false,
      outcome: 'assisted',
    });
    expect(await assistance.state(sessionId)).toMatchObject({ help_pending: false });
    // its admin_leave clears the mirror; another takeover's lapse is not this one's
    await sessions.updateOne(
      { _id: sessionId },
      { $set: { assisting_admin_id: null, assisting_admin_name: null, takeover_started_at: null } },
    );
    const lapsedAt = new Date();
    expect(
      await assistance.helpAfterLapse(sessionId, new Date(startedAt.getTime() + 1), lapsedAt),
    ).toBeNull();
    expect(await assistance.helpAfterLapse(sessionId, startedAt, lapsedAt)).toEqual({ userId: 'u1', seq: 2 });
    expect(await assistance.state(sessionId)).toMatchObject({
      help_pending: true,
      help_requested_at: lapsedAt,
    });
    // once, whoever ends the takeover
    expect(await assistance.helpAfterLapse(sessionId, startedAt, new Date())).toBeNull();
  });

  it('should not let a help request wait in an ended session', async () => {
    const sessionId = await newSession();
    await sessions.updateOne({ _id: sessionId }, { $set: { is_active: false } });
    expect(await assistance.markHelpRequested(sessionId, 'u1', { seq: 1, at: new Date() })).toEqual({
      taken: true,
      alert: false,
      outcome: 'ended',
    });
    expect(await assistance.state(sessionId)).toMatchObject({ help_pending: false });
  });
});
