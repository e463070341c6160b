import type { Model } from 'mongoose';
import type { ContentCipher } from '../../common/crypto/content-cipher';
import { encryptedFileName } from '../../common/crypto/file-names';
import type { Session } from './schemas/session.schema';

// what key rotation reads of a stored message: its content and its file's encrypted name
type Encrypted = { content?: string | null; metadata?: Record<string, unknown> };

// Key rotation's reads and writes of the session collection (KeyRotationService runs them).
export class SessionReencryption {
  constructor(
    private readonly sessions: Model<Session>,
    private readonly cipher: ContentCipher,
  ) {}

  // Key rotation: the sessions holding content or file names written with another key than the
  // current one, in one pass over the collection (a background job; a cursor, so no sort or skip for
  // the store).
  async *sessionsWithOldKeys(): AsyncGenerator<string> {
    const cursor = this.sessions
      .find({}, { _id: 1, messages: 1 })
      .lean<Array<{ _id: string; messages?: Encrypted[] }>>()
      .cursor({ batchSize: 50 });
    for await (const document of cursor)
      if ((document.messages ?? []).some((message) => this.staleIn(message).length > 0)) yield document._id;
  }

  // Rewrites the session's old-key content and file names (docs/protocol.md, "Uploads and files")
  // with the current key; run under the session lock. The ciphertext keeps its length, so `bytes`
  // holds. Returns how many messages were rewritten, or null when the session changed between the
  // read and the write (`seq` is in the filter).
  async reencrypt(sessionId: string): Promise<number | null> {
    const document = await this.sessions
      .findById(sessionId, { seq: 1, messages: 1 })
      .lean<{ seq: number; messages?: Encrypted[] }>();
    if (!document) return 0;
    const rewritten: Record<string, string> = {};
    let count = 0;
    (document.messages ?? []).forEach((message, index) => {
      const stale = this.staleIn(message);
      for (const [path, stored] of stale)
        rewritten[`messages.${index}.${path}`] = this.cipher.reencrypt(stored);
      if (stale.length > 0) count++;
    });
    if (count === 0) return 0;
    const result = await this.sessions.updateOne({ _id: sessionId, seq: document.seq }, { $set: rewritten });
    return result.matchedCount === 1 ? count : null;
  }

  // the message's encrypted fields written with another key: [path in the message, stored value]
  private staleIn(message: Encrypted): Array<[string, string]> {
    const stale: Array<[string, string]> = [];
    if (this.stale(message.content)) stale.push(['content', message.content]);
    const name = encryptedFileName(message.metadata);
    if (this.stale(name)) stale.push(['metadata.file.encrypted_name', name]);
    return stale;
  }

  private stale(content: string | null | undefined): content is string {
    return typeof content === 'string' && !this.cipher.isCurrent(content);
  }
}
