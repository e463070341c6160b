import { randomUUID } from 'node:crypto';
import { getModelToken, MongooseModule } from '@nestjs/mongoose';
import { Test, type TestingModule } from '@nestjs/testing';
import type { Model } from 'mongoose';
import { Session, SessionSchema } from '../../src/modules/sessions/schemas/session.schema';
import { TakeoverClaim, TakeoverClaimSchema } from '../../src/modules/takeover/schemas/takeover-claim.schema';
import { TakeoverRepository } from '../../src/modules/takeover/takeover.repository';
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

  it('should time a help request from the first unanswered request to the admin joining', async () => {
    const sessionId = await newSession();
    const first = new Date(Date.now() - 30_000);
    await assistance.markHelpRequested(sessionId, 'u1', first, true);
    await assistance.markHelpRequested(sessionId, 'u1', new Date(Date.now() - 10_000), true);
    await assistance.markHelpRequested(sessionId, 'someone-else', new Date(), true);
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
});
