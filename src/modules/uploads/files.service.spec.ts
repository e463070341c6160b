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
