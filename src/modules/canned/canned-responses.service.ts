import { Inject, Injectable } from '@nestjs/common';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { SESSION_LOCK } from '../../infra/lock/lock';
import type { WriteLock } from '../../infra/lock/write.lock';
import { CannedResponsesRepository, type CannedResponseRecord } from './canned-responses.repository';
import { newId } from '../../common/ids';

// the write that takes a shortcut holds this lock on every instance (SESSION_LOCK: Redis, or the
// store's own while Redis is away)
function shortcutKey(shortcut: string): string {
  return `canned-shortcut:${shortcut}`;
}

// Canned responses CRUD (admins). Shortcuts are unique: checked and written under the shortcut's
// lock, on every instance. Until a bounds audit in session 39 the lock was this process's only: two
// admins creating (or renaming to) one shortcut at once on two instances both got 201 and the reply
// box offered both (10 of 10 rounds; test/e2e/canned-shortcuts.e2e-spec.ts).
@Injectable()
export class CannedResponsesService {
  constructor(
    private readonly repository: CannedResponsesRepository,
    @Inject(SESSION_LOCK) private readonly lock: WriteLock,
  ) {}

  list(): Promise<CannedResponseRecord[]> {
    return this.repository.list();
  }

  create(input: { title: string; text: string; shortcut: string }, adminId: string) {
    return this.lock.run(shortcutKey(input.shortcut), async () => {
      await this.shortcutFree(input.shortcut);
      const record: CannedResponseRecord = {
        id: newId(),
        title: input.title.trim(),
        text: input.text,
        shortcut: input.shortcut,
        created_by: adminId,
        updated_at: new Date(),
      };
      await this.repository.create(record);
      return record;
    });
  }

  update(id: string, changes: { title?: string; text?: string; shortcut?: string }) {
    const write = async () => {
      if (changes.shortcut !== undefined) await this.shortcutFree(changes.shortcut, id);
      const updated = await this.repository.update(id, {
        ...(changes.title !== undefined ? { title: changes.title.trim() } : {}),
        ...(changes.text !== undefined ? { text: changes.text } : {}),
        ...(changes.shortcut !== undefined ? { shortcut: changes.shortcut } : {}),
        updated_at: new Date(),
      });
      if (!updated) throw new DomainException(ErrorCode.NOT_FOUND, 'Canned response not found.');
      return updated;
    };
    return changes.shortcut === undefined ? write() : this.lock.run(shortcutKey(changes.shortcut), write);
  }

  async delete(id: string): Promise<void> {
    if (!(await this.repository.delete(id)))
      throw new DomainException(ErrorCode.NOT_FOUND, 'Canned response not found.');
  }

  private async shortcutFree(shortcut: string, self?: string): Promise<void> {
    const taken = await this.repository.findByShortcut(shortcut);
    if (taken && taken.id !== self)
      throw new DomainException(ErrorCode.INVALID_MESSAGE, `The shortcut "/${shortcut}" is taken.`);
  }
}
