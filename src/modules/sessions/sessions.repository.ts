import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { bulkEach, coalescingLoader, insertEach } from '../../common/coalescing-loader';
import { BlindIndex, searchWords, textMatches } from '../../common/crypto/blind-index';
import { ContentCipher } from '../../common/crypto/content-cipher';
import { CurrentSessionsRepository } from './current-sessions.repository';
import { Session, type StoredMessage } from './schemas/session.schema';
import {
  dedupKey,
  DEFAULT_SESSION_NAME,
  openTurnAfter,
  type SessionCursor,
  storedSize,
} from './session-rules';
import type {
  AppendEffects,
  AppendOptions,
  AppendResult,
  AppendReturning,
  CsatRecord,
  FeedbackRating,
  FeedbackResult,
  MessageRecord,
  SearchHit,
  NewMessage,
  SessionHead,
  SessionRecord,
  SessionWithMessages,
} from './session.types';

export const CONTENT_CIPHER = Symbol('CONTENT_CIPHER');
export const BLIND_INDEX = Symbol('BLIND_INDEX');
// the message types whose text is searchable
export const SEARCHABLE: ReadonlySet<string> = new Set([
  'user_message',
  'voice_message',
  'file_upload',
  'ai_response',
]);
const HITS_PER_SESSION = 3;
const SNIPPET_CHARS = 140;
// the blind index (search_tokens) is only ever queried, never read back
const WITHOUT_INDEX = { search_tokens: 0 } as const;
const WITHOUT_MESSAGES = { messages: 0, search_tokens: 0 } as const;

type SessionDocument = Omit<Session, 'messages'> & { messages?: StoredMessage[] };

// statements per coalesced bulkWrite (docs/protocol.md, "Coalesced writes")
const BULK_STATEMENTS = 50;
// bulk writes of one kind in flight at once: FerretDB runs each command's statements one after the
// other, so two let it decode and encode large session documents on both cores
const BULK_IN_FLIGHT = 2;

// a write to one session, as a coalesced bulk sends it
interface SessionWrite {
  sessionId: string;
  filter: Record<string, unknown>;
  update: Record<string, unknown>;
}

// an append that returns nothing, as its batch sends it and answers it
interface PlainAppend extends SessionWrite {
  seq: number;
  messageId: string;
}

// a session to create: its id, owner, default name and model, when
export interface NewSession {
  id: string;
  userId: string;
  name: string;
  modelId: string;
  now: Date;
  console?: boolean;
}

// Mongoose lives here only. Every read of user data takes the owner id, except the explicit
// admin/system reads named as such. Content is encrypted on the way in and decrypted on the way out.
@Injectable()
export class SessionsRepository implements OnModuleInit {
  constructor(
    @InjectModel(Session.name) private readonly sessions: Model<Session>,
    private readonly current: CurrentSessionsRepository,
    @Inject(CONTENT_CIPHER) private readonly cipher: ContentCipher,
    @Inject(BLIND_INDEX) private readonly index: BlindIndex,
  ) {}

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

  // The schema's document for `input`, defaults and key order included, for an insert that goes to
  // the driver as the append does: mongoose's save, validation and hooks were most of a new user's
  // connect CPU in Node, and so was building a mongoose document for each (bench/README.md). The
  // defaults are taken from one mongoose document, once; the schema test holds the result to `create`.
  private defaults?: SessionDocument;

