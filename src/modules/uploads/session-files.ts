import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { FileAttachment } from './schemas/file-attachment.schema';
import { StoredFile } from './schemas/stored-file.schema';

// What the purge of deleted sessions reads of the files' records (SessionPurgeService, which then
// discards them through FilesService.discard, under each file's lock). Reads only.
@Injectable()
export class SessionFiles {
  constructor(
    @InjectModel(StoredFile.name) private readonly files: Model<StoredFile>,
    @InjectModel(FileAttachment.name) private readonly attachments: Model<FileAttachment>,
  ) {}

  // The files each of these sessions holds: those attached under it (its attachment records) and
  // those it is the first scope of (`session_id`: a record from before the attachment records, or a
  // file a reply made, which has none), one command each for the whole batch (indexed by `scope` and
  // `session_id`).
  async heldBy(sessionIds: string[]): Promise<Map<string, string[]>> {
    const held = new Map<string, Set<string>>(sessionIds.map((id) => [id, new Set<string>()]));
    const [attached, first] = await Promise.all([
      this.attachments
        .find({ scope: { $in: sessionIds } }, { file_id: 1, scope: 1 })
        .lean<Array<Pick<FileAttachment, 'file_id' | 'scope'>>>(),
      this.files
        .find({ session_id: { $in: sessionIds } }, { session_id: 1 })
        .lean<Array<{ _id: string; session_id: string | null }>>(),
    ]);
    for (const { scope, file_id: fileId } of attached) held.get(scope)?.add(fileId);
    for (const { _id: fileId, session_id: scope } of first) held.get(scope ?? '')?.add(fileId);
    return new Map([...held].map(([id, files]) => [id, [...files]]));
  }
}
