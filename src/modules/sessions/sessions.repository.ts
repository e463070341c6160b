import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { BlindIndex } from '../../common/crypto/blind-index';
import { ContentCipher } from '../../common/crypto/content-cipher';
import { CurrentSessionsRepository } from './current-sessions.repository';
import { Session } from './schemas/session.schema';
import { type AppendWriteOptions, SessionAppender } from './session-append';
import { SessionBatches } from './session-batches';
import {
  decrypt,
  type NewSession,
  NewSessionDocuments,
  OWNER,
  ownedBy,
  type SessionDocument,
  toRecord,
  WITHOUT_INDEX,
  WITHOUT_MESSAGES,
  withMessages,
} from './session-documents';
import { SessionFeedback } from './session-feedback';
import { SessionLifecycle } from './session-lifecycle';
import { SessionReencryption } from './session-reencryption';
import { SessionSearch } from './session-search';
import { SessionUpdates } from './session-updates';
import type { SessionCursor } from './session-rules';
import type {
  AppendEffects,
  AppendResult,
  CsatResult,
  FeedbackRating,
  FeedbackResult,
  MessageRecord,
  SearchHit,
  NewMessage,
  SessionRecord,
  SessionWithMessages,
} from './session.types';

export const CONTENT_CIPHER = Symbol('CONTENT_CIPHER');
export const BLIND_INDEX = Symbol('BLIND_INDEX');

export type { NewSession } from './session-documents';

// Mongoose lives here only (here and in the helpers below, which only this class constructs). Every
// read of user data takes the owner id, except the explicit admin/system reads named as such. Content
// is encrypted on the way in and decrypted on the way out.
// The reads of one session and its creation are here; the rest is delegated by responsibility: the
// documents and their records (session-documents), the coalesced commands (session-batches), the
// append (session-append), the library's lists (session-search), the owner's feedback
// (session-feedback), the session's end and return (session-lifecycle), key rotation
// (session-reencryption), writes of its fields (session-updates).
@Injectable()
export class SessionsRepository implements OnModuleInit {
  private readonly documents: NewSessionDocuments;
  private readonly batches: SessionBatches;
  private readonly appender: SessionAppender;
  private readonly lists: SessionSearch;
  private readonly feedback: SessionFeedback;
  private readonly lifecycle: SessionLifecycle;
  private readonly reencryption: SessionReencryption;
  private readonly updates: SessionUpdates;

  constructor(
    @InjectModel(Session.name) private readonly sessions: Model<Session>,
    private readonly current: CurrentSessionsRepository,
    @Inject(CONTENT_CIPHER) private readonly cipher: ContentCipher,
    @Inject(BLIND_INDEX) index: BlindIndex,
  ) {
    this.documents = new NewSessionDocuments(sessions);
    this.batches = new SessionBatches(sessions);
    this.appender = new SessionAppender(sessions, this.batches, cipher, index);
    this.lists = new SessionSearch(sessions, cipher, index);
    this.feedback = new SessionFeedback(sessions, cipher);
    this.lifecycle = new SessionLifecycle(sessions, current);
    this.reencryption = new SessionReencryption(sessions, cipher, index);
    this.updates = new SessionUpdates(this.batches, index);
  }

  async onModuleInit(): Promise<void> {
    await this.sessions.createIndexes();
    await this.current.backfill(() =>
      this.sessions
        .find({ is_active: true }, { _id: 1, user_id: 1, last_activity: 1 })
        .sort({ last_activity: -1 })
        .lean<Array<{ _id: string; user_id: string; last_activity: Date }>>(),
    );
  }

  async create(input: NewSession): Promise<SessionRecord> {
    const created = await this.insert(input);
    await this.current.set(input.userId, input.id, input.now);
    return created;
  }