  private newDocument(input: NewSession): SessionDocument {
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

  private async insert(input: NewSession): Promise<SessionRecord> {
    const document = this.newDocument(input);
    await this.inserts.load(document);
    return this.toRecord(document);
  }

  // New sessions and heads read by id are coalesced (docs/protocol.md, "Opening a session"): the
  // sessions opened while one batch is in flight are inserted in one insertMany, and read in one
  // find of `_id: {$in}` (FerretDB pushes it down to the `_id` index), through the driver.
  private readonly inserts = coalescingLoader<SessionDocument, true>((documents) =>
    insertEach(this.sessions.collection, documents),
  );

  // Writes that return nothing are coalesced likewise, one unordered bulkWrite per batch (each
  // session's writes are serialized by its lock, so a batch never holds two of one session's):
  // - plain field updates (a rename, the model), answered per operation;
  //   (at most BULK_STATEMENTS per command: FerretDB 1.24, before update-per-statement.patch, hung on
  //   an update command of 100 statements or more)
  // - appends that return nothing (a reply, an event): their compare-and-set must be answered per
  //   append, which the bulk's counts do when every one was modified; otherwise, which is rare (a
  //   conflict, a full or missing session), the batch's logs are read, and an append was stored when
  //   its message is there at its seq (messages[i].seq === i + 1).
  private readonly updates = coalescingLoader<
    { filter: Record<string, unknown>; update: Record<string, unknown> },
    true
  >(
    async (writes) => (await bulkEach(() => this.updateEach(writes), writes.length)).answers,
    BULK_STATEMENTS,
    BULK_IN_FLIGHT,
  );

  private readonly plainAppends = coalescingLoader<PlainAppend, boolean>(
    (appends) =>
      this.updateEachAnswered(
        appends,
        { messages: 1 },
        (stored: { messages?: Array<{ id: string }> } | undefined, append) =>
          stored?.messages?.[append.seq - 1]?.id === append.messageId,
      ),
    BULK_STATEMENTS,
    BULK_IN_FLIGHT,
  );

  // A bulk of updateOnes answered per write: each was applied when the bulk modified them all;
  // otherwise (rare) the written sessions are read back (`projection`) and `applied` tells, per write.
  private async updateEachAnswered<W extends SessionWrite, D>(
    writes: readonly W[],
    projection: Record<string, 1>,
    applied: (stored: D | undefined, write: W) => boolean,
  ): Promise<Array<boolean | Error>> {
    const { answers, result } = await bulkEach(() => this.updateEach(writes), writes.length);
    if (result?.modifiedCount === writes.length) return answers;
    const found = (await this.sessions.collection
      .find(
        { _id: { $in: [...new Set(writes.map((write) => write.sessionId))] } } as Record<string, unknown>,
        {
          projection,
        },
      )
      .toArray()) as unknown as Array<D & { _id: string }>;
    const byId = new Map(found.map((stored) => [stored._id, stored]));
    return writes.map((write, index) => {
      const answer = answers[index];
      return answer === true ? applied(byId.get(write.sessionId), write) : answer;
    });
  }

  // one updateOne per write: alone, the command itself; else one unordered bulkWrite
  private async updateEach(
    writes: ReadonlyArray<{ filter: Record<string, unknown>; update: Record<string, unknown> }>,
  ): Promise<{ modifiedCount: number }> {
    const collection = this.sessions.collection;
    if (writes.length === 1) return collection.updateOne(writes[0].filter, writes[0].update);
    return collection.bulkWrite(
      writes.map(({ filter, update }) => ({ updateOne: { filter, update } })),
      { ordered: false },
    );
  }

  private readonly heads = coalescingLoader<string, SessionDocument | null>(async (ids) => {
    const found = (await this.sessions.collection
      .find({ _id: { $in: [...new Set(ids)] } } as Record<string, unknown>, { projection: WITHOUT_MESSAGES })
      .toArray()) as unknown as SessionDocument[];
    const byId = new Map(found.map((document) => [document._id, document]));
    return ids.map((id) => byId.get(id) ?? null);
  });

  // Two reads by `_id` (the user's pointer, then its session): on MongoDB as cheap as the indexed
  // query by user, and on FerretDB, which pushes down only `_id` filters, no scan of every session.
  async findActiveForUser(userId: string): Promise<SessionRecord | null> {
    const sessionId = await this.current.sessionOf(userId);
    return sessionId ? this.activeNamed(sessionId, userId) : null;
  }

  private async activeNamed(sessionId: string, userId: string): Promise<SessionRecord | null> {
    const found = ownedBy(await this.heads.load(sessionId), userId);
    return found?.is_active ? this.toRecord(found) : null;
  }

  async findOwned(sessionId: string, userId: string): Promise<SessionRecord | null> {
    const found = ownedBy(await this.heads.load(sessionId), userId);
    return found ? this.toRecord(found) : null;
  }

  async findOwnedWithMessages(sessionId: string, userId: string): Promise<SessionWithMessages | null> {
    const found = ownedBy(
      await this.sessions.findOne({ _id: sessionId }, WITHOUT_INDEX).lean<SessionDocument>(),
      userId,
    );
    return found ? this.withMessages(found) : null;
  }

  // system read (a module acting for the session, not for a user): any user's session
  async findAny(sessionId: string): Promise<SessionRecord | null> {
    const found = await this.sessions.findOne({ _id: sessionId }, WITHOUT_MESSAGES).lean<SessionDocument>();
    return found ? this.toRecord(found) : null;
  }

  // admin reads: any user's session
  async findAnyWithMessages(sessionId: string): Promise<SessionWithMessages | null> {
    const found = await this.sessions.findOne({ _id: sessionId }, WITHOUT_INDEX).lean<SessionDocument>();
    return found ? this.withMessages(found) : null;
  }

  // The message a client already sent with this key (`dedupKey`), looked up in code: FerretDB's
  // array filters cannot be trusted for it (store conformance suite).
  async findByDedup(sessionId: string, dedup: string, owner?: string): Promise<MessageRecord | undefined> {
    const found = await this.sessions
      .findOne({ _id: sessionId }, { messages: 1, user_id: 1 })
      .lean<SessionDocument>();
    if (!found || (owner !== undefined && found.user_id !== owner)) return undefined;
    const previous = found.messages?.find((stored) => stored.dedup === dedup);
    return previous ? this.decrypt(previous) : undefined;
  }

  async seqOf(sessionId: string): Promise<number | undefined> {
    const found = await this.sessions.findOne({ _id: sessionId }, { seq: 1 }).lean<{ seq: number }>();
    return found?.seq;
  }

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
    return found.map((document) => this.toRecord(document));
  }

