import { randomBytes } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { getModelToken, MongooseModule } from '@nestjs/mongoose';
import { Test, type TestingModule } from '@nestjs/testing';
import type { Model } from 'mongoose';
import { ContentCipher } from '../../src/common/crypto/content-cipher';
import { InProcessLock } from '../../src/infra/lock/in-process.lock';
import { WriteLock } from '../../src/infra/lock/write.lock';
import { NoteRotationService } from '../../src/modules/notes/note-rotation.service';
import { NotesModule } from '../../src/modules/notes/notes.module';
import { NotesService } from '../../src/modules/notes/notes.service';
import { ReportRotationService } from '../../src/modules/rooms/report-rotation.service';
import { ReportsRepository } from '../../src/modules/rooms/reports.repository';
import { RoomMessageRotationService } from '../../src/modules/rooms/room-message-rotation.service';
import { ROOM_CIPHER, RoomMessagesRepository } from '../../src/modules/rooms/room-messages.repository';
import { Report, ReportSchema } from '../../src/modules/rooms/schemas/room-extras.schema';
import { RoomMessage, RoomMessageSchema } from '../../src/modules/rooms/schemas/room-message.schema';
import { KeyRotationService } from '../../src/modules/sessions/key-rotation.service';
import { Session } from '../../src/modules/sessions/schemas/session.schema';
import { SessionsModule } from '../../src/modules/sessions/sessions.module';
import { SessionsRepository } from '../../src/modules/sessions/sessions.repository';
import { SessionsService } from '../../src/modules/sessions/sessions.service';
import { mongoUri, testSettings } from '../helpers/env';
import { databaseModules } from '../helpers/nest';
import { uniqueUser } from '../helpers/tokens';

