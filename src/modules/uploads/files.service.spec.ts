import fc from 'fast-check';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { KEPT, type Hold } from '../../infra/lock/lock';
import type { WriteLock } from '../../infra/lock/write.lock';
import type { Settings } from '../../config/settings';
import type { SessionsService } from '../sessions/sessions.service';
import { showsStored } from '../../infra/files/file-store';
import type { FileIntake } from './file-intake.service';
import type { FilesRepository } from './files.repository';
import { FilesService } from './files.service';
import type { LateScan } from './late-scan';

// attachWhile: a file attached for a message that then stores nothing is taken back (a rooms audit
// in session 39: a resend naming another upload made it readable by the room's members)
describe(FilesService.name, () => {
  function setting(lateScan: Partial<LateScan> = { pending: () => false }) {
    const released: string[] = [];
    const repository = {
      findOwned: (id: string) =>
        Promise.resolve({ id, name: 'a.png', size: 1, mime_type: 'image/png', scanned: scannedIds.has(id) }),
      markAttached: () => Promise.resolve(true),
      release: (id: string, scope: string) => {
        released.push(`${id}@${scope}`);
        return Promise.resolve();
      },
    } as unknown as FilesRepository;
    const lock = {
      run: <T>(_key: string, task: (hold: Hold) => Promise<T>) => task(KEPT),
    } as unknown as WriteLock;
    const service = new FilesService(
      repository,
      {} as never,
      {} as SessionsService,
      {} as Settings,
      {} as FileIntake,
      lock,
      lateScan as LateScan,
    );
    return { service, released };
  }
  const scannedIds = new Set<string>();

  // the room files audit of session 41: a file stored while scanning was off is scanned (outside
  // its lock) before a message shows it, then read again; one the scan refuses attaches nothing
  it('should scan a file stored unscanned before it is attached, and attach nothing the scan refuses', async () => {
    const scans: string[] = [];
    const lateScan = {
      pending: (file: { scanned: boolean }) => !file.scanned,
      ensureClean: (file: { id: string }) => {
        scans.push(file.id);
        if (file.id === 'bad') return Promise.reject(new DomainException(ErrorCode.FILE_REJECTED));
        scannedIds.add(file.id);
        return Promise.resolve();
      },
    } as unknown as Partial<LateScan>;
    const { service } = setting(lateScan);
    const stored: string[] = [];
    const store = (file: { file_id: string }) => Promise.resolve(void stored.push(file.file_id));
    await service.attachWhile('late', 'u', 'room', store);
    await expect(service.attachWhile('bad', 'u', 'room', store)).rejects.toMatchObject({
      code: ErrorCode.FILE_REJECTED,
    });
    expect(scans).toEqual(['late', 'bad']);
    expect(stored).toEqual(['late']);
  });

  it('should keep the attachment when a message of the scope shows the file after the store', async () => {
    const { service, released } = setting();
    await expect(
      service.attachWhile(
        'f',
        'u',
        'room:r',
        () => Promise.resolve('stored'),
        () => Promise.resolve(true),
      ),
    ).resolves.toBe('stored');
    expect(released).toEqual([]);
  });

  it('should ask `shown` with what the store returned, and with nothing when it threw', async () => {
    const { service } = setting();
    const shown = jest.fn().mockResolvedValue(true);
    await service.attachWhile('f', 'u', 'room:r', () => Promise.resolve('stored'), shown);
    await expect(
      service.attachWhile('f', 'u', 'room:r', () => Promise.reject(new Error('refused')), shown),
    ).rejects.toThrow('refused');
    expect(shown.mock.calls).toEqual([['stored'], [undefined]]);
  });

  it('should tell a message stored just now with the file from a resend or another file (showsStored)', () => {
    const message = { file_id: 'f' };
    expect(showsStored({ message, duplicate: false }, 'f')).toBe(true);
    expect(showsStored({ message, duplicate: true }, 'f')).toBe(false);
    expect(showsStored({ message, duplicate: false }, 'g')).toBe(false);
    expect(showsStored({ message: {}, duplicate: false }, 'f')).toBe(false);
    expect(showsStored(undefined, 'f')).toBe(false);
  });

  it('should take the attachment back when no message shows the file, or the store refused it', async () => {
    const { service, released } = setting();
    await expect(
      service.attachWhile(
        'f1',
        'u',
        'room:r',
        () => Promise.resolve('duplicate'),
        () => Promise.resolve(false),
      ),
    ).resolves.toBe('duplicate');
    const refused = new DomainException(ErrorCode.NOT_A_MEMBER);
    await expect(
      service.attachWhile(
        'f2',
        'u',
        'room:r',
        () => Promise.reject(refused),
        () => Promise.resolve(false),
      ),
    ).rejects.toBe(refused);
    // without `shown` (a session's attach) nothing is asked and nothing taken back
    await service.attachWhile('f3', 'u', 's-1', () => Promise.resolve(undefined));
    expect(released).toEqual(['f1@room:r', 'f2@room:r']);
  });
});

