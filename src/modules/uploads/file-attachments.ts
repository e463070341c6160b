import type { Model } from 'mongoose';
import { newId } from '../../common/ids';
import { isDuplicateKey } from '../../common/store-errors';
import { bareRecord, type BareFileRecord, type FileDocument } from './file-records';
import { type FileAttachment, fileAttachmentKey } from './schemas/file-attachment.schema';
import type { StoredFile } from './schemas/stored-file.schema';

// Which sessions and rooms show a file: its attachment records (FileAttachment) and the first scope
// on the file's record (`session_id`). FilesRepository constructs it and runs it.
export class FileAttachments {
  constructor(
    private readonly files: Model<StoredFile>,
    private readonly attachments: Model<FileAttachment>,
  ) {}

  // Attaching marks the file as part of a message (the cleanup keeps it) and records the session or
  // room (`scope`) whose message shows it: each such session's assisting admin, and each such room's
  // members, may read it, and each session's export links it. `session_id` stays the first scope
  // (records from before the attachment records have that one only) until `detach` takes it off;
  // `shared` marks a file attached under more than one. The attachment is its own document
  // (FileAttachment): no list on the file is rewritten, so two scopes attaching at once on FerretDB
  // both stay (docs/protocol.md, "Uploads and files"). false when the file is not this owner's ready
  // file.
  // The attachment record is written (with a new `mark`) before the file's status is read last: a
  // delete marks the file `deleting` before it reads the records again, so of an attach and a delete
  // that run at once (one of them past its lock: a paused instance), the delete sees the attach and
  // keeps the file, or the attach sees `deleting` and is refused (markDeleting).
  async markAttached(id: string, ownerId: string, scope: string, now: Date): Promise<boolean> {
    const file = await this.files
      .findOne({ _id: id, owner_id: ownerId, status: 'ready' }, { session_id: 1 })
      .lean<Pick<FileDocument, '_id' | 'session_id'>>();
    if (!file) return false;
    const key = fileAttachmentKey(id, scope);
    const mark = newId();
    let inserted = false;
    try {
      const written = await this.attachments.updateOne(
        { _id: key },
        { $setOnInsert: { file_id: id, scope, owner_id: ownerId, attached_at: now }, $set: { mark } },
        { upsert: true },
      );
      inserted = written.upsertedCount === 1;
    } catch (error) {
      // attached under this scope at the same moment by another message: the one record stands
      if (!isDuplicateKey(error)) throw error;
    }
    const first = await this.files.updateOne(
      { _id: id, owner_id: ownerId, status: 'ready', attached: false },
      { $set: { attached: true, attached_at: now, session_id: scope } },
    );
    if (first.matchedCount === 0 && file.session_id !== scope)
      await this.files.updateOne({ _id: id, owner_id: ownerId, status: 'ready' }, { $set: { shared: true } });
    // a discard may have removed it meanwhile, or be deleting it: refused, and the record this attach
    // wrote goes (the file is shown nowhere new)
    if ((await this.files.countDocuments({ _id: id, owner_id: ownerId, status: 'ready' })) === 1) return true;
    if (inserted) await this.attachments.deleteOne({ _id: key, mark });
    return false;
  }

  // What a delete compares before and after it marks the file `deleting` (markAttached): each scope
  // that shows the file, with the mark of its last attach.
  async marksOf(id: string): Promise<string> {
    const found = await this.attachments
      .find({ file_id: id }, { scope: 1, mark: 1 })
      .lean<Array<Pick<FileAttachment, 'scope' | 'mark'>>>();
    return JSON.stringify(found.map((record) => [record.scope, record.mark ?? null]).sort());
  }

  // Every session or room (`room:<id>`) a message of which shows the file: its attachment records,
  // and the first scope of a record from before them.
  async scopesOf(id: string): Promise<string[]> {
    const file = await this.files
      .findOne({ _id: id }, { session_id: 1 })
      .lean<Pick<FileDocument, 'session_id'>>();
    const found = await this.attachments.find({ file_id: id }, { scope: 1 }).lean<FileAttachment[]>();
    const scopes = new Set(found.map((attachment) => attachment.scope));
    if (file?.session_id) scopes.add(file.session_id);
    return [...scopes];
  }

