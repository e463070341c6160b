import { Inject, Injectable } from '@nestjs/common';
import { codePointLength } from '../../common/code-points';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { SETTINGS, type Settings } from '../../config/settings';
import { SESSION_LOCK } from '../../infra/lock/lock';
import type { WriteLock } from '../../infra/lock/write.lock';
import { CannedResponsesRepository, type CannedResponseRecord } from './canned-responses.repository';
import { newId } from '../../common/ids';

// the write that takes a shortcut holds this lock on every instance (SESSION_LOCK: Redis, or the
// store's own while Redis is away)
function shortcutKey(shortcut: string): string {
  return `canned-shortcut:${shortcut}`;
}

// every write of one canned response, on every instance: FerretDB applies an update as an unlocked
// read-modify-write (docs/protocol.md, "The store"), so two admins' edits of one response at once
// kept one of them (14 of 20 rounds in an admin audit, session 40; canned-shortcuts.e2e-spec.ts)
function itemKey(id: string): string {
  return `canned:${id}`;
}

// a title or text of only spaces is none: 400, not a 500 from the store's required check (a title
// was trimmed after it was validated; an admin audit in session 40)
function filled(value: string, field: 'title' | 'text'): string {
  if (value.trim().length === 0)
    throw new DomainException(ErrorCode.INVALID_MESSAGE, `${field} must not be empty.`);
  return field === 'title' ? value.trim() : value;
}

// A text the reply box sends as it is: no longer than a message may be (MAX_MESSAGE_LENGTH, code
// points as the socket counts them; docs/protocol.md, "Admin tools"). The DTO holds it to 4,000, the
// most the document publishes; a MAX_MESSAGE_LENGTH set lower holds it here. Until the text-limits
// audit of session 42 the DTO counted "✔️" as one character: 3,900 letters and 100 of them were
// stored as 4,000 and refused MESSAGE_TOO_LONG (4,100 code points) when the assisting admin sent
// them (3 of 3).
function sendable(text: string, maxMessageLength: number): string {
  if (codePointLength(text, maxMessageLength) > maxMessageLength)
    throw new DomainException(
      ErrorCode.INVALID_MESSAGE,
      `text must be at most ${maxMessageLength} characters (code points), the longest message (MAX_MESSAGE_LENGTH).`,
    );
  return text;
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
    @Inject(SETTINGS) private readonly settings: Pick<Settings, 'maxMessageLength'>,
  ) {}

  list(): Promise<CannedResponseRecord[]> {
    return this.repository.list();
  }

  create(input: { title: string; text: string; shortcut: string }, adminId: string) {
    const title = filled(input.title, 'title');
    const text = sendable(filled(input.text, 'text'), this.settings.maxMessageLength);
    return this.lock.run(shortcutKey(input.shortcut), async () => {
      await this.shortcutFree(input.shortcut);
      const record: CannedResponseRecord = {
        id: newId(),
        title,
        text,
        shortcut: input.shortcut,
        created_by: adminId,
        updated_at: new Date(),
      };
      await this.repository.create(record);
      return record;
    });
  }

  // under the response's lock, and a new shortcut's around it (always in that order)
  update(id: string, changes: { title?: string; text?: string; shortcut?: string }) {
    const title = changes.title === undefined ? undefined : filled(changes.title, 'title');
    const text =
      changes.text === undefined
        ? undefined
        : sendable(filled(changes.text, 'text'), this.settings.maxMessageLength);
    const write = () =>
      this.lock.run(itemKey(id), async () => {
        if (changes.shortcut !== undefined) await this.shortcutFree(changes.shortcut, id);
        const updated = await this.repository.update(id, {
          ...(title !== undefined ? { title } : {}),
          ...(text !== undefined ? { text } : {}),
          ...(changes.shortcut !== undefined ? { shortcut: changes.shortcut } : {}),
          updated_at: new Date(),
        });
        if (!updated) throw new DomainException(ErrorCode.NOT_FOUND, 'Canned response not found.');
        return updated;
      });
    return changes.shortcut === undefined ? write() : this.lock.run(shortcutKey(changes.shortcut), write);
  }

  async delete(id: string): Promise<void> {
    const deleted = await this.lock.run(itemKey(id), () => this.repository.delete(id));
    if (!deleted) throw new DomainException(ErrorCode.NOT_FOUND, 'Canned response not found.');
  }

  // A taken shortcut is a conflict of its own (409 ALREADY_EXISTS, docs/protocol.md "Admin tools"):
  // until the admin-dashboard audit of session 43 it was 400 INVALID_MESSAGE, which the dashboard
  // could only word as "That message could not be sent." (1 of 1).
  private async shortcutFree(shortcut: string, self?: string): Promise<void> {
    const taken = await this.repository.findByShortcut(shortcut);
    if (taken && taken.id !== self)
      throw new DomainException(ErrorCode.ALREADY_EXISTS, `The shortcut "/${shortcut}" is taken.`);
  }
}