// readSentPrefix: what the model of a user's session reads of a file there. The takeover audit of
// session 44: an assisting admin's file, read as the user's, was put to the model as gone (3 of 3 runs)
describe(`${FilesService.name} readSentPrefix`, () => {
  const world = fc.record({
    // the file is the reader's own upload, else the admin's
    own: fc.boolean(),
    // an attachment record of this session names it
    attached: fc.boolean(),
    // the session is the reader's, and not deleted
    usersSession: fc.boolean(),
    deleted: fc.boolean(),
  });

  function setting(state: { own: boolean; attached: boolean; usersSession: boolean; deleted: boolean }) {
    const owner = state.own ? 'u' : 'admin';
    const file = { id: 'f', owner_id: owner, storage_key: 'k', size: 5, mime_type: 'text/plain' };
    const attachedAsked: Array<[string, string, string]> = [];
    const repository = {
      findOwned: (id: string, ownerId: string) =>
        Promise.resolve(id === 'f' && ownerId === owner ? file : null),
      findAnyReady: (id: string) => Promise.resolve(id === 'f' ? file : null),
      isAttachedTo: (id: string, ownerId: string, scope: string) => {
        attachedAsked.push([id, ownerId, scope]);
        return Promise.resolve(state.attached && ownerId === owner && scope === 's');
      },
    } as unknown as FilesRepository;
    const sessions = {
      getAny: (id: string) =>
        Promise.resolve(
          id === 's' ? { id, user_id: state.usersSession ? 'u' : 'other', deleted: state.deleted } : null,
        ),
    } as unknown as SessionsService;
    const storage = {
      get: () =>
        Promise.resolve(
          (async function* () {
            yield Buffer.from('hello');
          })(),
        ),
    };
    const service = new FilesService(
      repository,
      storage as never,
      sessions,
      {} as Settings,
      {} as FileIntake,
      {} as WriteLock,
      { ensureClean: () => Promise.resolve() } as unknown as LateScan,
    );
    return { service, attachedAsked };
  }

  it("should read the user's own file, or the admin's that this session of the user's shows, as its owner's, nothing else", async () => {
    await fc.assert(
      fc.asyncProperty(world, async (state) => {
        const { service } = setting(state);
        const readable = state.own || (state.attached && state.usersSession && !state.deleted);
        const read = service.readSentPrefix('f', { userId: 'u', sessionId: 's' }, 3);
        if (readable) expect((await read).data.toString()).toBe('hel');
        else await expect(read).rejects.toMatchObject({ code: ErrorCode.NOT_FOUND });
      }),
      { numRuns: 64 },
    );
  });

  it("should judge the admin's file by its attachment to this session under its owner, never another session", async () => {
    const { service, attachedAsked } = setting({
      own: false,
      attached: true,
      usersSession: true,
      deleted: false,
    });
    await expect(service.readSentPrefix('f', { userId: 'u', sessionId: 's2' }, 3)).rejects.toMatchObject({
      code: ErrorCode.NOT_FOUND,
    });
    await expect(service.readSentPrefix('missing', { userId: 'u', sessionId: 's' }, 3)).rejects.toMatchObject(
      {
        code: ErrorCode.NOT_FOUND,
      },
    );
    expect(attachedAsked).toEqual([['f', 'admin', 's2']]);
  });
});
