import { randomBytes, randomUUID } from 'node:crypto';
import { getModelToken, MongooseModule } from '@nestjs/mongoose';
import { Test, type TestingModule } from '@nestjs/testing';
import type { Model } from 'mongoose';
import { ContentCipher } from '../../src/common/crypto/content-cipher';
import { FILES_CIPHER, FilesRepository } from '../../src/modules/uploads/files.repository';
import {
  FileAttachment,
  FileAttachmentSchema,
} from '../../src/modules/uploads/schemas/file-attachment.schema';
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
        MongooseModule.forFeature([
          { name: StoredFile.name, schema: StoredFileSchema },
          { name: FileAttachment.name, schema: FileAttachmentSchema },
        ]),
      ],
      providers: [FilesRepository, { provide: FILES_CIPHER, useValue: new ContentCipher(randomBytes(32)) }],
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

  it('should keep the first session and record every session and room the file is sent in', async () => {
    const owner = uniqueUser();
    const id = await create(owner, new Date());
    expect(await files.markAttached(id, owner, 's-1', new Date())).toBe(false);
    await files.markReady(id, { size: 1, scanned: false });
    expect(await files.markAttached(id, uniqueUser(), 's-1', new Date())).toBe(false);
    expect(await files.markAttached(id, owner, 's-1', new Date())).toBe(true);
    expect(await files.markAttached(id, owner, 's-2', new Date())).toBe(true);
    expect(await files.markAttached(id, owner, 'room:r-1', new Date())).toBe(true);
    expect(await files.markAttached(id, owner, 's-2', new Date())).toBe(true);
    expect(await files.findOwned(id, owner)).toMatchObject({ attached: true, session_id: 's-1' });
    expect((await files.scopesOf(id)).sort()).toEqual(['room:r-1', 's-1', 's-2']);
    expect(await files.isAttachedTo(id, owner, 's-2')).toBe(true);
    expect(await files.isAttachedTo(id, owner, 's-3')).toBe(false);
    expect(await files.isAttachedTo(id, uniqueUser(), 's-2')).toBe(false);
    // a file no longer there is attached nowhere
    await files.remove(id);
    expect(await files.scopesOf(id)).toEqual([]);
    expect(await files.isAttachedTo(id, owner, 's-1')).toBe(false);
  });

  // FerretDB 1.24 applies an update as an unlocked read-modify-write: a list on the file written by
  // several sessions at once would keep one (docs/protocol.md, "Uploads and files")
  it('should record every scope when many attach one file at once', async () => {
    const owner = uniqueUser();
    const id = await create(owner, new Date());
    await files.markReady(id, { size: 1, scanned: false });
    const scopes = Array.from({ length: 12 }, (_, index) =>
      index % 3 === 0 ? `room:r-${index}` : `s-${index}`,
    );
    const results = await Promise.all(
      [...scopes, ...scopes].map((scope) => files.markAttached(id, owner, scope, new Date())),
    );
    expect(results.every(Boolean)).toBe(true);
    expect((await files.scopesOf(id)).sort()).toEqual([...scopes].sort());
  });

  it('should find for a discard only the files attached under that scope alone', async () => {
    const owner = uniqueUser();
    const ready = async () => {
      const id = await create(owner, new Date());
      await files.markReady(id, { size: 1, scanned: false });
      return id;
    };
    const roomOnly = await ready();
    const roomThenSession = await ready();
    const sessionThenRoom = await ready();
    const other = await ready();
    await files.markAttached(roomOnly, owner, 'room:r', new Date());
    await files.markAttached(roomThenSession, owner, 'room:r', new Date());
    await files.markAttached(roomThenSession, owner, 's-1', new Date());
    await files.markAttached(sessionThenRoom, owner, 's-1', new Date());
    await files.markAttached(sessionThenRoom, owner, 'room:r', new Date());
    await files.markAttached(other, owner, 'room:q', new Date());
    const found = await files.findAttachedOnlyTo(
      [roomOnly, roomThenSession, sessionThenRoom, other],
      'room:r',
    );
    expect(found.map((file) => file.id)).toEqual([roomOnly]);
  });

  // records attached before the attachment records existed: their first scope only
  it('should count the first scope of a record from before the attachment records', async () => {
    const owner = uniqueUser();
    const id = await create(owner, new Date());
    await files.markReady(id, { size: 1, scanned: false });
    const model = module.get<Model<StoredFile>>(getModelToken(StoredFile.name));
    await model.updateOne({ _id: id }, { $set: { attached: true, session_id: 'room:old' } });
    expect(await files.scopesOf(id)).toEqual(['room:old']);
    expect(await files.isAttachedTo(id, owner, 'room:old')).toBe(true);
    expect((await files.findAttachedOnlyTo([id], 'room:old')).map((file) => file.id)).toEqual([id]);
    await model.updateOne({ _id: id }, { $set: { shared: true } });
    expect(await files.findAttachedOnlyTo([id], 'room:old')).toEqual([]);
  });

  // a room's last message with the file gone while another scope still shows it (docs/protocol.md,
  // "Rooms, direct messages, moderation"): the room is no longer named, first scope or not
  it('should take a detached scope off the file, and find it for a discard from its last scope', async () => {
    const owner = uniqueUser();
    const id = await create(owner, new Date());
    await files.markReady(id, { size: 1, scanned: false });
    for (const scope of ['room:a', 's-1', 'room:b'])
      expect(await files.markAttached(id, owner, scope, new Date())).toBe(true);
    expect(await files.findAttachedOnlyTo([id], 'room:b')).toEqual([]);
    await files.detach(id, 'room:b');
    expect((await files.scopesOf(id)).sort()).toEqual(['room:a', 's-1']);
    // the first scope: the next one that shows the file takes its place
    await files.detach(id, 'room:a');
    expect(await files.scopesOf(id)).toEqual(['s-1']);
    expect(await files.isAttachedTo(id, owner, 'room:a')).toBe(false);
    expect(await files.findOwned(id, owner)).toMatchObject({ session_id: 's-1', shared: true });
    // `shared` was for the scopes gone: the last one alone shows it now
    expect((await files.findAttachedOnlyTo([id], 's-1')).map((file) => file.id)).toEqual([id]);
  });

  // an attachment whose message was not stored after all (a resend answered with the message stored
  // before): the scope goes, and a file left shown nowhere is an unattached upload again
  it('should take an attachment back, and make a file shown nowhere else an unattached upload again', async () => {
    const owner = uniqueUser();
    const alone = await create(owner, new Date());
    const elsewhere = await create(owner, new Date());
    for (const id of [alone, elsewhere]) await files.markReady(id, { size: 1, scanned: true });
    expect(await files.markAttached(elsewhere, owner, 's-1', new Date())).toBe(true);
    for (const id of [alone, elsewhere])
      expect(await files.markAttached(id, owner, 'room:r', new Date())).toBe(true);
    for (const id of [alone, elsewhere]) await files.release(id, 'room:r');
    expect(await files.scopesOf(alone)).toEqual([]);
    expect(await files.findOwned(alone, owner)).toMatchObject({ attached: false, session_id: null });
    expect(await files.isAttachedTo(alone, owner, 'room:r')).toBe(false);
    expect(await files.scopesOf(elsewhere)).toEqual(['s-1']);
    expect(await files.findOwned(elsewhere, owner)).toMatchObject({ attached: true, session_id: 's-1' });
  });

  // shared before the attachment records: other scopes, not named, may show it; never deleted
  it('should keep a file shared before the attachment records when its first scope is detached', async () => {
    const owner = uniqueUser();
    const id = await create(owner, new Date());
    await files.markReady(id, { size: 1, scanned: false });
    const model = module.get<Model<StoredFile>>(getModelToken(StoredFile.name));
    await model.updateOne({ _id: id }, { $set: { attached: true, session_id: 'room:old', shared: true } });
    await files.markAttached(id, owner, 'room:new', new Date());
    await files.detach(id, 'room:old');
    expect(await files.scopesOf(id)).toEqual(['room:new']);
    expect(await files.findAttachedOnlyTo([id], 'room:new')).toEqual([]);
    await files.detach(id, 'room:new');
    expect(await files.scopesOf(id)).toEqual([]);
    expect(await files.findOwned(id, owner)).toMatchObject({ id, attached: true });
  });

  it('should give back the bytes a pending upload reserved', async () => {
    const owner = uniqueUser();
    const id = randomUUID();
    await files.createPending({
      id,
      ownerId: owner,
      sessionId: null,
      name: 'a.png',
      mimeType: 'image/png',
      storageKey: `files/x/${id}`,
      source: 'upload',
      reserved: 5000,
      now: new Date(),
    });
    expect(await files.usedBytes(owner)).toBe(5000);
    await files.releasePending(id);
    expect(await files.usedBytes(owner)).toBe(0);
  });

  // the files audit of session 44: a crashed instance's upload held all the quota left for an hour
  it("should count a pending upload's reservation only while its upload touches the record", async () => {
    const owner = uniqueUser();
    const id = randomUUID();
    const crashedAt = new Date(Date.now() - 20_000);
    await files.createPending({
      id,
      ownerId: owner,
      sessionId: null,
      name: 'a.txt',
      mimeType: 'text/plain',
      storageKey: `files/x/${id}`,
      source: 'upload',
      reserved: 5000,
      now: crashedAt,
    });
    await files.markReady(await create(owner, crashedAt), { size: 100, scanned: false });
    expect(await files.usedBytes(owner)).toBe(100);
    // touched by its upload's heartbeat: its room counts again
    await files.touchPending(id, new Date());
    expect(await files.usedBytes(owner)).toBe(5100);
    // an upload checked again at its end counts the others only
    expect(await files.usedBytes(owner, new Date(), id)).toBe(100);
  });

  // the files audit of session 44: a delete whose holder was paused past the lock's key resumed and
  // deleted a file attached meanwhile to an acked message (docs/protocol.md, "Uploads and files")
  describe('a delete and an attach of one file at once', () => {
    const held = { lost: () => false };
    const ready = async (owner: string) => {
      const id = await create(owner, new Date());
      await files.markReady(id, { size: 10, scanned: true });
      return id;
    };

    it('should keep a file an attach took after the delete judged it, as it was', async () => {
      const owner = uniqueUser();
      const id = await ready(owner);
      await files.markAttached(id, owner, 'room:r', new Date());
      const judged = (await files.judged(id))!;
      // attached again under the same room, and under a session
      await files.markAttached(id, owner, 'room:r', new Date());
      expect(await files.markDeletingAsJudged(id, judged, held)).toBe(false);
      expect(await files.findOwned(id, owner)).toMatchObject({ status: 'ready' });
      const again = (await files.judged(id))!;
      await files.markAttached(id, owner, 's1', new Date());
      expect(await files.markDeletingAsJudged(id, again, held)).toBe(false);
      expect(await files.findOwned(id, owner)).toMatchObject({ status: 'ready' });
    });

    it('should refuse an attach of a file marked deleting, and take its record back', async () => {
      const owner = uniqueUser();
      const id = await ready(owner);
      const judged = (await files.judged(id))!;
      expect(await files.markDeletingAsJudged(id, judged, held)).toBe(true);
      expect(await files.markAttached(id, owner, 's1', new Date())).toBe(false);
      expect(await files.scopesOf(id)).toEqual([]);
    });

    it('should mark nothing, or put the status back, once the hold is lost', async () => {
      const owner = uniqueUser();
      const id = await ready(owner);
      const judged = (await files.judged(id))!;
      expect(await files.markDeletingAsJudged(id, judged, { lost: () => true })).toBe(false);
      let asks = 0;
      // lost while its mark was on its way (the instance froze there)
      expect(await files.markDeletingAsJudged(id, judged, { lost: () => asks++ > 0 })).toBe(false);
      expect(await files.findOwned(id, owner)).toMatchObject({ status: 'ready' });
    });
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
