import { Injectable } from '@nestjs/common';
import { KeyedMutex } from '../../common/keyed-mutex';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { CannedResponsesRepository, type CannedResponseRecord } from './canned-responses.repository';
import { newId } from '../../common/ids';

// Canned responses CRUD (admins). Shortcuts are unique: checked in code, one write at a time on this
// instance (two admins creating the same shortcut on two instances at the same moment could both
// succeed; the reply box then offers both).
@Injectable()
export class CannedResponsesService {
  private readonly writes = new KeyedMutex();

  constructor(private readonly repository: CannedResponsesRepository) {}

  list(): Promise<CannedResponseRecord[]> {
    return this.repository.list();
  }

  create(input: { title: string; text: string; shortcut: string }, adminId: string) {
    return this.writes.run('canned', async () => {
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
    return this.writes.run('canned', async () => {
      if (changes.shortcut !== undefined) await this.shortcutFree(changes.shortcut, id);
      const updated = await this.repository.update(id, {
        ...(changes.title !== undefined ? { title: changes.title.trim() } : {}),
        ...(changes.text !== undefined ? { text: changes.text } : {}),
        ...(changes.shortcut !== undefined ? { shortcut: changes.shortcut } : {}),
        updated_at: new Date(),
      });
      if (!updated) throw new DomainException(ErrorCode.NOT_FOUND, 'Canned response not found.');
      return updated;
    });
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
