import type { Model } from 'mongoose';
import type { ContentCipher } from '../../common/crypto/content-cipher';
import type { Session } from './schemas/session.schema';

// Key rotation's reads and writes of the session collection (KeyRotationService runs them).
export class SessionReencryption {
  constructor(
    private readonly sessions: Model<Session>,
    private readonly cipher: ContentCipher,
  ) {}

  // Key rotation: the sessions holding content written with another key than the current one, in
  // one pass over the collection (a background job; a cursor, so no sort or skip for the store).
  async *sessionsWithOldKeys(): AsyncGenerator<string> {
    const cursor = this.sessions
      .find({}, { _id: 1, messages: 1 })
      .lean<Array<{ _id: string; messages?: Array<{ content?: string | null }> }>>()
      .cursor({ batchSize: 50 });
    for await (const document of cursor)
      if ((document.messages ?? []).some((message) => this.stale(message.content))) yield document._id;
  }

  // Rewrites the session's old-key content with the current key; run under the session lock. The
  // ciphertext keeps its length, so `bytes` holds. Returns how many messages were rewritten, or null
  // when the session changed between the read and the write (`seq` is in the filter).
  async reencrypt(sessionId: string): Promise<number | null> {
    const document = await this.sessions
      .findById(sessionId, { seq: 1, messages: 1 })
      .lean<{ seq: number; messages?: Array<{ content?: string | null }> }>();
    if (!document) return 0;
    const rewritten: Record<string, string> = {};
    (document.messages ?? []).forEach((message, index) => {
      if (this.stale(message.content))
        rewritten[`messages.${index}.content`] = this.cipher.reencrypt(message.content);
    });
    const count = Object.keys(rewritten).length;
    if (count === 0) return 0;
    const result = await this.sessions.updateOne({ _id: sessionId, seq: document.seq }, { $set: rewritten });
    return result.matchedCount === 1 ? count : null;
  }

  private stale(content: string | null | undefined): content is string {
    return typeof content === 'string' && !this.cipher.isCurrent(content);
  }
}