  async messagesAfter(sessionId: string, userId: string, afterSeq: number): Promise<MessageRecord[]> {
    const found = ownedBy(
      await this.sessions.findOne({ _id: sessionId }, { messages: 1, user_id: 1 }).lean<SessionDocument>(),
      userId,
    );
    return (found?.messages ?? [])
      .filter((message) => message.seq > afterSeq)
      .map((message) => this.decrypt(message));
  }

  // system read (the client hub catching sockets up after a bus outage): any user's session
  async messagesAfterAny(sessionId: string, afterSeq: number): Promise<MessageRecord[]> {
    const found = await this.sessions.findOne({ _id: sessionId }, { messages: 1 }).lean<SessionDocument>();
    return (found?.messages ?? [])
      .filter((message) => message.seq > afterSeq)
      .map((message) => this.decrypt(message));
  }

  // Compare-and-set on `seq`: the message gets seq+1 only if nobody else stored one meanwhile, and
  // only once per client_id. Counters move in the same write, so a stored reply and its stats agree.
  // What comes back of the session (docs/protocol.md, "Coalesced writes"):
  // - `held`, the head as this instance holds it at expectedSeq: the write is also guarded on the
  //   fields a reply relies on (owner, model, assisting admin, name), so a stored append proves the
  //   copy right and the head is the copy's, at the new seq and time (and name, if it gave one). It
  //   goes in a shared bulk. A guard
  //   that fails (a write elsewhere that moved no seq) is explained as a conflict at expectedSeq;
  // - `returning: 'session'`: the document as written, in one findAndModify (the log is not held).
  async append(
    sessionId: string,
    expectedSeq: number,
    message: NewMessage,
    maxBytes: number,
    effects: AppendEffects = {},
    // `name`: set it in the same write, on condition the session still has the default name
    options: Pick<AppendOptions, 'owner' | 'takeover' | 'mirror'> & {
      returning?: AppendReturning;
      name?: string;
      held?: SessionHead;
    } = {},
  ): Promise<AppendResult> {
    const content = message.content === undefined ? undefined : this.cipher.encrypt(message.content);
    const size = storedSize(message, content);
    const seq = expectedSeq + 1;
    const dedup = dedupKey(message);
    // the schema's fields, named one by one: the append goes to the driver without mongoose's casting
    const stored = stripUndefined<StoredMessage>({
      id: message.id,
      seq,
      type: message.type,
      sender: message.sender,
      client_id: message.client_id,
      dedup,
      content,
      timestamp: message.timestamp,
      model_id: message.model_id,
      file_id: message.file_id,
      metadata: message.metadata,
    });
    // a takeover's join and leave are stored whatever the session's size: the mirror goes with them
    const bound = options.mirror ? Number.MAX_SAFE_INTEGER : maxBytes;
    const filter: Record<string, unknown> = {
      _id: sessionId,
      seq: expectedSeq,
      bytes: { $lte: bound - size },
    };
    const held = options.held;
    if (held) {
      // equality on each (null matches null or a missing field alike: store conformance suite)
      filter.user_id = held.user_id;
      filter.model_id = held.model_id;
      filter.assisting_admin_id = held.assisting_admin_id ?? null;
      filter.name = held.name;
    }
    // the owner's, whatever the copy says (another user's message finds no session: 'missing'), and
    // not deleted by them: a device still bound to it, on any instance, stores nothing there
    // (docs/protocol.md, "Session library"; top-level `$ne: true`: store conformance suite)
    if (options.owner !== undefined) {
      filter.user_id = options.owner;
      filter.deleted = { $ne: true };
    }
    // only within this takeover (an admin's message, admin_leave) or outside any (admin_join), as the
    // session mirrors it; the mirror changes only with such appends, under the session lock this one
    // holds (equality on a string and a date, or null: store conformance suite)
    if (options.takeover === null) filter.assisting_admin_id = null;
    else if (options.takeover) {
      filter.assisting_admin_id = options.takeover.adminId;
      filter.takeover_started_at = options.takeover.startedAt;
    }
    // admin_join only into a live session: one that ended while it was being claimed is not taken
    // over ('missing'; docs/protocol.md, "Takeover handoff")
    if (options.mirror && 'start' in options.mirror) filter.is_active = true;
    // a name given meanwhile (a rename on another instance) is never overwritten: the filter fails
    // and the failure is explained as 'named'
    if (options.name !== undefined) filter.name = DEFAULT_SESSION_NAME;
    // MongoDB's guard against a second copy; on FerretDB it matches anyway, and the check that holds
    // there is SessionsService.append's, under the session lock
    if (dedup) filter['messages.dedup'] = { $ne: dedup };
    const increments: Record<string, number> = { bytes: size };
    if (effects.countsAsMessage !== false) increments.message_count = 1;
    if (effects.usage) {
      increments.prompt_tokens = effects.usage.prompt_tokens;
      increments.completion_tokens = effects.usage.completion_tokens;
      increments.total_tokens = effects.usage.total_tokens;
    }
    const openTurn = openTurnAfter(message, seq);
    const mirror = options.mirror;
    const update: Record<string, unknown> = {
      $set: {
        seq,
        last_activity: message.timestamp,
        ...(effects.countsAsMessage !== false ? { last_message_at: message.timestamp } : {}),
        ...(openTurn !== undefined ? { open_turn_seq: openTurn } : {}),
        ...(options.name !== undefined
          ? { name: options.name, title_tokens: this.index.tokensOf(options.name) }
          : {}),
        ...(mirror && 'start' in mirror
          ? {
              admin_assisted: true,
              assisting_admin_id: mirror.start.adminId,
              assisting_admin_name: mirror.start.adminName,
              takeover_started_at: mirror.start.startedAt,
            }
          : {}),
        ...(mirror && 'end' in mirror
          ? { assisting_admin_id: null, takeover_started_at: null, takeover_lease_until: null }
          : {}),
      },
      $inc: increments,
      $push: {
        messages: stored,
        // the takeover's record stays on the session (admin_assisted and the admin's name stay too)
        ...(mirror && 'end' in mirror
          ? {
              takeovers: {
                admin_id: mirror.end.adminId,
                admin_name: mirror.end.adminName,
                start: mirror.end.startedAt,
                end: mirror.at,
              },
            }
          : {}),
      },
    };
    if (effects.response_ms !== undefined) {
      increments.response_count = 1;
      increments.response_ms_total = effects.response_ms;
      update.$max = { max_response_ms: effects.response_ms };
    }
    const done = (extra: { head?: SessionHead; session?: SessionWithMessages }): AppendResult => ({
      status: 'stored',
      message: { ...message, seq },
      named: options.name,
      ...extra,
    });
    // The hottest write (two per turn) goes to the driver directly: mongoose's casting of the filter,
    // the update and the reply cost more Node CPU than the rest of the append (bench/README.md).
    if (options.returning === 'session' && !held) {
      const written = (await this.sessions.collection.findOneAndUpdate(filter, update, {
        returnDocument: 'after',
      })) as SessionDocument | null;
      if (written) return done({ session: this.withMessages(written) });
    } else if (await this.plainAppends.load({ sessionId, seq, messageId: message.id, filter, update })) {
      return done(held ? { head: headOf(held, seq, message.timestamp, options.name) } : {});
    }
    return this.explainFailedAppend(sessionId, expectedSeq, dedup, size, bound, options);
  }

