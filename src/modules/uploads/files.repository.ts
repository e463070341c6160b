import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { ContentCipher } from '../../common/crypto/content-cipher';
import { nameOf } from '../../common/crypto/file-names';
import type { Hold } from '../../infra/lock/lock';
import { FileAttachments } from './file-attachments';
import { FileNameReencryption } from './file-name-reencryption';
import {
  bareRecord,
  type BareFileRecord,
  type FileDocument,
  type FileRecord,
  type FileStatus,
} from './file-records';
import { FileAttachment } from './schemas/file-attachment.schema';
import { StoredFile } from './schemas/stored-file.schema';

export type { BareFileRecord, FileRecord, FileStatus } from './file-records';

// A pending upload's record is touched this often while its bytes stream (upload-pipeline.ts)...
export const PENDING_HEARTBEAT_MS = 5_000;
// ...so the room it reserved in its owner's quota counts while it was touched within two beats and a
// half (one late beat spared): an upload whose instance crashed gives the room back then, its record
// left for the cleanup (usedBytes).
export const RESERVATION_LIFE_MS = 2.5 * PENDING_HEARTBEAT_MS;

// The lock a file's attaching and deleting take (SESSION_LOCK, on every instance): a file is never
// both attached to a message and deleted (docs/protocol.md, "Uploads and files").
export const fileLockKey = (id: string): string => `file:${id}`;

// the files' own cipher (ENCRYPTION_KEY and the previous keys): names are encrypted like content
export const FILES_CIPHER = Symbol('FILES_CIPHER');

// Mongoose lives here only. Reads of a user's files take the owner id; the one system read used by
// admin access and cleanup is named as such. The user's file name is stored encrypted
// (`encrypted_name`); records from before the privacy audit fix hold a plain `name`, read as it is
// (docs/protocol.md, "Uploads and files"). Where a file is shown (file-attachments) and key rotation
// (file-name-reencryption) are delegated to helpers only this class constructs.
@Injectable()
export class FilesRepository implements OnModuleInit {
  private readonly attached: FileAttachments;
  private readonly reencryption: FileNameReencryption;

  constructor(
    @InjectModel(StoredFile.name) private readonly files: Model<StoredFile>,
    @InjectModel(FileAttachment.name) private readonly attachments: Model<FileAttachment>,
    @Inject(FILES_CIPHER) private readonly cipher: ContentCipher,
  ) {
    this.attached = new FileAttachments(files, attachments);
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

  // What a delete judged the file by, read under its lock before the judgement's own reads: its
  // status and each scope's last attach (`markDeletingAsJudged`).
  async judged(id: string): Promise<{ status: FileStatus; marks: string } | null> {
    const marks = await this.attached.marksOf(id);
    const found = await this.files.findOne({ _id: id }, { status: 1 }).lean<Pick<FileDocument, 'status'>>();
    return found ? { status: found.status, marks } : null;
  }

  // markDeleting for a delete that judged, under the file's lock, that nothing shows the file: true
  // when the delete may go on (nothing attaches the file from now on). The lock is a key that outlives
  // a paused holder by only ttlMs: a holder paused past it (SIGSTOP 7 s) resumed and deleted a file
  // another instance had meanwhile attached to a message and acked. So the hold is asked first, and
  // after the file is marked the attachment records are read again (an attach writes its record
  // before it reads the status: markAttached): an attach since the judgement, or the hold lost, puts
  // the status back and the delete stops; the caller judges again, or the next sweep does
  // (docs/protocol.md, "Uploads and files").
  async markDeletingAsJudged(
    id: string,
    judged: { status: FileStatus; marks: string },
    hold: Hold,
  ): Promise<boolean> {
    if (hold.lost()) return false;
    await this.markDeleting(id);
    if (!hold.lost() && (await this.attached.marksOf(id)) === judged.marks) return true;
    await this.files.updateOne({ _id: id, status: 'deleting' }, { $set: { status: judged.status } });
    return false;
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

  // Bytes a user's files keep in storage: uploads and the files AI replies brought them (speech,
  // images), which are kept with their sessions, and the room pending ones reserved while their
  // upload still runs (they may finish; its instance touches the record: RESERVATION_LIFE_MS)
  // (docs/protocol.md, "Uploads and files"). Until the files audit of session 44 the reservation of
  // an upload whose instance was SIGKILLed mid-stream counted until the cleanup took its record (up
  // to an hour): a 69-byte photo on the other instance was refused "Your upload storage is full: 0
  // bytes left" (3 of 3 runs).
  // `except`: a file not counted (an upload checked again at its end against the others).
  async usedBytes(ownerId: string, now = new Date(), except?: string): Promise<number> {
    const touchedSince = new Date(now.getTime() - RESERVATION_LIFE_MS);
    const [row] = await this.files.aggregate<{ total: number }>([
      {
        $match: {
          owner_id: ownerId,
          ...(except === undefined ? {} : { _id: { $ne: except } }),
          $or: [{ status: { $ne: 'pending' } }, { status: 'pending', alive_at: { $gte: touchedSince } }],
        },
      },
      { $group: { _id: null, total: { $sum: '$size' } } },
    ]);
    return row?.total ?? 0;
  }

  // the file shown under `scope` from now on (FileAttachments.markAttached); false when it is not this
  // owner's ready file
  markAttached(id: string, ownerId: string, scope: string, now: Date): Promise<boolean> {
    return this.attached.markAttached(id, ownerId, scope, now);
  }

  scopesOf(id: string): Promise<string[]> {
    return this.attached.scopesOf(id);
  }

  isAttachedTo(id: string, ownerId: string, scope: string): Promise<boolean> {
    return this.attached.isAttachedTo(id, ownerId, scope);
  }

  findAttachedOnlyTo(ids: string[], scope: string): Promise<BareFileRecord[]> {
    return this.attached.findAttachedOnlyTo(ids, scope);
  }

  // under the file's lock: `scope` no longer shows the file (FileAttachments.detach)
  detach(id: string, scope: string): Promise<void> {
    return this.attached.detach(id, scope);
  }

  // under the file's lock: an attachment whose message was not stored (FileAttachments.release)
  release(id: string, scope: string): Promise<void> {
    return this.attached.release(id, scope);
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
    return {
      ...bareRecord(document),
      name: nameOf(document, this.cipher, { file_id: String(document._id) }),
    };
  }
}
