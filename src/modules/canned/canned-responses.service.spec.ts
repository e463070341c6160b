import fc from 'fast-check';
import { codePointLength } from '../../common/code-points';
import { ErrorCode } from '../../common/errors/error-code';
import type { WriteLock } from '../../infra/lock/write.lock';
import type { CannedResponseRecord, CannedResponsesRepository } from './canned-responses.repository';
import { CannedResponsesService } from './canned-responses.service';

function service(maxMessageLength: number) {
  const stored = new Map<string, CannedResponseRecord>();
  const repository = {
    create: async (record: CannedResponseRecord) => void stored.set(record.id, record),
    findByShortcut: async (shortcut: string) =>
      [...stored.values()].find((item) => item.shortcut === shortcut),
    update: async (id: string, changes: Partial<CannedResponseRecord>) => {
      const record = stored.get(id);
      if (record) stored.set(id, { ...record, ...changes });
      return stored.get(id);
    },
  } as unknown as CannedResponsesRepository;
  const lock = { run: (_key: string, task: () => Promise<unknown>) => task() } as unknown as WriteLock;
  return { canned: new CannedResponsesService(repository, lock, { maxMessageLength }), stored };
}

describe(CannedResponsesService.name, () => {
  it('should store a text exactly when a message may be as long, counting code points as the socket does (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit: fc.constantFrom('a', '✔', '\uFE0F', '👍', '\uD83D'), minLength: 1, maxLength: 12 }),
        async (text) => {
          const { canned, stored } = service(6);
          const result = await (async () =>
            canned.create({ title: 't', text, shortcut: 's' }, 'admin'))().then(
            () => 'stored',
            (error: { code?: string }) => error.code,
          );
          expect(result).toBe(codePointLength(text, 6) <= 6 ? 'stored' : ErrorCode.INVALID_MESSAGE);
          expect(stored.size).toBe(result === 'stored' ? 1 : 0);
        },
      ),
    );
  });

  it('should refuse an edit to a text longer than MAX_MESSAGE_LENGTH and keep the text stored', async () => {
    const { canned, stored } = service(4);
    const record = await canned.create({ title: 't', text: '✔️✔️', shortcut: 's' }, 'admin');
    await expect(async () => canned.update(record.id, { text: '✔️✔️✔️' })).rejects.toMatchObject({
      code: ErrorCode.INVALID_MESSAGE,
    });
    expect(stored.get(record.id)?.text).toBe('✔️✔️');
  });

  // Found by the admin-dashboard black-box audit in session 43 (1 of 1): a taken shortcut was
  // INVALID_MESSAGE, which a client can only word as an invalid message
  it('should refuse a taken shortcut ALREADY_EXISTS on create and on a rename, and keep one holder', async () => {
    const { canned, stored } = service(100);
    await canned.create({ title: 'a', text: 'a', shortcut: 'dup' }, 'admin');
    const other = await canned.create({ title: 'b', text: 'b', shortcut: 'free' }, 'admin');
    await expect(canned.create({ title: 'c', text: 'c', shortcut: 'dup' }, 'admin')).rejects.toMatchObject({
      code: ErrorCode.ALREADY_EXISTS,
    });
    await expect(canned.update(other.id, { shortcut: 'dup' })).rejects.toMatchObject({
      code: ErrorCode.ALREADY_EXISTS,
    });
    expect([...stored.values()].filter((item) => item.shortcut === 'dup')).toHaveLength(1);
    // its own shortcut is no conflict
    await expect(canned.update(other.id, { shortcut: 'free', title: 'b2' })).resolves.toMatchObject({
      title: 'b2',
    });
  });
});
