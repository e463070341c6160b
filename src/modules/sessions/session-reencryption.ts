import type { Model } from 'mongoose';
import type { BlindIndex } from '../../common/crypto/blind-index';
import type { ContentCipher } from '../../common/crypto/content-cipher';
import { encryptedFileName } from '../../common/crypto/file-names';
import type { Session } from './schemas/session.schema';
import { titleIndex } from './session-updates';

// what key rotation reads of a stored message: its content, its file's encrypted name and the reason
// given with feedback on it; and of the session, its takeovers' CSAT comments
type Encrypted = { content?: string | null; metadata?: Record<string, unknown>; feedback_reason?: string };
type Rated = { comment?: string };
type Stored = { _id: string; seq: number; messages?: Encrypted[]; csat?: Rated[] };
const READ = { seq: 1, messages: 1, csat: 1 } as const;

// Key rotation's reads and writes of the session collection (KeyRotationService runs them).
export class SessionReencryption {
  constructor(
    private readonly sessions: Model<Session>,
    private readonly cipher: ContentCipher,
    private readonly index: BlindIndex,
  ) {}

  // Key rotation's names pass: the sessions whose name has search tokens made with another key than
  // the current one, or with a key not known (`title_key` null: written before session 43). One
  // cursor over the collection, the test in code, as sessionsWithOldKeys (no query semantics of the
  // store's to rely on).
  async *namesWithOtherKeys(): AsyncGenerator<string> {
    const cursor = this.sessions
      .find({}, { _id: 1, title_tokens: 1, title_key: 1 })
      .lean<Array<{ _id: string; title_tokens?: string[]; title_key?: string | null }>>()
      .cursor({ batchSize: 100 });
    for await (const document of cursor)
      if ((document.title_tokens?.length ?? 0) > 0 && document.title_key !== this.index.keyId)
        yield document._id;
  }

  // The name's search tokens made anew with the current key; run under the session lock, which every
  // writer of the name holds (FerretDB rewrites the whole document per update). false: no session.
  async reindexName(sessionId: string): Promise<boolean> {
    const document = await this.sessions.findById(sessionId, { name: 1 }).lean<{ name: string }>();
    if (!document) return false;
    const result = await this.sessions.updateOne(
      { _id: sessionId, name: document.name },
      { $set: titleIndex(this.index, document.name) },
    );
    return result.matchedCount === 1;
  }

  // Key rotation: the sessions holding content, file names, feedback reasons or CSAT comments written
  // with another key than the current one, in one pass over the collection (a background job; a
  // cursor, so no sort or skip for the store). A session whose content an earlier pass rewrote, its
  // reasons and comments left on the old key (before the key-rotation coverage fix), is found too.
  async *sessionsWithOldKeys(): AsyncGenerator<string> {
    const cursor = this.sessions
      .find({}, { _id: 1, ...READ })
      .lean<Stored[]>()
      .cursor({ batchSize: 50 });
    for await (const document of cursor) if (this.staleIn(document).paths.length > 0) yield document._id;
  }

  // Rewrites the session's old-key content, file names (docs/protocol.md, "Uploads and files"),
  // feedback reasons and CSAT comments with the current key; run under the session lock, which every
  // writer of the session (setFeedback and rateTakeover too) holds. The ciphertext keeps its length,
  // so `bytes` holds. Returns how many messages were rewritten (a message once, whichever of its
  // fields) and whether anything was, or null when the session changed between the read and the
  // write (`seq` is in the filter).
  async reencrypt(sessionId: string): Promise<{ messages: number; rewritten: boolean } | null> {
    const document = await this.sessions.findById(sessionId, READ).lean<Stored>();
    if (!document) return { messages: 0, rewritten: false };
    const { paths, messages } = this.staleIn(document);
    if (paths.length === 0) return { messages: 0, rewritten: false };
    const rewritten = Object.fromEntries(
      paths.map(([path, stored]) => [path, this.cipher.reencrypt(stored)]),
    );
    const result = await this.sessions.updateOne({ _id: sessionId, seq: document.seq }, { $set: rewritten });
    return result.matchedCount === 1 ? { messages, rewritten: true } : null;
  }

  // the session's encrypted fields written with another key ([path, stored value]), and how many of
  // its messages hold one
  private staleIn(document: Omit<Stored, '_id' | 'seq'>): {
    paths: Array<[string, string]>;
    messages: number;
  } {
    const paths: Array<[string, string]> = [];
    let messages = 0;
    (document.messages ?? []).forEach((message, index) => {
      const before = paths.length;
      const fields: Array<[string, string | null | undefined]> = [
        ['content', message.content],
        ['metadata.file.encrypted_name', encryptedFileName(message.metadata)],
        ['feedback_reason', message.feedback_reason],
      ];
      for (const [path, stored] of fields)
        if (this.stale(stored)) paths.push([`messages.${index}.${path}`, stored]);
      if (paths.length > before) messages++;
    });
    (document.csat ?? []).forEach((entry, index) => {
      if (this.stale(entry.comment)) paths.push([`csat.${index}.comment`, entry.comment]);
    });
    return { paths, messages };
  }

  private stale(content: string | null | undefined): content is string {
    return typeof content === 'string' && !this.cipher.isCurrent(content);
  }
}