  private async explainFailedAppend(
    sessionId: string,
    expectedSeq: number,
    dedup: string | undefined,
    size: number,
    maxBytes: number,
    options: Pick<AppendOptions, 'owner' | 'takeover' | 'mirror'> & { name?: string },
  ): Promise<AppendResult> {
    const found = await this.sessions.findOne({ _id: sessionId }, WITHOUT_INDEX).lean<SessionDocument>();
    if (
      !found ||
      (options.owner !== undefined && (found.user_id !== options.owner || found.deleted === true))
    )
      return { status: 'missing' };
    if (options.mirror && 'start' in options.mirror && !found.is_active) return { status: 'missing' };
    const previous = dedup ? found.messages?.find((stored) => stored.dedup === dedup) : undefined;
    if (previous) return { status: 'duplicate', message: this.decrypt(previous) };
    if (found.bytes > maxBytes - size) return { status: 'full' };
    if (found.seq === expectedSeq && options.name !== undefined && found.name !== DEFAULT_SESSION_NAME)
      return { status: 'named' };
    if (options.takeover !== undefined && !withinTakeover(found, options.takeover))
      return { status: 'unassisted' };
    return { status: 'conflict', currentSeq: found.seq };
  }

  // A rating on one reply of the owner's session, and the session's counts, in one write; the caller
  // holds the session lock (the index of the message cannot move meanwhile).
  async setFeedback(
    sessionId: string,
    userId: string,
    messageId: string,
    rating: FeedbackRating,
    reason: string | undefined,
  ): Promise<FeedbackResult | undefined> {
    const found = ownedBy(
      await this.sessions
        .findOne({ _id: sessionId }, { messages: 1, user_id: 1, feedback_up: 1, feedback_down: 1 })
        .lean<SessionDocument>(),
      userId,
    );
    const index = found?.messages?.findIndex((stored) => stored.id === messageId) ?? -1;
    const target = index >= 0 ? found?.messages?.[index] : undefined;
    if (!found || !target || target.type !== 'ai_response') return undefined;
    const value = target.metadata?.feedback;
    const previous = value === 'up' || value === 'down' ? value : undefined;
    const count = (kind: FeedbackRating, now: number | undefined) =>
      Math.max(0, (now ?? 0) - (previous === kind ? 1 : 0) + (rating === kind ? 1 : 0));
    const set: Record<string, unknown> = {
      [`messages.${index}.metadata.feedback`]: rating,
      feedback_up: count('up', found.feedback_up),
      feedback_down: count('down', found.feedback_down),
    };
    const update: Record<string, unknown> = { $set: set };
    if (reason) set[`messages.${index}.feedback_reason`] = this.cipher.encrypt(reason);
    else update.$unset = { [`messages.${index}.feedback_reason`]: '' };
    await this.sessions.updateOne({ _id: sessionId }, update);
    return { modelId: target.model_id, previous };
  }