  // Whether a message under `scope` shows the file (an export links it then).
  async isAttachedTo(id: string, ownerId: string, scope: string): Promise<boolean> {
    const file = await this.files
      .findOne({ _id: id, owner_id: ownerId, status: 'ready' }, { session_id: 1 })
      .lean<Pick<FileDocument, 'session_id'>>();
    if (!file) return false;
    if (file.session_id === scope) return true;
    return (await this.attachments.countDocuments({ _id: fileAttachmentKey(id, scope), file_id: id })) === 1;
  }

  // The files among `ids` attached under `scope` alone (never under another session or room), judged
  // by the attachment records. `shared` counts only for a record from before them, whose `session_id`
  // has no record: it says that other scopes, unknown, show the file too, and it is kept (`detach`).
  async findAttachedOnlyTo(ids: string[], scope: string): Promise<BareFileRecord[]> {
    if (ids.length === 0) return [];
    const found = await this.files.find({ _id: { $in: ids } }).lean<FileDocument[]>();
    const recorded = await this.recordedScopes(ids);
    return found
      .filter((file) => {
        const scopes = recorded.get(file._id) ?? new Set<string>();
        if ([...scopes].some((other) => other !== scope)) return false;
        if (file.session_id !== scope && !(file.session_id === null && scopes.has(scope))) return false;
        // shared before the attachment records: scopes it does not name show it too
        const named = file.session_id !== null && scopes.has(file.session_id);
        return file.shared !== true || named;
      })
      .map(bareRecord);
  }

  // Under the file's lock: `scope` no longer shows the file (its last message there is gone) while
  // another session or room still does (findAttachedOnlyTo found it shared). Its attachment record
  // goes, and so does its place as the first scope (`session_id`), handed to a scope that still shows
  // it, so neither `scopesOf` nor `isAttachedTo` names it any more: the room's members lost the file
  // (docs/protocol.md, "Rooms, direct messages, moderation"). A record from before the attachment
  // records, shared with scopes it does not name, keeps no first scope (null): still never deleted.
  async detach(id: string, scope: string): Promise<void> {
    const file = await this.files
      .findOne({ _id: id }, { session_id: 1, shared: 1 })
      .lean<Pick<FileDocument, '_id' | 'session_id' | 'shared'>>();
    const removed = await this.attachments.deleteOne({ _id: fileAttachmentKey(id, scope) });
    if (!file || file.session_id !== scope) return;
    const unknown = removed.deletedCount === 0 && file.shared === true;
    const next = unknown
      ? null
      : await this.attachments
          .findOne({ file_id: id }, { scope: 1 })
          .sort({ attached_at: 1 })
          .lean<Pick<FileAttachment, 'scope'>>();
    await this.files.updateOne({ _id: id }, { $set: { session_id: next?.scope ?? null } });
  }

  private async recordedScopes(ids: string[]): Promise<Map<string, Set<string>>> {
    const attachments = await this.attachments
      .find({ file_id: { $in: ids } }, { file_id: 1, scope: 1 })
      .lean<FileAttachment[]>();
    const byFile = new Map<string, Set<string>>();
    for (const { file_id: fileId, scope } of attachments)
      byFile.set(fileId, (byFile.get(fileId) ?? new Set<string>()).add(scope));
    return byFile;
  }

  // Under the file's lock: an attachment made for a message that was not stored after all (a resend
  // of one stored, a send refused at its store: FilesService.attachWhile) is taken back. A file then
  // shown nowhere is an unattached upload again, which the cleanup removes in its time.
  async release(id: string, scope: string): Promise<void> {
    await this.detach(id, scope);
    const file = await this.files
      .findOne({ _id: id }, { session_id: 1, shared: 1 })
      .lean<Pick<FileDocument, 'session_id' | 'shared'>>();
    if (!file || (file.session_id ?? null) !== null || file.shared === true) return;
    if ((await this.attachments.countDocuments({ file_id: id })) > 0) return;
    await this.files.updateOne({ _id: id, session_id: null }, { $set: { attached: false } });
  }
}
