import type { Model } from 'mongoose';
import type { ContentCipher } from '../../common/crypto/content-cipher';
import { encryptedFileName } from '../../common/crypto/file-names';
import type { RoomMessage } from './schemas/room-message.schema';

// what key rotation reads of a room message: its text, its edits' earlier texts and its file's name
type Encrypted = Pick<RoomMessage, '_id' | 'content' | 'edits' | 'metadata'>;
const READ = { _id: 1, content: 1, edits: 1, metadata: 1 } as const;

// Key rotation's reads and writes of chat_messages (RoomMessageRotationService runs them, through
// RoomMessagesRepository, which only constructs this class).
export class RoomMessageReencryption {
  constructor(
    private readonly messages: Model<RoomMessage>,
    private readonly cipher: ContentCipher,
  ) {}

  // the messages holding a text, an earlier text or a file name written with another key than the
  // current one, in one pass over the collection (a cursor: no sort or skip for the store)
  async *withOldKeys(): AsyncGenerator<string> {
    const cursor = this.messages.find({}, READ).lean<Encrypted[]>().cursor({ batchSize: 100 });
    for await (const message of cursor) if (this.staleIn(message).length > 0) yield message._id;
  }

  // Rewrites the message's old-key fields with the current key. The caller holds the message's lock
  // (room-locks.ts), which its edits and deletes take: nothing changes it between this read and this
  // write. Whether anything was rewritten.
  async reencrypt(messageId: string): Promise<boolean> {
    const message = await this.messages.findById(messageId, READ).lean<Encrypted>();
    const stale = message ? this.staleIn(message) : [];
    if (stale.length === 0) return false;
    const set = Object.fromEntries(stale.map(([path, stored]) => [path, this.cipher.reencrypt(stored)]));
    return (await this.messages.updateOne({ _id: messageId }, { $set: set })).matchedCount === 1;
  }

  // the message's encrypted fields written with another key: [path, stored value]
  private staleIn(message: Encrypted): Array<[string, string]> {
    const fields: Array<[string, string | undefined]> = [
      ['content', message.content],
      ['metadata.file.encrypted_name', encryptedFileName(message.metadata)],
      ...(message.edits ?? []).map((edit, index): [string, string] => [
        `edits.${index}.content`,
        edit.content,
      ]),
    ];
    return fields.filter(
      (field): field is [string, string] => typeof field[1] === 'string' && !this.cipher.isCurrent(field[1]),
    );
  }
}