  // Read receipt: the owner has seen an admin's message (first time only). The caller holds the
  // session lock. The time it was first seen, or undefined when there is no such admin message.
  async markSeen(sessionId: string, userId: string, messageId: string, now: Date): Promise<Date | undefined> {
    const found = ownedBy(
      await this.sessions.findOne({ _id: sessionId }, { user_id: 1, messages: 1 }).lean<SessionDocument>(),
      userId,
    );
    const index = found?.messages?.findIndex((stored) => stored.id === messageId) ?? -1;
    const target = index >= 0 ? found?.messages?.[index] : undefined;
    if (!target || target.sender !== 'admin') return undefined;
    const seen = target.metadata?.seen_at;
    if (typeof seen === 'string') return new Date(seen);
    await this.sessions.updateOne(
      { _id: sessionId },
      { $set: { [`messages.${index}.metadata.seen_at`]: now.toISOString() } },
    );
    return now;
  }

  // The owner rates the takeover that ended last (the caller holds the session lock); a second rating
  // of the same takeover replaces the first. Undefined when no takeover of this session has ended.
  async rateTakeover(
    sessionId: string,
    userId: string,
    rating: number,
    comment: string | undefined,
    now: Date,
  ): Promise<CsatRecord | undefined> {
    const found = ownedBy(
      await this.sessions
        .findOne({ _id: sessionId }, { user_id: 1, takeovers: 1, csat: 1 })
        .lean<SessionDocument>(),
      userId,
    );
    const takeover = found?.takeovers?.filter((entry) => entry.end).at(-1);
    if (!found || !takeover) return undefined;
    const start = new Date(takeover.start);
    const record: CsatRecord = {
      admin_id: takeover.admin_id,
      ...(takeover.admin_name ? { admin_name: takeover.admin_name } : {}),
      takeover_start: start,
      rating,
      at: now,
    };
    const stored = { ...record, ...(comment ? { comment: this.cipher.encrypt(comment) } : {}) };
    const csat = (found.csat ?? []).filter(
      (entry) => new Date(entry.takeover_start).getTime() !== start.getTime(),
    );
    await this.sessions.updateOne({ _id: sessionId }, { $set: { csat: [...csat, stored] } });
    return { ...record, ...(comment ? { comment } : {}) };
  }