  // The user's active session, or else, for a user with no pointer at all (a new user), `input`
  // created as their first (docs/protocol.md, "Opening a session"): the pointer is claimed for it in
  // the command that reads it, then the session is inserted. A pointer naming a session that is
  // not there (an instance died between the two) or no longer active gives `active: null`, and the
  // caller creates one (which moves the pointer). Two commands either way.
  async activeOrFirst(input: NewSession): Promise<{ active: SessionRecord | null; created?: SessionRecord }> {
    const pointer = await this.current.claim(input.userId, input.id, input.now);
    if (pointer === input.id) return { active: null, created: await this.insert(input) };
    return { active: await this.activeNamed(pointer, input.userId) };
  }

  private async insert(input: NewSession): Promise<SessionRecord> {
    const document = this.documents.newDocument(input);
    await this.batches.inserts.load(document);
    return toRecord(document);
  }

  // Two reads by `_id` (the user's pointer, then its session): on MongoDB as cheap as the indexed
  // query by user, and on FerretDB, which pushes down only `_id` filters, no scan of every session.
  async findActiveForUser(userId: string): Promise<SessionRecord | null> {
    const sessionId = await this.current.sessionOf(userId);
    return sessionId ? this.activeNamed(sessionId, userId) : null;
  }

  private async activeNamed(sessionId: string, userId: string): Promise<SessionRecord | null> {
    const found = ownedBy(await this.batches.heads.load(sessionId), userId);
    return found?.is_active ? toRecord(found) : null;
  }

  async findOwned(sessionId: string, userId: string): Promise<SessionRecord | null> {
    const found = ownedBy(await this.batches.heads.load(sessionId), userId);
    return found ? toRecord(found) : null;
  }

  async findOwnedWithMessages(sessionId: string, userId: string): Promise<SessionWithMessages | null> {
    const found = ownedBy(
      await this.sessions.findOne({ _id: sessionId }, WITHOUT_INDEX).lean<SessionDocument>(),
      userId,
    );
    return found ? withMessages(found, this.cipher) : null;
  }

  // system read (a module acting for the session, not for a user): any user's session
  async findAny(sessionId: string): Promise<SessionRecord | null> {
    const found = await this.sessions.findOne({ _id: sessionId }, WITHOUT_MESSAGES).lean<SessionDocument>();
    return found ? toRecord(found) : null;
  }

  // admin reads: any user's session
  async findAnyWithMessages(sessionId: string): Promise<SessionWithMessages | null> {
    const found = await this.sessions.findOne({ _id: sessionId }, WITHOUT_INDEX).lean<SessionDocument>();
    return found ? withMessages(found, this.cipher) : null;
  }

  // The message a client already sent with this key (`dedupKey`), looked up in code: FerretDB's
  // array filters cannot be trusted for it (store conformance suite).
  async findByDedup(sessionId: string, dedup: string, owner?: string): Promise<MessageRecord | undefined> {
    const found = await this.sessions
      .findOne({ _id: sessionId }, { ...OWNER, messages: 1 })
      .lean<SessionDocument>();
    if (!found || (owner !== undefined && !ownedBy(found, owner))) return undefined;
    const previous = found.messages?.find((stored) => stored.dedup === dedup);
    return previous ? decrypt(previous, this.cipher, sessionId) : undefined;
  }

  async seqOf(sessionId: string): Promise<number | undefined> {
    const found = await this.sessions.findOne({ _id: sessionId }, { seq: 1 }).lean<{ seq: number }>();
    return found?.seq;
  }

  // the size the session's appends are checked on (its `bytes` counter)
  async bytesOf(sessionId: string): Promise<number | undefined> {
    const found = await this.sessions.findOne({ _id: sessionId }, { bytes: 1 }).lean<{ bytes: number }>();
    return found?.bytes;
  }

  listForUser(
    userId: string,
    page: { limit: number; archived: boolean; before?: SessionCursor },
  ): Promise<SessionRecord[]> {
    return this.lists.listForUser(userId, page);
  }

