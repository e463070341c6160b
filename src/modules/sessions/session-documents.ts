import type { Model } from 'mongoose';
import type { ContentCipher } from '../../common/crypto/content-cipher';
import { withFileName } from '../../common/crypto/file-names';
import { readable } from '../../common/crypto/readable-content';
import type { Session, StoredMessage } from './schemas/session.schema';
import type { MessageRecord, SessionRecord, SessionWithMessages } from './session.types';

// The session document as the store holds it: a new one as the schema would make it, and its mapping
// to the plain records the repository returns (content decrypted, the blind index never read back).

// the blind index (search_tokens) is only ever queried, never read back
export const WITHOUT_INDEX = { search_tokens: 0 } as const;
export const WITHOUT_MESSAGES = { messages: 0, search_tokens: 0 } as const;
// what ownedBy reads: a projection without `deleted` made a deleted session its owner's (until the
// library audit a rating and a CSAT were stored in one after DELETE: docs/protocol.md, "Session library")
export const OWNER = { user_id: 1, deleted: 1 } as const;

export type SessionDocument = Omit<Session, 'messages'> & { messages?: StoredMessage[] };

// a session to create: its id, owner, default name and model, when
export interface NewSession {
  id: string;
  userId: string;
  name: string;
  modelId: string;
  now: Date;
  console?: boolean;
}

// The schema's document for `input`, defaults and key order included, for an insert that goes to
// the driver as the append does: mongoose's save, validation and hooks were most of a new user's
// connect CPU in Node, and so was building a mongoose document for each (bench/README.md). The
// defaults are taken from one mongoose document, once; the schema test holds the result to `create`.
export class NewSessionDocuments {
  private defaults?: SessionDocument;

  constructor(private readonly sessions: Model<Session>) {}

  newDocument(input: NewSession): SessionDocument {
    this.defaults ??= new this.sessions({
      _id: 'defaults',
      user_id: '',
      name: '',
      model_id: '',
      is_active: true,
      start_time: new Date(0),
      last_activity: new Date(0),
    }).toObject() as SessionDocument;
    return Object.assign(structuredClone(this.defaults), {
      _id: input.id,
      ...(input.console ? { console: true } : {}),
      user_id: input.userId,
      name: input.name,
      model_id: input.modelId,
      is_active: true,
      start_time: input.now,
      last_activity: input.now,
    });
  }
}

// Owner reads filter on `_id` alone and check the owner on the result: FerretDB uses its index
// only for an exact `{_id}` filter (anything more scans every session); the owner is still required.
// A session its user deleted is gone for them (admins still read it).
export function ownedBy<T extends { user_id: string; deleted?: boolean }>(
  document: T | null,
  userId: string,
): T | null {
  return document && document.user_id === userId && document.deleted !== true ? document : null;
}

export function withMessages(document: SessionDocument, cipher: ContentCipher): SessionWithMessages {
  return {
    ...toRecord(document),
    messages: (document.messages ?? []).map((message) => decrypt(message, cipher, document._id)),
  };
}

// A stored message as a record. What cannot be decrypted (a key no longer listed,
// readable-content.ts) is shown as unreadable: the content empty and `metadata.unreadable` true, the
// file's name empty; a feedback reason, secondary to the reply it rates, is left out. The session
// still loads, its new messages are taken and answered (the model gets the readable history:
// reply-context.ts leaves empty content out), and the stored values stay as they are.
export function decrypt(stored: StoredMessage, cipher: ContentCipher, sessionId?: string): MessageRecord {
  const { dedup: _dedup, search: _search, feedback_reason, ...message } = stored;
  const place = { session_id: sessionId, message_id: message.id };
  let unreadable = false;
  const open = (value: string, field: string): string => {
    const text = readable(cipher, value, { field, ...place });
    if (text === null) unreadable = true;
    return text ?? '';
  };
  // the file's name, encrypted since the privacy audit fix (a plain one is from before)
  const metadata = message.metadata ? withFileName(message.metadata, cipher, place) : undefined;
  const reason = feedback_reason
    ? readable(cipher, feedback_reason, { field: 'feedback_reason', ...place })
    : null;
  const content =
    message.content === undefined || message.content === null ? undefined : open(message.content, 'content');
  return {
    ...message,
    ...(metadata ? { metadata } : {}),
    ...(unreadable ? { metadata: { ...metadata, unreadable: true } } : {}),
    ...(reason !== null ? { feedback_reason: reason } : {}),
    timestamp: new Date(message.timestamp),
    content,
  };
}

export function toRecord(document: SessionDocument): SessionRecord {
  const { _id, messages: _messages, search_tokens: _index, response_ms_total, ...rest } = document;
  return {
    ...rest,
    id: _id,
    avg_response_ms: rest.response_count > 0 ? Math.round(response_ms_total / rest.response_count) : 0,
    provider_state: rest.provider_state ?? {},
  } as SessionRecord;
}