// docs/operations.md, "Rotating ENCRYPTION_KEY": write with key A, switch to key B with A listed in
// ENCRYPTION_KEY_PREVIOUS, run the passes, then drop A. Everything written with A must read back with
// B alone: until the key-rotation coverage fix, feedback reasons, CSAT comments, session notes,
// reports and room messages were never rewritten and were lost at step 4 (a session holding a
// feedback reason did not load at all).
describe('ENCRYPTION_KEY rotation of every encrypted field against FerretDB', () => {
  const database = mongoUri();
  const [keyA, keyB] = [randomBytes(32).toString('base64'), randomBytes(32).toString('base64')];
  const newOnly = new ContentCipher(Buffer.from(keyB, 'base64'));
  const opened: TestingModule[] = [];
  afterAll(async () => {
    for (const module of opened) await module.close();
  });
  afterEach(() => jest.restoreAllMocks());

  async function start(imports: unknown[], env: Record<string, string>): Promise<TestingModule> {
    const settings = testSettings({ MONGODB_URI: database, ...env });
    const module = await Test.createTestingModule({
      imports: [...databaseModules(settings), ...(imports as [])],
    }).compile();
    await module.init();
    opened.push(module);
    return module;
  }
  const sessionsWith = (env: Record<string, string>) => start([SessionsModule], env);

  // a session with a question, a rated reply (with its reason) and a rated takeover (with a comment)
  async function rated(module: TestingModule, userId: string, sessionId?: string): Promise<string> {
    const service = module.get(SessionsService);
    const id = sessionId ?? (await service.open(userId, undefined, 'demo')).session.id;
    if (!sessionId) {
      await service.append(id, {
        type: 'user_message',
        sender: 'user',
        client_id: 'q1',
        content: 'question',
      });
      await service.append(id, {
        type: 'ai_response',
        sender: 'ai',
        content: 'answer',
        model_id: 'demo',
      });
    }
    const model = module.get<Model<Session>>(getModelToken(Session.name));
    const raw = await model.findById(id).lean();
    const reply = raw!.messages.find((message) => message.type === 'ai_response')!;
    await service.setFeedback(id, userId, reply.id, 'down', 'wrong answer');
    const [begun, ended] = [new Date(Date.now() - 60_000), new Date()];
    await model.updateOne(
      { _id: id },
      { $set: { takeovers: [{ admin_id: 'admin-1', start: begun, end: ended }] } },
    );
    await service.rateTakeover(id, userId, 2, 'slow admin');
    return id;
  }

  it('should rewrite feedback reasons and CSAT comments, also in a session whose content is new', async () => {
    const [userA, userB] = [uniqueUser(), uniqueUser()];
    const before = await sessionsWith({ ENCRYPTION_KEY: keyA });
    const old = await rated(before, userA);
    // a session whose content the earlier pass left on B already, its reason and comment on A: written
    // with B, then rated by an instance still on A (step 2 of the procedure lists B there)
    const rotated = await sessionsWith({ ENCRYPTION_KEY: keyB });
    const { session } = await rotated.get(SessionsService).open(userB, undefined, 'demo');
    for (const [type, sender, content] of [
      ['user_message', 'user', 'question'],
      ['ai_response', 'ai', 'answer'],
    ] as const)
      await rotated.get(SessionsService).append(session.id, {
        type,
        sender,
        content,
        client_id: `${type}-1`,
      });
    const stepTwo = await sessionsWith({ ENCRYPTION_KEY: keyA, ENCRYPTION_KEY_PREVIOUS: keyB });
    await rated(stepTwo, userB, session.id);
    for (const module of [before, rotated, stepTwo]) await module.close();

    const rotating = await sessionsWith({ ENCRYPTION_KEY: keyB, ENCRYPTION_KEY_PREVIOUS: keyA });
    const rotation = rotating.get(KeyRotationService);
    // the old session's two messages and its reply's reason; the other's reason alone (its message)
    expect(await rotation.run(0)).toEqual({ sessions: 2, messages: 3, failed: 0, reindexed: 1, names: 0 });
    expect(await rotation.run(0)).toEqual({ sessions: 0, messages: 0, failed: 0, reindexed: 0, names: 0 });
    const model = rotating.get<Model<Session>>(getModelToken(Session.name));
    for (const id of [old, session.id]) {
      const raw = (await model.findById(id).lean())!;
      expect(raw.csat.map((entry) => newOnly.decrypt(entry.comment!))).toEqual(['slow admin']);
    }
    await rotating.close();

    const after = await sessionsWith({ ENCRYPTION_KEY: keyB });
    for (const id of [old, session.id]) {
      const read = await after.get(SessionsRepository).findAnyWithMessages(id);
      expect(read?.messages.map((message) => [message.content, message.feedback_reason])).toEqual([
        ['question', undefined],
        ['answer', 'wrong answer'],
      ]);
    }
  });

  // A missing key is an operator's error: the session still loads (its content is readable), the
  // reason it cannot read is left out and stays stored as it is, and the log names the message.
  it('should load a session whose feedback reason was written with a key no longer listed', async () => {
    const userId = uniqueUser();
    const lost = randomBytes(32).toString('base64');
    const writer = await sessionsWith({ ENCRYPTION_KEY: keyB, ENCRYPTION_KEY_PREVIOUS: lost });
    const { session } = await writer.get(SessionsService).open(userId, undefined, 'demo');
    await writer.get(SessionsService).append(session.id, {
      type: 'ai_response',
      sender: 'ai',
      content: 'answer',
      model_id: 'demo',
    });
    const model = writer.get<Model<Session>>(getModelToken(Session.name));
    const lostCipher = new ContentCipher(Buffer.from(lost, 'base64'));
    const stored = lostCipher.encrypt('a reason');
    await model.updateOne({ _id: session.id }, { $set: { 'messages.0.feedback_reason': stored } });
    await writer.close();

    const reader = await sessionsWith({ ENCRYPTION_KEY: keyB });
    const errors = jest.spyOn(Logger.prototype, 'error');
    const read = await reader.get(SessionsRepository).findAnyWithMessages(session.id);
    expect(read?.messages.map((message) => [message.content, message.feedback_reason])).toEqual([
      ['answer', undefined],
    ]);
    const logged = errors.mock.calls.map(([entry]) => entry as Record<string, unknown>);
    expect(logged).toContainEqual(
      expect.objectContaining({ event: 'decrypt_failed', field: 'feedback_reason', session_id: session.id }),
    );
    expect(JSON.stringify(logged)).not.toContain('a reason');
    // nothing is lost: the stored value is kept for the key to be listed again
    const stillStored = reader.get<Model<Session>>(getModelToken(Session.name));
    const raw = (await stillStored.findById(session.id).lean())!;
    expect(raw.messages[0].feedback_reason).toBe(stored);
  });

  it("should rewrite session notes' text", async () => {
    const admin = { userId: 'admin-1', roles: ['admin'], name: 'Ada', isAdmin: true, expiresAt: 0 };
    const before = await start([NotesModule], { ENCRYPTION_KEY: keyA });
    const { session } = await before.get(SessionsService).open(uniqueUser(), undefined, 'demo');
    await before.get(NotesService).add(session.id, admin, 'first note');
    await before.get(NotesService).add(session.id, admin, 'second note');
    await before.close();

    const rotating = await start([NotesModule], { ENCRYPTION_KEY: keyB, ENCRYPTION_KEY_PREVIOUS: keyA });
    await rotating.get(NotesService).add(session.id, admin, 'already new');
    const rotation = rotating.get(NoteRotationService);
    expect(await rotation.run(0)).toEqual({ rewritten: 2, failed: 0 });
    expect(await rotation.run(0)).toEqual({ rewritten: 0, failed: 0 });
    await rotating.close();

    const after = await start([NotesModule], { ENCRYPTION_KEY: keyB });
    expect((await after.get(NotesService).list(session.id)).map((note) => note.text)).toEqual([
      'first note',
      'second note',
      'already new',
    ]);
  });

  async function rooms(current: string, previous: string[] = []): Promise<TestingModule> {
    const key = (text: string) => Buffer.from(text, 'base64');
    const settings = testSettings({ MONGODB_URI: database });
    const module = await Test.createTestingModule({
      imports: [
        ...databaseModules(settings),
        MongooseModule.forFeature([
          { name: RoomMessage.name, schema: RoomMessageSchema },
          { name: Report.name, schema: ReportSchema },
        ]),
      ],
      providers: [
        { provide: ROOM_CIPHER, useValue: new ContentCipher(key(current), previous.map(key)) },
        RoomMessagesRepository,
        ReportsRepository,
      ],
    }).compile();
    await module.init();
    opened.push(module);
    return module;
  }
  const rotatingSettings = () => testSettings({ ENCRYPTION_KEY: keyB, ENCRYPTION_KEY_PREVIOUS: keyA });

  it("should rewrite reports' reasons and the reported messages' text and file names", async () => {
    const before = (await rooms(keyA)).get(ReportsRepository);
    const report = (reason: string | undefined, content?: string, fileName?: string) =>
      before.insert({
        room_id: 'room-r',
        message_id: `m-${reason ?? 'none'}`,
        reporter_id: 'reporter',
        sender_id: 'sender',
        ...(reason ? { reason } : {}),
        reported: {
          seq: 1,
          sent_at: new Date(),
          ...(content !== undefined ? { content } : {}),
          ...(fileName !== undefined ? { file_name: fileName } : {}),
        },
        at: new Date(),
      });
    await report('spam', 'buy now', 'offer.pdf');
    await report(undefined, 'rude words');
    const rotating = (await rooms(keyB, [keyA])).get(ReportsRepository);
    const rotation = new ReportRotationService(rotating, rotatingSettings());
    expect(await rotation.run(0)).toEqual({ rewritten: 2, failed: 0 });
    expect(await rotation.run(0)).toEqual({ rewritten: 0, failed: 0 });

    const after = (await rooms(keyB)).get(ReportsRepository);
    const { items } = await after.list(0, 10);
    expect(
      items
        .map((item) => [item.reason, item.reported?.content, item.reported?.file_name])
        .sort((a, b) => String(a[1]).localeCompare(String(b[1]))),
    ).toEqual([
      ['spam', 'buy now', 'offer.pdf'],
      [undefined, 'rude words', undefined],
    ]);
  });

  it("should rewrite room messages' text, edit history and file names under each message's lock", async () => {
    const roomId = `room-${randomBytes(4).toString('hex')}`;
    const before = (await rooms(keyA)).get(RoomMessagesRepository);
    const send = (content: string | undefined, metadata?: Record<string, unknown>) =>
      before.append({ room_id: roomId, sender_id: 'u1', kind: 'text', content, metadata });
    const edited = await send('first draft');
    await before.edit(roomId, edited.message.id, 'final text', new Date());
    const file = { file: { name: 'photo.png', size: 3, mime_type: 'image/png' } };
    await send('with a file', file);
    const gone = await send('to be deleted');
    await before.softDelete(roomId, gone.message.id, 'u1');

    const module = await rooms(keyB, [keyA]);
    const rotating = module.get(RoomMessagesRepository);
    await rotating.append({ room_id: roomId, sender_id: 'u1', kind: 'text', content: 'already new' });
    const lock = new WriteLock(new InProcessLock(), () => Promise.resolve());
    const taken: string[] = [];
    const run = lock.run.bind(lock);
    jest.spyOn(lock, 'run').mockImplementation((key, task, ...rest) => {
      taken.push(key);
      return run(key, task, ...rest);
    });
    const rotation = new RoomMessageRotationService(rotating, lock, rotatingSettings());
    expect(await rotation.run(0)).toEqual({ rewritten: 2, failed: 0 });
    expect(await rotation.run(0)).toEqual({ rewritten: 0, failed: 0 });
    // the lock edits and deletes take (room-locks.ts)
    expect(taken).toEqual(expect.arrayContaining([`room-message:${edited.message.id}`]));

    const model = module.get<Model<RoomMessage>>(getModelToken(RoomMessage.name));
    const raw = (await model.findById(edited.message.id).lean())!;
    expect(raw.edits?.map((edit) => newOnly.decrypt(edit.content))).toEqual(['first draft']);

    const after = (await rooms(keyB)).get(RoomMessagesRepository);
    const read = await Promise.all([edited, gone].map(({ message }) => after.find(roomId, message.id)));
    expect(read.map((message) => message?.content)).toEqual(['final text', undefined]);
    const all = await model.find({ room_id: roomId }).sort({ seq: 1 }).lean();
    const records = await Promise.all(all.map((message) => after.find(roomId, message._id)));
    expect(records.map((message) => [message?.content, message?.metadata])).toEqual([
      ['final text', undefined],
      ['with a file', file],
      [undefined, undefined],
      ['already new', undefined],
    ]);
  });
});
