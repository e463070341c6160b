import type { Model } from 'mongoose';
import {
  type BlindIndex,
  cut,
  foldWithOffsets,
  searchWords,
  textMatches,
  tokenFilter,
} from '../../common/crypto/blind-index';
import type { ContentCipher } from '../../common/crypto/content-cipher';
import { buildThread } from '../../protocol/thread';
import type { Session } from './schemas/session.schema';
import { decrypt, type SessionDocument, toRecord, WITHOUT_MESSAGES } from './session-documents';
import type { SessionCursor } from './session-rules';
import type { MessageRecord, SearchHit, SessionRecord } from './session.types';

// the message types whose text is searchable
export const SEARCHABLE: ReadonlySet<string> = new Set([
  'user_message',
  'voice_message',
  'file_upload',
  'ai_response',
]);
const HITS_PER_SESSION = 3;
const SNIPPET_CHARS = 140;

// The session library's lists: a user's sessions page by page, and the sessions a search finds.
export class SessionSearch {
  constructor(
    private readonly sessions: Model<Session>,
    private readonly cipher: ContentCipher,
    private readonly index: BlindIndex,
  ) {}

  // the user's sessions, deleted ones never, archived ones only when asked for (scalar $ne filters:
  // their FerretDB behaviour is checked by test/e2e/session-library.e2e-spec.ts), newest activity
  // first and by id among equals, from after `before` (a page's last session) when given (the
  // cursor's $or: store conformance suite)
  async listForUser(
    userId: string,
    page: { limit: number; archived: boolean; before?: SessionCursor },
  ): Promise<SessionRecord[]> {
    const filter: Record<string, unknown> = {
      user_id: userId,
      deleted: { $ne: true },
      archived: page.archived ? true : { $ne: true },
    };
    const before = page.before;
    if (before)
      filter.$or = [
        { last_activity: { $lt: before.lastActivity } },
        { last_activity: before.lastActivity, _id: { $lt: before.id } },
      ];
    const found = await this.sessions
      .find(filter, WITHOUT_MESSAGES)
      .sort({ last_activity: -1, _id: -1 })
      .limit(page.limit)
      .lean<SessionDocument[]>();
    return found.map((document) => toRecord(document));
  }

  // Sessions whose messages (or name) hold every word of the query, newest activity first: one
  // user's or every user's, deleted ones only for admins. The match is on blind-index tokens; the
  // snippet is decrypted here, for the reader, and never stored.
  // `indexed`: the sessions whose messages' tokens (session_terms) hold every word; sessions written
  // before session_terms still carry their own (`search_tokens`) and are found by them.
  async search(
    query: string,
    scope: { userId?: string; includeDeleted: boolean },
    indexed: string[],
    limit = 20,
  ): Promise<SearchHit[]> {
    // each word under every listed key: a name or an old session's tokens made before a rotation
    const byWord = this.index.queryTokensByWord(query);
    if (byWord.length === 0) return [];
    const filter: Record<string, unknown> = {
      $or: [
        ...(indexed.length > 0 ? [{ _id: { $in: indexed } }] : []),
        tokenFilter('search_tokens', byWord),
        tokenFilter('title_tokens', byWord),
      ],
    };
    if (scope.userId !== undefined) filter.user_id = scope.userId;
    if (!scope.includeDeleted) filter.deleted = { $ne: true };
    // one session at a time off a cursor (each may hold MAX_SESSION_BYTES): a search holds one
    // session's log and the hits so far, not every session it found at once
    const found = this.sessions
      .find(filter, { name: 1, user_id: 1, messages: 1, last_activity: 1 })
      .sort({ last_activity: -1 })
      .limit(limit)
      .batchSize(1)
      .lean<SessionDocument>()
      .cursor();
    const words = searchWords(query);
    const hits: SearchHit[] = [];
    for await (const document of found) hits.push(...this.hitsIn(document as SessionDocument, words));
    return hits;
  }

