import { randomUUID } from 'node:crypto';
import { MongooseModule } from '@nestjs/mongoose';
import { Test, type TestingModule } from '@nestjs/testing';
import { FilesRepository } from '../../src/modules/uploads/files.repository';
import { StoredFile, StoredFileSchema } from '../../src/modules/uploads/schemas/stored-file.schema';
import { mongoUri } from '../helpers/env';
import { uniqueUser } from '../helpers/tokens';

// The file records repository against FerretDB: what cleanup, quotas and access rely on.
describe('files repository against FerretDB', () => {
  let module: TestingModule;
  let files: FilesRepository;

  beforeAll(async () => {
    module = await Test.createTestingModule({
      imports: [
        MongooseModule.forRoot(mongoUri()),
        MongooseModule.forFeature([{ name: StoredFile.name, schema: StoredFileSchema }]),
      ],
      providers: [FilesRepository],
    }).compile();
    await module.init();
    files = module.get(FilesRepository);
  });
  afterAll(() => module.close());

  const create = async (ownerId: string, at: Date, source: 'upload' | 'generated' = 'upload') => {
    const id = randomUUID();
    await files.createPending({
      id,
      ownerId,
      sessionId: null,
      name: 'a.png',
      mimeType: 'image/png',
      storageKey: `files/x/${id}`,
      source,
      now: at,
    });
    return id;
  };

  it('should hide a file until it is ready, and only from its owner', async () => {
    const owner = uniqueUser();
    const id = await create(owner, new Date());
    expect(await files.findOwned(id, owner)).toBeNull();
    await files.markReady(id, { size: 100, scanned: true });
    expect(await files.findOwned(id, owner)).toMatchObject({ id, size: 100, scanned: true, status: 'ready' });
    expect(await files.findOwned(id, uniqueUser())).toBeNull();
    expect(await files.findAnyReady(id)).toMatchObject({ owner_id: owner });
  });

  // files the AI brought a user are kept with their sessions: their quota too (docs/protocol.md,
  // "Uploads and files")
  it('should sum the bytes a user keeps in uploads and in files the AI made for them', async () => {
    const owner = uniqueUser();
    for (const size of [100, 250])
      await files.markReady(await create(owner, new Date()), { size, scanned: false });
    await files.markReady(await create(owner, new Date(), 'generated'), { size: 5000, scanned: false });
    expect(await files.usedBytes(owner)).toBe(5350);
    expect(await files.usedBytes(uniqueUser())).toBe(0);
  });

  it('should bind a file to the session of its first message and keep it there', async () => {
    const owner = uniqueUser();
    const id = await create(owner, new Date());
    expect(await files.markAttached(id, owner, 's-1', new Date())).toBe(false);
    await files.markReady(id, { size: 1, scanned: false });
    expect(await files.markAttached(id, uniqueUser(), 's-1', new Date())).toBe(false);
    expect(await files.markAttached(id, owner, 's-1', new Date())).toBe(true);
    expect(await files.markAttached(id, owner, 's-2', new Date())).toBe(true);
    expect(await files.findOwned(id, owner)).toMatchObject({ attached: true, session_id: 's-1' });
  });

  it('should find unattached uploads past their age and uploads that never finished', async () => {
    const owner = uniqueUser();
    const now = Date.now();
    const old = await create(owner, new Date(now - 2 * 86_400_000));
    await files.markReady(old, { size: 1, scanned: false });
    const fresh = await create(owner, new Date(now - 1000));
    await files.markReady(fresh, { size: 1, scanned: false });
    const stuck = await create(owner, new Date(now - 2 * 3_600_000));
    const keptOld = await create(owner, new Date(now - 3 * 86_400_000));
    await files.markReady(keptOld, { size: 1, scanned: false });
    await files.markAttached(keptOld, owner, 's', new Date());
    const expired = await files.findExpired(new Date(now - 86_400_000), new Date(now - 3_600_000), 1000);
    const ids = expired.map((file) => file.id);
    expect(ids).toEqual(expect.arrayContaining([old, stuck]));
    expect(ids).not.toContain(fresh);
    expect(ids).not.toContain(keptOld);
    await files.remove(old);
    expect(await files.findOwned(old, owner)).toBeNull();
  });
});
