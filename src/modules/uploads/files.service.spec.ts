import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
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
  function setting() {
    const released: string[] = [];
    const repository = {
      findOwned: (id: string) => Promise.resolve({ id, name: 'a.png', size: 1, mime_type: 'image/png' }),
      markAttached: () => Promise.resolve(true),
      release: (id: string, scope: string) => {
        released.push(`${id}@${scope}`);
        return Promise.resolve();
      },
    } as unknown as FilesRepository;
    const lock = { run: <T>(_key: string, task: () => Promise<T>) => task() } as unknown as WriteLock;
    const service = new FilesService(
      repository,
      {} as never,
      {} as SessionsService,
      {} as Settings,
      {} as FileIntake,
      lock,
      {} as LateScan,
    );
    return { service, released };
  }

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
