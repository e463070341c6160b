import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { ContentCipher } from '../../common/crypto/content-cipher';
import { nameOf } from '../../common/crypto/file-names';
import { isDuplicateKey } from '../../common/store-errors';
import { FileNameReencryption } from './file-name-reencryption';
import { FileAttachment, fileAttachmentKey } from './schemas/file-attachment.schema';
import { StoredFile } from './schemas/stored-file.schema';

// `deleting`: a sweep or a discard took it to delete its object; never read or attached again.
export type FileStatus = 'pending' | 'ready' | 'deleting';

// The lock a file's attaching and deleting take (SESSION_LOCK, on every instance): a file is never
// both attached to a message and deleted (docs/protocol.md, "Uploads and files").
export const fileLockKey = (id: string): string => `file:${id}`;

// the files' own cipher (ENCRYPTION_KEY and the previous keys): names are encrypted like content
export const FILES_CIPHER = Symbol('FILES_CIPHER');

// Plain file record (never a mongoose document); `name` decrypted.
export interface FileRecord {
  id: string;
  owner_id: string;
  session_id: string | null;
  name: string;
  size: number;
  mime_type: string;
  storage_key: string;
  status: FileStatus;
  source: 'upload' | 'generated';
  scanned: boolean;
  attached: boolean;
  attached_at: Date | null;
  created_at: Date;
  // a pending upload's last sign of life (null on records from before it)
  alive_at?: Date | null;
}

// What the cleanup and discards read of a file: the record without its name, which they never show
// (and never decrypt: a name under a key no longer listed stops no delete).
export type BareFileRecord = Omit<FileRecord, 'name'>;

type FileDocument = StoredFile;

// Mongoose lives here only. Reads of a user's files take the owner id; the one system read used by
// admin access and cleanup is named as such. The user's file name is stored encrypted
// (`encrypted_name`); records from before the privacy audit fix hold a plain `name`, read as it is
// (docs/protocol.md, "Uploads and files").
@Injectable()
export class FilesRepository implements OnModuleInit {
  private readonly reencryption: FileNameReencryption;

  constructor(
    @InjectModel(StoredFile.name) private readonly files: Model<StoredFile>,
    @InjectModel(FileAttachment.name) private readonly attachments: Model<FileAttachment>,
    @Inject(FILES_CIPHER) private readonly cipher: ContentCipher,
  ) {
    this.reencryption = new FileNameReencryption(files, cipher);
  }

  async onModuleInit(): Promise<void> {
    await this.files.createIndexes();
    await this.attachments.createIndexes();
  }

  async createPending(input: {
    id: string;
    ownerId: string;
    sessionId: string | null;
    name: string;
    mimeType: string;
    storageKey: string;
    source: 'upload' | 'generated';
    attached?: boolean;
    // the bytes it may take: a pending upload counts for its owner's quota with them until it is
    // ready with its real size (usedBytes)
    reserved?: number;
    now: Date;
  }): Promise<void> {
    await this.files.create({
      _id: input.id,
      owner_id: input.ownerId,
      session_id: input.sessionId,
      encrypted_name: this.cipher.encrypt(input.name),
      size: input.reserved ?? 0,
      mime_type: input.mimeType,
      storage_key: input.storageKey,
      status: 'pending',
      source: input.source,
      scanned: false,
      attached: input.attached ?? false,
      attached_at: input.attached ? input.now : null,
      created_at: input.now,
      alive_at: input.now,
    });
  }

  // The upload is complete (stored and, when scanning is on, clean): it becomes readable. false when
  // the pending record is gone (the cleanup swept it): the caller discards the bytes.
  async markReady(id: string, changes: { size: number; scanned: boolean }): Promise<boolean> {
    const result = await this.files.updateOne(
      { _id: id, status: 'pending' },
      { $set: { ...changes, status: 'ready' } },
    );
    return result.matchedCount === 1;
  }

  // Scanned clean after it was stored (LateScan), under the file's lock.
  async markScanned(id: string): Promise<void> {
    await this.files.updateOne({ _id: id, status: 'ready' }, { $set: { scanned: true } });
  }

  // System read for the late-scan sweep: ready files never scanned, oldest first (ties by id), after
  // the last one a run took (`after`) when given. The index (status, scanned, created_at, _id) serves it.
  async findUnscanned(limit: number, after?: { created_at: Date; id: string }): Promise<BareFileRecord[]> {
    const later = after && {
      $or: [
        { created_at: { $gt: after.created_at } },
        { created_at: after.created_at, _id: { $gt: after.id } },
      ],
    };
    const found = await this.files
      .find({ status: 'ready', scanned: false, ...later })
      .sort({ created_at: 1, _id: 1 })
      .limit(limit)
      .lean<FileDocument[]>();
    return found.map(bareRecord);
  }

  // System read for the signed-link route: the record of a storage key (storageKeyFor ends in the id).
  async findByStorageKey(key: string): Promise<BareFileRecord | null> {
    const id = key.slice(key.lastIndexOf('/') + 1);
    const found = await this.files.findOne({ _id: id, storage_key: key }).lean<FileDocument>();
    return found ? bareRecord(found) : null;
  }

  // A pending upload still streams (the cleanup spares it); false when its record is gone.
  async touchPending(id: string, now: Date): Promise<boolean> {
    const result = await this.files.updateOne({ _id: id, status: 'pending' }, { $set: { alive_at: now } });
    return result.matchedCount === 1;
  }