  // A found session's newest messages matching the words (or the session alone: its name matched).
  // The index holds a session's words together, so the words may be spread over several messages,
  // none holding them all: then its newest messages holding any of them. Until a library audit in
  // session 39 such a hit came without a message, which says the name matched when it did not
  // (test/e2e/search.e2e-spec.ts, "spread over messages").
  // Only the messages the conversation reads now are matched (buildThread, as the export and the
  // thread show it): the index keeps every version's words, and a session it found for words edited
  // away is no hit unless its name holds them, nor are messages holding some words while others are
  // only in versions it no longer shows (docs/protocol.md, "Search"). Until the search/history audit
  // of session 42 the whole log was matched, and a search found the replaced version and its reply,
  // snippets and ids pointing at messages the conversation no longer shows (3 of 3).
  private hitsIn(document: SessionDocument, words: string[]): SearchHit[] {
    const base = { session_id: document._id, session_name: document.name, user_id: document.user_id };
    // the session's newest matching messages, matched on their text as their tokens would be
    const matching: MessageRecord[] = [];
    const partly: MessageRecord[] = [];
    // the words some message holds (every message is read when none holds them all)
    const held = new Set<string>();
    const messages = buildThread(document.messages ?? []).current;
    for (let at = messages.length - 1; at >= 0 && matching.length < HITS_PER_SESSION; at--) {
      if (!SEARCHABLE.has(messages[at].type) || !messages[at].content) continue;
      const message = decrypt(messages[at], this.cipher, document._id);
      const content = message.content ?? '';
      if (textMatches(content, words)) {
        matching.push(message);
        continue;
      }
      const some = words.filter((word) => textMatches(content, [word]));
      for (const word of some) held.add(word);
      if (partly.length < HITS_PER_SESSION && some.length > 0) partly.push(message);
    }
    const named = textMatches(document.name ?? '', words);
    if (matching.length === 0 && (named || !words.every((word) => held.has(word))))
      return named ? [base] : [];
    return (matching.length > 0 ? matching : partly).map((message) => ({
      ...base,
      message_id: message.id,
      seq: message.seq,
      sender: message.sender,
      timestamp: message.timestamp,
      snippet: snippet(message.content ?? '', words),
    }));
  }
}

// The text around the first query word found, for a result list (docs/protocol.md, "Search"): the
// word is found as the index matches it (folded: case, accents, NFKC; at the start of a word when it
// is, cut to INDEXED_CHARS), in the text folded code point by code point, whose offsets map back to
// the text as written; the snippet is cut there, never inside a surrogate pair. Until the
// text-limits audit of session 41 the word was looked for in the text only lower-cased, so Turkish
// capitals (İ is two units lower-cased) put the snippet past it and an accent-folded word (café →
// cafe) was not found at all (the snippet was the text's start); and the cut was made in UTF-16
// units from a fractional start, so a snippet could begin or end on half an emoji (3 of 3 runs each).
export function snippet(content: string, words: string[]): string {
  const at = firstMatch(content, words) ?? 0;
  const start = whole(content, Math.max(0, at - Math.floor(SNIPPET_CHARS / 3)));
  const end = whole(content, Math.min(content.length, start + SNIPPET_CHARS));
  const text = content.slice(start, end).replace(/\s+/g, ' ').trim();
  return `${start > 0 ? '…' : ''}${text}${end < content.length ? '…' : ''}`;
}

// the offset in `content` of the first match of any query word: at the start of a word of the text
// (as textMatches matches), or anywhere when there is none such (undefined: none at all)
function firstMatch(content: string, words: string[]): number | undefined {
  const { folded, from } = foldWithOffsets(content);
  let first: number | undefined;
  let anywhere: number | undefined;
  for (const word of words) {
    const wanted = cut(word);
    if (wanted.length === 0) continue;
    for (let at = folded.indexOf(wanted); at >= 0; at = folded.indexOf(wanted, at + 1)) {
      anywhere = Math.min(anywhere ?? at, at);
      if (!/[\p{L}\p{N}]$/u.test(folded.slice(Math.max(0, at - 2), at))) {
        first = Math.min(first ?? at, at);
        break;
      }
    }
  }
  const at = first ?? anywhere;
  return at === undefined ? undefined : from[at];
}

// an offset moved back off the middle of a surrogate pair
function whole(content: string, offset: number): number {
  const unit = content.charCodeAt(offset);
  const before = content.charCodeAt(offset - 1);
  return unit >= 0xdc00 && unit <= 0xdfff && before >= 0xd800 && before <= 0xdbff ? offset - 1 : offset;
}