  async update(
    sessionId: string,
    changes: Partial<
      Pick<
        Session,
        'name' | 'named_by_user' | 'model_id' | 'provider_state' | 'archived' | 'deleted' | 'deleted_at'
      >
    >,
  ): Promise<void> {
    const set: Record<string, unknown> = { ...changes };
    if (changes.name !== undefined) set.title_tokens = this.index.tokensOf(changes.name);
    // to the driver directly, as the append: the fields are typed here, and mongoose's casting of the
    // update cost more Node CPU than the command itself (a rename per new session: the model's title)
    await this.updates.load({ filter: { _id: sessionId }, update: { $set: set } });
  }

  // A model's title, unless the owner named the session (or it is gone for them): one write whose
  // filter is the check, coalesced as renames are (docs/protocol.md, "Session titles"). true: renamed.
  retitle(sessionId: string, userId: string, name: string): Promise<boolean> {
    return this.titles.load({
      sessionId,
      name,
      filter: { _id: sessionId, user_id: userId, named_by_user: { $ne: true }, deleted: { $ne: true } },
      update: { $set: { name, title_tokens: this.index.tokensOf(name) } },
    });
  }

  // Answered per title: an owner's name refuses it (so does a title equal to the name it had, which
  // modifies nothing; it is answered by the name read back, as renamed)
  private readonly titles = coalescingLoader<SessionWrite & { name: string }, boolean>(
    (titles) =>
      this.updateEachAnswered(
        titles,
        { name: 1 },
        (stored: { name?: string } | undefined, title) => stored?.name === title.name,
      ),
    BULK_STATEMENTS,
    BULK_IN_FLIGHT,
  );

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
    const tokens = this.index.queryTokens(query);
    if (tokens.length === 0) return [];
    const filter: Record<string, unknown> = {
      $or: [
        ...(indexed.length > 0 ? [{ _id: { $in: indexed } }] : []),
        { search_tokens: { $all: tokens } },
        { title_tokens: { $all: tokens } },
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

  // a found session's newest messages matching the words (or the session alone: its name matched)
  private hitsIn(document: SessionDocument, words: string[]): SearchHit[] {
    const base = { session_id: document._id, session_name: document.name, user_id: document.user_id };
    // the session's newest matching messages, matched on their text as their tokens would be
    const matching: MessageRecord[] = [];
    const messages = document.messages ?? [];
    for (let at = messages.length - 1; at >= 0 && matching.length < HITS_PER_SESSION; at--) {
      if (!SEARCHABLE.has(messages[at].type) || !messages[at].content) continue;
      const message = this.decrypt(messages[at]);
      if (textMatches(message.content ?? '', words)) matching.push(message);
    }
    if (matching.length === 0) return [base];
    return matching.map((message) => ({
      ...base,
      message_id: message.id,
      seq: message.seq,
      sender: message.sender,
      timestamp: message.timestamp,
      snippet: snippet(message.content ?? '', words),
    }));
  }

  async reactivate(sessionId: string, userId: string, now: Date): Promise<void> {
    await this.sessions.updateOne(
      { _id: sessionId },
      { $set: { is_active: true, end_time: null, duration_ms: null, last_activity: now } },
    );
    await this.current.set(userId, sessionId, now);
  }

  // Ends a session; end_time is the last activity, so a swept session's duration is its real use.
  // The ended session's seq, undefined when it was not active.
  async end(sessionId: string, endTime?: Date): Promise<number | undefined> {
    const found = await this.sessions
      .findOne({ _id: sessionId, is_active: true }, { start_time: 1, last_activity: 1, seq: 1 })
      .lean<SessionDocument>();
    if (!found) return undefined;
    const end = endTime ?? found.last_activity;
    const result = await this.sessions.updateOne(
      { _id: sessionId, is_active: true },
      {
        $set: {
          is_active: false,
          end_time: end,
          duration_ms: Math.max(0, end.getTime() - new Date(found.start_time).getTime()),
        },
      },
    );
    return result.modifiedCount === 1 ? found.seq : undefined;
  }

  // One session by its exact `_id` (FerretDB reads `_id: {$in}` by scanning every session).
  async touch(sessionId: string, now: Date): Promise<void> {
    await this.sessions.updateOne({ _id: sessionId, is_active: true }, { $set: { last_activity: now } });
  }

  async findIdle(idleSince: Date, limit = 500): Promise<string[]> {
    const found = await this.sessions
      .find({ is_active: true, last_activity: { $lt: idleSince } }, { _id: 1 })
      .limit(limit)
      .lean<Array<{ _id: string }>>();
    return found.map((document) => document._id);
  }

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

  async ping(): Promise<void> {
    await this.sessions.db.db?.admin().ping();
  }

  private withMessages(document: SessionDocument): SessionWithMessages {
    return {
      ...this.toRecord(document),
      messages: (document.messages ?? []).map((message) => this.decrypt(message)),
    };
  }

  private decrypt(stored: StoredMessage): MessageRecord {
    const { dedup: _dedup, search: _search, feedback_reason, ...message } = stored;
    return {
      ...message,
      ...(feedback_reason ? { feedback_reason: this.cipher.decrypt(feedback_reason) } : {}),
      timestamp: new Date(message.timestamp),
      content:
        message.content === undefined || message.content === null
          ? undefined
          : this.cipher.decrypt(message.content),
    };
  }

  private toRecord(document: SessionDocument): SessionRecord {
    const { _id, messages: _messages, search_tokens: _index, response_ms_total, ...rest } = document;
    return {
      ...rest,
      id: _id,
      avg_response_ms: rest.response_count > 0 ? Math.round(response_ms_total / rest.response_count) : 0,
      provider_state: rest.provider_state ?? {},
    } as SessionRecord;
  }
}

// the head the copy had, after an append (its seq and time, and the name it gave)
function headOf(held: SessionHead, seq: number, at: Date, named?: string): SessionHead {
  const { id, user_id, name, model_id, assisting_admin_id } = held;
  return { id, user_id, name: named ?? name, model_id, seq, assisting_admin_id, last_activity: at };
}

// Owner reads filter on `_id` alone and check the owner on the result: FerretDB uses its index
// only for an exact `{_id}` filter (anything more scans every session); the owner is still required.
// A session its user deleted is gone for them (admins still read it).
function ownedBy<T extends { user_id: string; deleted?: boolean }>(
  document: T | null,
  userId: string,
): T | null {
  return document && document.user_id === userId && document.deleted !== true ? document : null;
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as T;
}

// The text around the first query word found (case-insensitively), for a result list.
function snippet(content: string, words: string[]): string {
  const lower = content.toLowerCase();
  const at = Math.max(
    0,
    Math.min(...words.map((word) => lower.indexOf(word)).filter((index) => index >= 0), Infinity),
  );
  const start = Number.isFinite(at) ? Math.max(0, at - SNIPPET_CHARS / 3) : 0;
  const text = content
    .slice(start, start + SNIPPET_CHARS)
    .replace(/\s+/g, ' ')
    .trim();
  return `${start > 0 ? '…' : ''}${text}${start + SNIPPET_CHARS < content.length ? '…' : ''}`;
}

// the session mirrors this very takeover (its admin and its start): an admin's message may be stored
// (null: the session mirrors no takeover)
function withinTakeover(
  found: Pick<SessionDocument, 'assisting_admin_id' | 'takeover_started_at'>,
  takeover: AppendOptions['takeover'],
): boolean {
  if (takeover === null) return !found.assisting_admin_id;
  return (
    found.assisting_admin_id === takeover?.adminId &&
    found.takeover_started_at?.getTime() === takeover.startedAt.getTime()
  );
}
