import { Test, type TestingModule } from '@nestjs/testing';
import { getModelToken } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { type Settings } from '../../src/config/settings';
import { ErrorCode } from '../../src/common/errors/error-code';
import { Session } from '../../src/modules/sessions/schemas/session.schema';
import { SessionsModule } from '../../src/modules/sessions/sessions.module';
import { SessionsRepository } from '../../src/modules/sessions/sessions.repository';
import { SessionsService } from '../../src/modules/sessions/sessions.service';
import { AssistanceRepository } from '../../src/modules/sessions/assistance.repository';
import { STORE_SESSION_BYTES } from '../../src/modules/sessions/session-rules';
import { databaseModules } from '../helpers/nest';
import { testSettings } from '../helpers/env';
import { uniqueUser } from '../helpers/tokens';

// What a session's append is bounded by, against FerretDB (docs/protocol.md, "Every acked turn
// ends" and "Session library"): MAX_SESSION_BYTES refuses what a user or an admin sends, the reply of
// a turn acked before is stored past it (cut at the store's bound), and a deleted session takes
// nothing more but its takeover's end.
describe('session bounds against FerretDB', () => {
  let module: TestingModule;
  let repository: SessionsRepository;
  let service: SessionsService;
  let small: SessionsService;
  let model: Model<Session>;
  let settings: Settings;

  beforeAll(async () => {
    settings = { ...testSettings() };
    module = await Test.createTestingModule({
      imports: [...databaseModules(settings), SessionsModule],
    }).compile();
    await module.init();
    repository = module.get(SessionsRepository);
    service = module.get(SessionsService);
    model = module.get(getModelToken(Session.name));
    small = new SessionsService(repository, module.get(AssistanceRepository), {
      ...settings,
      maxSessionBytes: 2000,
    });
  });
  afterAll(() => module.close());

  const question = (clientId: string, content: string) => ({
    type: 'user_message' as const,
    sender: 'user' as const,
    client_id: clientId,
    content,
    timestamp: new Date(),
  });
  const reply = (content: string) => ({
    type: 'ai_response' as const,
    sender: 'ai' as const,
    content,
    timestamp: new Date(),
    model_id: 'demo',
    metadata: { reply_to: 'x' },
  });
  const refusal = (task: Promise<unknown>) =>
    task.then(
      () => undefined,
      (error: unknown) => (error as { code?: string }).code,
    );

  // the audit (MAX_SESSION_BYTES=3000): the acked message's reply refused SESSION_FULL, lost
  it("should store an acked turn's reply past MAX_SESSION_BYTES and refuse the user's next message", async () => {
    const user = uniqueUser();
    const { session } = await small.open(user, undefined, 'demo');
    await small.append(session.id, question('q1', 'x'.repeat(600)), undefined, { owner: user });
    const stored = await small.append(session.id, reply('y'.repeat(1500)), { answersTurn: 1 });
    expect(stored.message).toMatchObject({ seq: 2, content: 'y'.repeat(1500) });
    expect(stored.message.metadata?.truncated).toBeUndefined();
    expect(await refusal(small.append(session.id, question('q2', 'hi'), undefined, { owner: user }))).toBe(
      ErrorCode.SESSION_FULL,
    );
    const head = await repository.findOwned(session.id, user);
    expect(head).toMatchObject({ seq: 2, open_turn_seq: 1, answered_turn_seq: 1 });
    expect(head!.bytes).toBeGreaterThan(2000);
  });

  // the store's own bound (16 MiB a document) still holds: a reply that would pass it is cut to fit
  it("should cut a reply at the store's bound, flagged truncated, the counter within it", async () => {
    const user = uniqueUser();
    const { session } = await small.open(user, undefined, 'demo');
    await small.append(session.id, question('q1', 'hello'), undefined, { owner: user });
    // as full as the store allows, but 3,000 bytes (the counter is what every append is checked on)
    await model.updateOne({ _id: session.id }, { $set: { bytes: STORE_SESSION_BYTES - 3_000 } });
    const text = 'é'.repeat(4_000);
    const stored = await small.append(session.id, reply(text), { answersTurn: 1 });
    expect(stored.message.metadata).toMatchObject({ truncated: true, reply_to: 'x' });
    const cut = stored.message.content ?? '';
    // ~2,700 bytes of room once the message's overhead is counted: ~990 two-byte characters, encrypted
    expect(cut.length).toBeGreaterThan(900);
    expect(text.startsWith(cut)).toBe(true);
    const head = await repository.findOwned(session.id, user);
    expect(head!.bytes).toBeLessThanOrEqual(STORE_SESSION_BYTES);
    expect(head!.bytes).toBeGreaterThan(STORE_SESSION_BYTES - 10);
    expect((await repository.messagesAfter(session.id, user, 1))[0]).toMatchObject({
      content: cut,
      metadata: { truncated: true },
    });
  });

  // A regenerated reply was held to MAX_SESSION_BYTES at its store write: refused SESSION_FULL once
  // streamed whole. The regenerate is held to it before the model is asked (TurnVersionsService);
  // its reply is stored like any reply, cut at the store's bound
  it('should store a regenerated reply past MAX_SESSION_BYTES, cut at the store bound, flagged truncated', async () => {
    const user = uniqueUser();
    const { session } = await small.open(user, undefined, 'demo');
    await small.append(session.id, question('q1', 'hello'), undefined, { owner: user });
    const first = await small.append(session.id, reply('short'), { answersTurn: 1 });
    const alternative = (content: string) => ({
      ...reply(content),
      client_id: 'r1',
      metadata: { alternative_of: first.message.id },
    });
    const stored = await small.append(session.id, alternative('y'.repeat(2500)));
    expect(stored.message).toMatchObject({ seq: 3, content: 'y'.repeat(2500) });
    expect(stored.message.metadata?.truncated).toBeUndefined();
    expect((await repository.findOwned(session.id, user))!.bytes).toBeGreaterThan(2000);
    await model.updateOne({ _id: session.id }, { $set: { bytes: STORE_SESSION_BYTES - 3_000 } });
    const text = 'z'.repeat(6_000);
    const cut = await small.append(session.id, { ...alternative(text), client_id: 'r2' });
    expect(cut.message.metadata).toMatchObject({ truncated: true, alternative_of: first.message.id });
    expect(text.startsWith(cut.message.content ?? '')).toBe(true);
    expect(cut.message.content!.length).toBeGreaterThan(1_000);
    expect((await repository.findOwned(session.id, user))!.bytes).toBeLessThanOrEqual(STORE_SESSION_BYTES);
  });

  // the audit: the queued turn's reply stored in the deleted session after DELETE answered 204
  it('should refuse every append to a deleted session but its takeover end', async () => {
    const user = uniqueUser();
    const { session } = await service.open(user, undefined, 'demo');
    await service.append(session.id, question('q1', 'before'), undefined, { owner: user });
    const takeover = { sessionId: session.id, adminId: 'ada', adminName: 'Ada', startedAt: new Date() };
    await service.append(
      session.id,
      { type: 'admin_join', sender: 'admin' },
      { countsAsMessage: false },
      { takeover: null, mirror: { start: takeover } },
    );
    expect(await service.softDelete(session.id, user)).toEqual({ ended: true });
    expect(await refusal(service.append(session.id, reply('after'), { answersTurn: 1 }))).toBe(
      ErrorCode.NOT_FOUND,
    );
    expect(
      await refusal(
        service.append(
          session.id,
          { type: 'user_message', sender: 'admin', content: 'admin words' },
          undefined,
          { takeover },
        ),
      ),
    ).toBe(ErrorCode.NOT_FOUND);
    // the takeover's record is closed on the session all the same (admins still read it)
    await service.append(
      session.id,
      { type: 'admin_leave', sender: 'admin' },
      { countsAsMessage: false },
      { takeover, mirror: { end: takeover, at: new Date() } },
    );
    const stored = await service.withMessages(session.id, { userId: 'admin', isAdmin: true });
    expect(stored!.messages.map((message) => message.type)).toEqual([
      'user_message',
      'admin_join',
      'admin_leave',
    ]);
    expect(stored!.assisting_admin_id).toBeNull();
    // and the owner reads nothing of it, nor changes its model (a device bound to it before the move)
    expect(await repository.messagesAfter(session.id, user, 0)).toEqual([]);
    await service.setModel(session.id, 'gpt');
    expect((await service.getAny(session.id))?.model_id).toBe('demo');
  });
});
