import { Injectable, OnModuleInit } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { StoredFile } from './schemas/stored-file.schema';

// Plain file record (never a mongoose document).
export interface FileRecord {
  id: string;
  owner_id: string;
  session_id: string | null;
  name: string;
  size: number;
  mime_type: string;
  storage_key: string;
  status: 'pending' | 'ready';
  source: 'upload' | 'generated';
  scanned: boolean;
  attached: boolean;
  attached_at: Date | null;
  created_at: Date;
}

type FileDocument = StoredFile;

// Mongoose lives here only. Reads of a user's files take the owner id; the one system read used by
// admin access and cleanup is named as such.
@Injectable()
export class FilesRepository implements OnModuleInit {
  constructor(@InjectModel(StoredFile.name) private readonly files: Model<StoredFile>) {}

  async onModuleInit(): Promise<void> {
    await this.files.createIndexes();
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
      name: input.name,
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

  // A pending upload still streams (the cleanup spares it); false when its record is gone.
  async touchPending(id: string, now: Date): Promise<boolean> {
    const result = await this.files.updateOne({ _id: id, status: 'pending' }, { $set: { alive_at: now } });
    return result.matchedCount === 1;
  }

  async remove(id: string): Promise<void> {
    await this.files.deleteOne({ _id: id });
  }

  async findOwned(id: string, ownerId: string): Promise<FileRecord | null> {
    const found = await this.files
      .findOne({ _id: id, owner_id: ownerId, status: 'ready' })
      .lean<FileDocument>();
    return found ? toRecord(found) : null;
  }

  // system read: the caller checks access (an assisting admin) itself
  async findAnyReady(id: string): Promise<FileRecord | null> {
    const found = await this.files.findOne({ _id: id, status: 'ready' }).lean<FileDocument>();
    return found ? toRecord(found) : null;
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

  // Attaching marks the file as part of a message (the cleanup keeps it) and binds it to the session
  // of its first message (whose assisting admin may then read it).
  async markAttached(id: string, ownerId: string, sessionId: string, now: Date): Promise<boolean> {
    const first = await this.files.updateOne(
      { _id: id, owner_id: ownerId, status: 'ready', attached: false },
      { $set: { attached: true, attached_at: now, session_id: sessionId } },
    );
    if (first.matchedCount === 1) return true;
    // attached before: under another session or room it is shared from now on
    await this.files.updateOne(
      { _id: id, owner_id: ownerId, status: 'ready', session_id: { $ne: sessionId } },
      { $set: { shared: true } },
    );
    return (await this.files.countDocuments({ _id: id, owner_id: ownerId, status: 'ready' })) === 1;
  }

  // the files among `ids` attached under `scope` alone (never shared elsewhere)
  async findAttachedOnlyTo(ids: string[], scope: string): Promise<FileRecord[]> {
    if (ids.length === 0) return [];
    const found = await this.files
      .find({ _id: { $in: ids }, session_id: scope, shared: { $ne: true } })
      .lean<FileDocument[]>();
    return found.map(toRecord);
  }

  // System read for the cleanup: ready uploads never attached, past their age, and pending ones no
  // upload touched since `pendingBefore` (cut off by a crash). A pending upload is judged by its last
  // touch, never its age: a long upload's record was swept while its bytes still came.
  async findExpired(unattachedBefore: Date, pendingBefore: Date, limit = 200): Promise<FileRecord[]> {
    const found = await this.files
      .find({
        $or: [
          { status: 'ready', attached: false, created_at: { $lt: unattachedBefore } },
          { status: 'pending', alive_at: { $lt: pendingBefore } },
          // records written before alive_at existed
          { status: 'pending', alive_at: null, created_at: { $lt: pendingBefore } },
        ],
      })
      .limit(limit)
      .lean<FileDocument[]>();
    return found.map(toRecord);
  }
}

function toRecord(document: FileDocument): FileRecord {
  const { _id, ...rest } = document;
  return { ...rest, id: _id, created_at: new Date(rest.created_at) };
}