  async messagesAfter(sessionId: string, userId: string, afterSeq: number): Promise<MessageRecord[]> {
    const found = ownedBy(
      await this.sessions.findOne({ _id: sessionId }, { ...OWNER, messages: 1 }).lean<SessionDocument>(),
      userId,
    );
    return (found?.messages ?? [])
      .filter((message) => message.seq > afterSeq)
      .map((message) => decrypt(message, this.cipher, sessionId));
  }

  // system read (the client hub catching sockets up after a bus outage): any user's session
  async messagesAfterAny(sessionId: string, afterSeq: number): Promise<MessageRecord[]> {
    const found = await this.sessions.findOne({ _id: sessionId }, { messages: 1 }).lean<SessionDocument>();
    return (found?.messages ?? [])
      .filter((message) => message.seq > afterSeq)
      .map((message) => decrypt(message, this.cipher, sessionId));
  }

  // the guarded append and what came of it (session-append.ts)
  append(
    sessionId: string,
    expectedSeq: number,
    message: NewMessage,
    maxBytes: number,
    effects: AppendEffects = {},
    options: AppendWriteOptions = {},
  ): Promise<AppendResult> {
    return this.appender.append(sessionId, expectedSeq, message, maxBytes, effects, options);
  }

  setFeedback(
    sessionId: string,
    userId: string,
    messageId: string,
    rating: FeedbackRating,
    reason: string | undefined,
  ): Promise<FeedbackResult | undefined> {
    return this.feedback.setFeedback(sessionId, userId, messageId, rating, reason);
  }

  markSeen(sessionId: string, userId: string, messageId: string, now: Date): Promise<Date | undefined> {
    return this.feedback.markSeen(sessionId, userId, messageId, now);
  }

  rateTakeover(
    sessionId: string,
    userId: string,
    rating: number,
    comment: string | undefined,
    now: Date,
  ): Promise<CsatResult | undefined> {
    return this.feedback.rateTakeover(sessionId, userId, rating, comment, now);
  }

  // the session's fields, coalesced (SessionUpdates.update)
  update(...args: Parameters<SessionUpdates['update']>): Promise<void> {
    return this.updates.update(...args);
  }

  // unless its user deleted it (SessionUpdates.setModel)
  setModel(sessionId: string, modelId: string): Promise<void> {
    return this.updates.setModel(sessionId, modelId);
  }

  // a model's title, unless the owner named the session; true: renamed (SessionUpdates.retitle)
  retitle(sessionId: string, userId: string, name: string): Promise<boolean> {
    return this.updates.retitle(sessionId, userId, name);
  }

  search(
    query: string,
    scope: { userId?: string; includeDeleted: boolean },
    indexed: string[],
    limit = 20,
  ): Promise<SearchHit[]> {
    return this.lists.search(query, scope, indexed, limit);
  }

  reactivate(sessionId: string, userId: string, now: Date): ReturnType<SessionLifecycle['reactivate']> {
    return this.lifecycle.reactivate(sessionId, userId, now);
  }

  end(
    sessionId: string,
    endTime?: Date,
    idleBefore?: Date,
  ): Promise<{ seq: number; assisted: boolean } | undefined> {
    return this.lifecycle.end(sessionId, endTime, idleBefore);
  }

  touch(sessionId: string, now: Date): Promise<boolean> {
    return this.lifecycle.touch(sessionId, now);
  }

  findIdle(idleSince: Date, limit = 500): Promise<string[]> {
    return this.lifecycle.findIdle(idleSince, limit);
  }

  sessionsWithOldKeys(): AsyncGenerator<string> {
    return this.reencryption.sessionsWithOldKeys();
  }

  reencrypt(sessionId: string): Promise<{ messages: number; rewritten: boolean } | null> {
    return this.reencryption.reencrypt(sessionId);
  }

  namesWithOtherKeys(): AsyncGenerator<string> {
    return this.reencryption.namesWithOtherKeys();
  }

  reindexName(sessionId: string): Promise<boolean> {
    return this.reencryption.reindexName(sessionId);
  }

  async ping(): Promise<void> {
    await this.sessions.db.db?.admin().ping();
  }
}
