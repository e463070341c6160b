import { randomBytes, randomUUID } from 'node:crypto';
import { getModelToken, MongooseModule } from '@nestjs/mongoose';
import { Test, type TestingModule } from '@nestjs/testing';
import type { Model } from 'mongoose';
import { ContentCipher, keyIdOf } from '../../src/common/crypto/content-cipher';
import { InProcessLock } from '../../src/infra/lock/in-process.lock';
import { WriteLock } from '../../src/infra/lock/write.lock';
import { FileNameRotationService } from '../../src/modules/uploads/file-name-rotation.service';
import { FILES_CIPHER, FilesRepository } from '../../src/modules/uploads/files.repository';
import {
  FileAttachment,
  FileAttachmentSchema,
} from '../../src/modules/uploads/schemas/file-attachment.schema';
import { StoredFile, StoredFileSchema } from '../../src/modules/uploads/schemas/stored-file.schema';
import { mongoUri, testSettings } from '../helpers/env';
import { uniqueUser } from '../helpers/tokens';

// The files' names are encrypted like content (docs/protocol.md, "Uploads and files"). After
// ENCRYPTION_KEY rotates, the ready files' names are rewritten with the new key under each file's
// lock, and are then read with the new key alone; a pending upload's is left to a later pass, and a
// plain name written before the privacy audit fix is read as it is.
describe('file names and ENCRYPTION_KEY rotation against FerretDB', () => {
  const database = mongoUri();
  const [oldKey, newKey] = [randomBytes(32), randomBytes(32)];
  const opened: TestingModule[] = [];
  afterAll(async () => {
    for (const module of opened) await module.close();
  });

  async function files(current: Buffer, previous: Buffer[] = []): Promise<TestingModule> {
    const module = await Test.createTestingModule({
      imports: [
        MongooseModule.forRoot(database),
        MongooseModule.forFeature([
          { name: StoredFile.name, schema: StoredFileSchema },
          { name: FileAttachment.name, schema: FileAttachmentSchema },
        ]),
      ],
      providers: [FilesRepository, { provide: FILES_CIPHER, useValue: new ContentCipher(current, previous) }],
    }).compile();
    await module.init();
    opened.push(module);
    return module;
  }

  it('should rewrite ready files’ names with the new key, leaving pending ones for a later pass', async () => {
    const owner = uniqueUser();
    const before = (await files(oldKey)).get(FilesRepository);
    const create = async (name: string, ready: boolean) => {
      const id = randomUUID();
      await before.createPending({
        id,
        ownerId: owner,
        sessionId: null,
        name,
        mimeType: 'image/png',
        storageKey: `files/${id}`,
        source: 'upload',
        now: new Date(),
      });
      if (ready) await before.markReady(id, { size: 1, scanned: false });
      return id;
    };
    const ready = await create('payslip.png', true);
    const pending = await create('pending.png', false);
    const legacy = await create('unused.png', true);

    const module = await files(newKey, [oldKey]);
    const model = module.get<Model<StoredFile>>(getModelToken(StoredFile.name));
    // a record as the version before wrote it: its name in plaintext
    await model.updateOne({ _id: legacy }, { $set: { name: 'legacy.png' }, $unset: { encrypted_name: '' } });
    const repository = module.get(FilesRepository);
    const lock = new WriteLock(new InProcessLock(), () => Promise.resolve());
    const rotation = new FileNameRotationService(
      repository,
      lock,
      testSettings({ ENCRYPTION_KEY_PREVIOUS: oldKey.toString('base64') }),
    );
    expect(await rotation.run(0)).toEqual({ rewritten: 1, failed: 0 });
    expect(await rotation.run(0)).toEqual({ rewritten: 0, failed: 0 });

    const raw = async (id: string) => (await model.findById(id).lean())!;
    expect(String((await raw(ready)).encrypted_name).startsWith(`${keyIdOf(newKey)}.`)).toBe(true);
    expect((await raw(ready)).name).toBeUndefined();
    expect(String((await raw(pending)).encrypted_name).startsWith(`${keyIdOf(oldKey)}.`)).toBe(true);
    expect(await raw(legacy)).toMatchObject({ name: 'legacy.png' });

    // the new key alone reads them
    const after = (await files(newKey)).get(FilesRepository);
    expect((await after.findOwned(ready, owner))?.name).toBe('payslip.png');
    expect((await after.findOwned(legacy, owner))?.name).toBe('legacy.png');
  });
});
