import type { Model } from 'mongoose';
import type { ContentCipher } from '../../common/crypto/content-cipher';
import type { StoredFile } from './schemas/stored-file.schema';

// Key rotation's reads and writes of the files' encrypted names (FileNameRotationService runs them
// through FilesRepository).
export class FileNameReencryption {
  constructor(
    private readonly files: Model<StoredFile>,
    private readonly cipher: ContentCipher,
  ) {}

  // The ready files whose name another key than the current one encrypted, in one pass (a cursor, as
  // for sessions). Pending ones are left to a later pass: their upload still writes their record
  // without the file's lock, and on FerretDB (updates are read-modify-write) a rewrite could undo it.
  async *filesWithOldNames(): AsyncGenerator<string> {
    const cursor = this.files
      .find({ status: 'ready' }, { _id: 1, encrypted_name: 1 })
      .lean<Array<{ _id: string; encrypted_name?: string }>>()
      .cursor({ batchSize: 100 });
    for await (const file of cursor) if (this.stale(file.encrypted_name)) yield file._id;
  }

  // Rewrites one ready file's name with the current key; the caller holds the file's lock, which every
  // write of a ready record takes (attach, delete). false when there was nothing to rewrite.
  async reencrypt(id: string): Promise<boolean> {
    const file = await this.files
      .findOne({ _id: id, status: 'ready' }, { encrypted_name: 1 })
      .lean<{ encrypted_name?: string }>();
    if (!file || !this.stale(file.encrypted_name)) return false;
    const result = await this.files.updateOne(
      { _id: id, status: 'ready' },
      { $set: { encrypted_name: this.cipher.reencrypt(file.encrypted_name) } },
    );
    return result.matchedCount === 1;
  }

  private stale(name: string | undefined): name is string {
    return typeof name === 'string' && !this.cipher.isCurrent(name);
  }
}
