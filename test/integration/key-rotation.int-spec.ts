import { randomBytes } from 'node:crypto';
import { Test, type TestingModule } from '@nestjs/testing';
import { getModelToken, MongooseModule } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { ContentCipher, keyIdOf } from '../../src/common/crypto/content-cipher';
import type { NotificationRecord } from '../../src/modules/notifications/alert.types';
import {
  NOTIFICATION_CIPHER,
  NotificationsRepository,
} from '../../src/modules/notifications/notifications.repository';
import { ReasonRotationService } from '../../src/modules/notifications/reason-rotation.service';
import {
  InstanceBeat,
  InstanceBeatSchema,
  Notification,
  NotificationMark,
  NotificationMarkSchema,
  NotificationSchema,
} from '../../src/modules/notifications/schemas/notification.schema';
import { KeyRotationService } from '../../src/modules/sessions/key-rotation.service';
import { Session } from '../../src/modules/sessions/schemas/session.schema';
import { SessionsModule } from '../../src/modules/sessions/sessions.module';
import { BLIND_INDEX, SessionsRepository } from '../../src/modules/sessions/sessions.repository';
import type { BlindIndex } from '../../src/common/crypto/blind-index';
import { SessionsService } from '../../src/modules/sessions/sessions.service';
import { mongoUri, testSettings } from '../helpers/env';
import { databaseModules } from '../helpers/nest';
import { uniqueUser } from '../helpers/tokens';