  // A pending upload that will not be kept gives back the bytes it reserved in its owner's quota; the
  // record stays for the cleanup when its object could not be deleted yet.
  async releasePending(id: string): Promise<void> {
    await this.files.updateOne({ _id: id, status: 'pending' }, { $set: { size: 0 } });
  }

  // Under the file's lock (fileLockKey), before its object is deleted: no attach takes it from now
  // on, even when the delete fails and the record stays for the next sweep.
  async markDeleting(id: string): Promise<void> {
    await this.files.updateOne({ _id: id }, { $set: { status: 'deleting' } });
  }

  // System read for the cleanup, under the file's lock: the record as it is now, and whether any
  // message shows it (an attachment record: the `attached` flag alone may be lost on FerretDB).
  async findForSweep(id: string): Promise<{ file: BareFileRecord; shown: boolean } | null> {
    const found = await this.files.findOne({ _id: id }).lean<FileDocument>();
    if (!found) return null;
    const shown = (await this.attachments.countDocuments({ file_id: id })) > 0;
    return { file: bareRecord(found), shown };
  }

  // the record, then where it was attached (records of a file that is gone are never read)
  async remove(id: string): Promise<void> {
    await this.files.deleteOne({ _id: id });
    await this.attachments.deleteMany({ file_id: id });
  }

  async findOwned(id: string, ownerId: string): Promise<FileRecord | null> {
    const found = await this.files
      .findOne({ _id: id, owner_id: ownerId, status: 'ready' })
      .lean<FileDocument>();
    return found ? this.toRecord(found) : null;
  }

  // system read: the caller checks access (an assisting admin) itself
  async findAnyReady(id: string): Promise<FileRecord | null> {
    const found = await this.files.findOne({ _id: id, status: 'ready' }).lean<FileDocument>();
    return found ? this.toRecord(found) : null;
  }

  // Bytes a user's files keep in storage (pending ones count: they may finish): uploads and the files
  // AI replies brought them (speech, images), which are kept with their sessions (docs/protocol.md,
  // "Uploads and files").
  async usedBytes(ownerId: string): Promise<number> {
    const [row] = await this.files.aggregate<{ total: number }>([
      { $match: { owner_id: ownerId } },
      { $group: { _id: null, total: { $sum: '$size' } } },
    ]);
    return row?.total ?? 0;
  }

  // Attaching marks the file as part of a message (the cleanup keeps it) and records the session or
  // room (`scope`) whose message shows it: each such session's assisting admin, and each such room's
  // members, may read it, and each session's export links it. `session_id` stays the first scope
  // (records from before the attachment records have that one only) until `detach` takes it off;
  // `shared` marks a file attached under more than one. The attachment is its own document
  // (FileAttachment): no list on the file is rewritten, so two scopes attaching at once on FerretDB
  // both stay (docs/protocol.md, "Uploads and files"). false when the file is not this owner's ready
  // file.
  async markAttached(id: string, ownerId: string, scope: string, now: Date): Promise<boolean> {
    const file = await this.files
      .findOne({ _id: id, owner_id: ownerId, status: 'ready' }, { session_id: 1 })
      .lean<Pick<FileDocument, '_id' | 'session_id'>>();
    if (!file) return false;
    try {
      await this.attachments.updateOne(
        { _id: fileAttachmentKey(id, scope) },
        { $setOnInsert: { file_id: id, scope, owner_id: ownerId, attached_at: now } },
        { upsert: true },
      );
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
    // a discard may have removed it meanwhile
    return (await this.files.countDocuments({ _id: id, owner_id: ownerId, status: 'ready' })) === 1;
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

  // System read for the cleanup: ready uploads never attached, past their age, pending ones no
  // upload touched since `pendingBefore` (cut off by a crash), and ones whose delete failed. A pending upload is judged by its last
  // touch, never its age: a long upload's record was swept while its bytes still came.
  async findExpired(unattachedBefore: Date, pendingBefore: Date, limit = 200): Promise<BareFileRecord[]> {
    const found = await this.files
      .find({
        $or: [
          { status: 'ready', attached: false, created_at: { $lt: unattachedBefore } },
          { status: 'pending', alive_at: { $lt: pendingBefore } },
          // records written before alive_at existed
          { status: 'pending', alive_at: null, created_at: { $lt: pendingBefore } },
          // a delete that failed: retried
          { status: 'deleting' },
        ],
      })
      .limit(limit)
      .lean<FileDocument[]>();
    return found.map(bareRecord);
  }

  // Key rotation (FileNameRotationService): the ready files whose name another key than the current
  // one encrypted, and the rewrite of one, under its lock.
  filesWithOldNames(): AsyncGenerator<string> {
    return this.reencryption.filesWithOldNames();
  }

  reencryptName(id: string): Promise<boolean> {
    return this.reencryption.reencrypt(id);
  }

  private toRecord(document: FileDocument): FileRecord {
    return { ...bareRecord(document), name: nameOf(document, this.cipher) };
  }
}

function bareRecord(document: FileDocument): BareFileRecord {
  const { _id, name: _name, encrypted_name: _encrypted, ...rest } = document;
  return { ...rest, id: _id, created_at: new Date(rest.created_at) };
}