// ENCRYPTION_KEY rotation against FerretDB: sessions written with the old key are re-encrypted in
// the background with the new one, and are then readable with the new key alone.
describe('ENCRYPTION_KEY rotation against FerretDB', () => {
  const database = mongoUri();
  const oldKey = randomBytes(32).toString('base64');
  const newKey = randomBytes(32).toString('base64');
  const opened: TestingModule[] = [];

  async function start(env: Record<string, string>): Promise<TestingModule> {
    const settings = testSettings({ MONGODB_URI: database, ...env });
    const module = await Test.createTestingModule({
      imports: [...databaseModules(settings), SessionsModule],
    }).compile();
    await module.init();
    opened.push(module);
    return module;
  }

  afterAll(async () => {
    for (const module of opened) await module.close();
  });

  async function seed(module: TestingModule, texts: string[]): Promise<string> {
    const service = module.get(SessionsService);
    const { session } = await service.open(uniqueUser(), undefined, 'demo');
    for (const [index, content] of texts.entries())
      await service.append(session.id, {
        type: 'user_message',
        sender: 'user',
        client_id: `c${index}`,
        content,
      });
    // an event without content is left alone
    await service.append(session.id, { type: 'admin_join', sender: 'admin' });
    return session.id;
  }

  it('should re-encrypt old-key content with the new key, readable without the old key after', async () => {
    const before = await start({ ENCRYPTION_KEY: oldKey });
    const first = await seed(before, ['first secret', 'second secret']);
    const second = await seed(before, ['third secret']);
    // names and their search tokens, the second's as a name given before session 43 has them (no key)
    const owner = async (module: TestingModule, id: string) =>
      (await module.get(SessionsRepository).findAnyWithMessages(id))!.user_id;
    for (const [id, name] of [
      [first, 'Serengeti plans'],
      [second, 'Kilimanjaro route'],
    ])
      expect(await before.get(SessionsService).retitle(id, await owner(before, id), name)).toBe(true);
    const oldModel = before.get<Model<Session>>(getModelToken(Session.name));
    await oldModel.updateOne({ _id: second }, { $unset: { title_key: 1 } });
    await before.close();

    const rotating = await start({ ENCRYPTION_KEY: newKey, ENCRYPTION_KEY_PREVIOUS: oldKey });
    // a session written after the rotation, with the new key, is not touched
    const fresh = await seed(rotating, ['already new']);
    expect(await rotating.get(SessionsService).retitle(fresh, await owner(rotating, fresh), 'Fresh')).toBe(
      true,
    );
    const rotation = rotating.get(KeyRotationService);
    expect(await rotation.run(0)).toEqual({ sessions: 2, messages: 3, failed: 0, reindexed: 2, names: 2 });
    expect(await rotation.run(0)).toEqual({ sessions: 0, messages: 0, failed: 0, reindexed: 0, names: 0 });

    const model = rotating.get<Model<Session>>(getModelToken(Session.name));
    const newId = keyIdOf(Buffer.from(newKey, 'base64'));
    const index = rotating.get<BlindIndex>(BLIND_INDEX);
    for (const [id, name] of [
      [first, 'Serengeti plans'],
      [second, 'Kilimanjaro route'],
      [fresh, 'Fresh'],
    ])
      expect(await model.findById(id, { title_tokens: 1, title_key: 1 }).lean()).toMatchObject({
        title_key: index.keyId,
        title_tokens: index.tokensOf(name),
      });
    for (const id of [first, second, fresh]) {
      const raw = await model.findById(id).lean();
      const contents = (raw?.messages ?? []).flatMap((message) => (message.content ? [message.content] : []));
      expect(contents.length).toBeGreaterThan(0);
      for (const content of contents) expect(content.startsWith(`${newId}.`)).toBe(true);
      // the size bound is unchanged: the ciphertext keeps its length
      expect(raw?.bytes).toBeGreaterThan(0);
    }
    await rotating.close();

    const after = await start({ ENCRYPTION_KEY: newKey });
    const repository = after.get(SessionsRepository);
    const read = async (id: string) =>
      ((await repository.findAnyWithMessages(id))?.messages ?? []).map((message) => message.content);
    expect(await read(first)).toEqual(['first secret', 'second secret', undefined]);
    expect(await read(second)).toEqual(['third secret', undefined]);
    expect(await read(fresh)).toEqual(['already new', undefined]);
  });

  // File names are encrypted like content since the privacy audit fix (docs/protocol.md, "Uploads
  // and files"): the pass rewrites them too, or a session holding a file became unreadable once the
  // old key was dropped.
  it('should re-encrypt old-key file names, a message counted once with its caption', async () => {
    const before = await start({ ENCRYPTION_KEY: oldKey });
    const service = before.get(SessionsService);
    const { session } = await service.open(uniqueUser(), undefined, 'demo');
    const file = (name: string) => ({ file: { name, size: 3, mime_type: 'image/png' } });
    for (const [index, caption] of ['my scan', undefined].entries())
      await service.append(session.id, {
        type: 'file_upload',
        sender: 'user',
        client_id: `f${index}`,
        content: caption,
        file_id: `file-${index}`,
        metadata: file(`result-${index}.png`),
      });
    await before.close();

    const rotating = await start({ ENCRYPTION_KEY: newKey, ENCRYPTION_KEY_PREVIOUS: oldKey });
    const rotation = rotating.get(KeyRotationService);
    expect(await rotation.run(0)).toEqual({ sessions: 1, messages: 2, failed: 0, reindexed: 1, names: 0 });
    const model = rotating.get<Model<Session>>(getModelToken(Session.name));
    const raw = await model.findById(session.id).lean();
    const newId = keyIdOf(Buffer.from(newKey, 'base64'));
    for (const message of raw?.messages ?? []) {
      const stored = message.metadata?.file as Record<string, unknown>;
      expect(String(stored.encrypted_name).startsWith(`${newId}.`)).toBe(true);
      expect(stored.name).toBeUndefined();
    }
    await rotating.close();

    const after = await start({ ENCRYPTION_KEY: newKey });
    const read = await after.get(SessionsRepository).findAnyWithMessages(session.id);
    expect(read?.messages.map((message) => [message.content, message.metadata])).toEqual([
      ['my scan', file('result-0.png')],
      [undefined, file('result-1.png')],
    ]);
  });

  it('should count a session whose key is not listed as failed and go on', async () => {
    const lost = randomBytes(32).toString('base64');
    const before = await start({ ENCRYPTION_KEY: lost });
    await seed(before, ['unreadable later']);
    await before.close();
    // the key it was written with is not listed: that session fails, the pass goes on
    const module = await start({ ENCRYPTION_KEY: newKey, ENCRYPTION_KEY_PREVIOUS: oldKey });
    const result = await module.get(KeyRotationService).run(0);
    expect(result.failed).toBe(1);
  });

  it("should re-encrypt settled alerts' reasons, leaving pending ones for a later pass", async () => {
    const uri = mongoUri();
    async function notifications(current: string, previous: string[] = []): Promise<NotificationsRepository> {
      const settings = testSettings({ MONGODB_URI: uri });
      const key = (text: string) => Buffer.from(text, 'base64');
      const module = await Test.createTestingModule({
        imports: [
          ...databaseModules(settings),
          MongooseModule.forFeature([
            { name: Notification.name, schema: NotificationSchema },
            { name: NotificationMark.name, schema: NotificationMarkSchema },
            { name: InstanceBeat.name, schema: InstanceBeatSchema },
          ]),
        ],
        providers: [
          { provide: NOTIFICATION_CIPHER, useValue: new ContentCipher(key(current), previous.map(key)) },
          NotificationsRepository,
        ],
      }).compile();
      opened.push(module);
      return module.get(NotificationsRepository);
    }
    const alert = (id: string, status: NotificationRecord['status']): NotificationRecord => ({
      id,
      kind: 'alert',
      type: 'help_request',
      user_id: 'u',
      session_id: 's',
      affected_users: 1,
      details: null,
      reason: `reason of ${id}`,
      link: null,
      at: new Date(),
      channels: ['log'],
      sent: ['log'],
      status,
      attempts: 1,
      next_attempt_at: null,
      last_error: null,
      digest_id: null,
      summary: null,
    });
    const before = await notifications(oldKey);
    await before.insert(alert('sent-1', 'sent'));
    await before.insert(alert('pending-1', 'pending'));
    const rotating = await notifications(newKey, [oldKey]);
    const service = new ReasonRotationService(rotating, testSettings({ ENCRYPTION_KEY_PREVIOUS: oldKey }));
    expect(await service.run()).toEqual({ rewritten: 1, failed: 0 });
    expect(await service.run()).toEqual({ rewritten: 0, failed: 0 });
    // both read with the old key listed; the settled one with the new key alone
    const stored = await rotating.find({ type: 'help_request' });
    expect(stored.map((record) => record.reason).sort()).toEqual(['reason of pending-1', 'reason of sent-1']);
    const newOnly = new ContentCipher(Buffer.from(newKey, 'base64'));
    const model = opened.at(-1)!.get<Model<Notification>>(getModelToken(Notification.name));
    const raw = await model.findById('sent-1').lean();
    expect(newOnly.decrypt(raw!.reason as string)).toBe('reason of sent-1');
    const pending = await model.findById('pending-1').lean();
    expect(newOnly.isCurrent(pending!.reason as string)).toBe(false);
  });
});
