import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { SETTINGS, type Settings } from '../../config/settings';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { InProcessLock } from '../../infra/lock/in-process.lock';
import { SESSION_LOCK } from '../../infra/lock/lock';
import { WriteLock } from '../../infra/lock/write.lock';
import { AssistanceRepository } from './assistance.repository';
import {
  dedupKey,
  DEFAULT_SESSION_NAME,
  isRestorable,
  nameFromFirstMessage,
  needsTouch,
  type SessionCursor,
} from './session-rules';
import type {
  AssistanceState,
  AppendEffects,
  AppendOptions,
  FeedbackRating,
  FeedbackResult,
  MessageRecord,
  SearchHit,
  NewMessage,
  SessionRecord,
  SessionWithMessages,
  WrittenSession,
  SessionHead,
} from './session.types';
import { type NewSession, SessionsRepository } from './sessions.repository';
import { SessionTermsIndexer } from './session-terms.indexer';
import { newId } from '../../common/ids';
import { HeldLogs } from './held-logs';

// sessions kept with their messages for replies started early: at most this many, holding at most
// this much text (a session may hold up to MAX_SESSION_BYTES)
const SNAPSHOTS_KEPT = 256;
const SNAPSHOT_BYTES = 64 * 1024 * 1024;
const APPEND_ATTEMPTS = 8;
// the newest sessions whose index holds a query's words, of which the undeleted ones are shown
const SEARCH_CANDIDATES = 200;
// sessions per page of a user's list (GET /chat/sessions), and its default
export const LIST_PAGE = 100;
// client_id keys outlive any resend by far (a resend comes within seconds)

export interface OpenedSession {
  session: SessionRecord;
  restored: boolean;
  // the session this user had active before, when opening ended it
  replaced?: string;
}

// Session lifecycle (open, restore, new, end) and the ordered, exactly-once message log.
@Injectable()
export class SessionsService {
  private readonly logger = new Logger('sessions');
  // last seq this instance saw per session; a stale value (another instance wrote since) only costs
  // one compare-and-set retry, which is exact because it runs under the session lock
  private readonly seqCache = new Map<string, number>();
  // The newest sessions as this instance's own appends left them, messages included, so a reply
  // can start while its message is being stored (docs/protocol.md, "Early start"). Kept under the
  // session lock by the appends themselves; another instance's write shows as a seq this copy
  // lacks, which ReplyService checks. Bounded: the least recently written go first.
  private readonly snapshots = new HeldLogs(SNAPSHOTS_KEPT, SNAPSHOT_BYTES);
  // when this instance last set a session's last_activity (an append, a touch, its creation): the
  // sweep skips sessions written recently enough (needsTouch); pruned by every sweep to the
  // sessions that still have sockets here
  private readonly writtenAt = new Map<string, number>();
  // told of every session this instance ends (the takeover module ends a takeover of it)
  private readonly endedHandlers: Array<(sessionId: string) => void> = [];
  // the sessions the last sweep found unused here (keepLive)
  private unused = new Set<string>();

  constructor(
    private readonly repository: SessionsRepository,
    private readonly assistance: AssistanceRepository,
    @Inject(SETTINGS) private readonly settings: Settings,
    // every write to a session document holds its lock, across all instances (docs/protocol.md,
    // "The store"): FerretDB applies concurrent updates of one document as read-modify-write
    @Optional()
    @Inject(SESSION_LOCK)
    private readonly lock: WriteLock = new WriteLock(new InProcessLock(), () => Promise.resolve()),
    // the search index, written apart from the session after each turn (docs/protocol.md, "Search")
    @Optional() private readonly terms?: SessionTermsIndexer,
  ) {
    this.terms?.attach({
      // the index has a lock of its own: its write (thousands of tokens in a long session) never
      // holds up the session's next append
      lock: (sessionId, task) => this.lock.run(`terms:${sessionId}`, task),
      log: async (sessionId, atLeast = 0) => {
        const held = this.snapshots.get(sessionId);
        if (held && held.seq === this.seqCache.get(sessionId) && held.seq >= atLeast) return held;
        return this.repository.findAnyWithMessages(sessionId);
      },
    });
  }

  private userLock<T>(userId: string, task: () => Promise<T>): Promise<T> {
    return this.lock.run(`user:${userId}`, task);
  }

  // Every write to a session document runs here. One that fails with an error after which the store
  // may still run it keeps the lock until the store answers again (WriteLock; docs/protocol.md, "A
  // write given up on"), and what this instance holds of the session is dropped (it may have landed).
  private sessionLock<T>(sessionId: string, task: () => Promise<T>): Promise<T> {
    return this.lock.run(`session:${sessionId}`, task, () => {
      this.seqCache.delete(sessionId);
      this.snapshots.delete(sessionId);
    });
  }

  // `console`: an admin's dashboard socket, whose session is no conversation (not in admin figures)
  open(
    userId: string,
    requestedSessionId: string | undefined,
    defaultModelId: string,
    options: { console?: boolean } = {},
  ): Promise<OpenedSession> {
    return this.userLock(userId, async () => {
      const now = new Date();
      if (requestedSessionId) {
        const requested = await this.repository.findOwned(requestedSessionId, userId);
        if (!requested) throw new DomainException(ErrorCode.NOT_FOUND, 'Session not found.');
        if (requested.is_active) return { session: requested, restored: true };
        // resuming an ended session makes it the user's one active session again
        const active = await this.repository.findActiveForUser(userId);
        if (active) await this.end(active.id, now);
        await this.sessionLock(requested.id, () => this.repository.reactivate(requested.id, userId, now));
        return {
          session: { ...requested, is_active: true, end_time: null, duration_ms: null },
          restored: true,
          replaced: active?.id,
        };
      }
      // a new user's first session is made in the command that finds they have none
      const first = this.newSession(userId, defaultModelId, now, options.console);
      const { active, created } = await this.repository.activeOrFirst(first);
      if (created) return { session: this.created(created), restored: false };
      if (active && isRestorable(active, now, this.settings.reconnectTimeoutMs))
        return { session: active, restored: true };
      if (active) await this.end(active.id);
      const session = await this.create(userId, defaultModelId, now, options.console);
      return { session, restored: false, replaced: active?.id };
    });
  }

  startNew(userId: string, modelId: string): Promise<OpenedSession> {
    return this.userLock(userId, async () => {
      const now = new Date();
      const active = await this.repository.findActiveForUser(userId);
      if (active) await this.end(active.id, now);
      const session = await this.create(userId, modelId, now);
      return { session, restored: false, replaced: active?.id };
    });
  }

  private async create(
    userId: string,
    modelId: string,
    now: Date,
    console?: boolean,
  ): Promise<SessionRecord> {
    return this.created(await this.repository.create(this.newSession(userId, modelId, now, console)));
  }

  private newSession(userId: string, modelId: string, now: Date, console?: boolean): NewSession {
    return { id: newId(), userId, name: DEFAULT_SESSION_NAME, modelId, now, console };
  }

  // a session just stored: this instance holds its (empty) log from the start
  private created(session: SessionRecord): SessionRecord {
    this.seqCache.set(session.id, 0);
    this.writtenAt.set(session.id, session.start_time.getTime());
    // a new session has no index yet: its first index write needs no read
    this.terms?.known(session.id, 0);
    this.keepSnapshot(session.id, undefined, { ...session, messages: [] });
    this.logger.log(
      { user_id: session.user_id, session_id: session.id, event: 'session_created' },
      'session created',
    );
    return session;
  }

  // Stores one event of the session log. Same client_id twice → the first stored message, once,
  // whichever instance each copy reached. With `withSession`, a stored message comes back with its
  // session as written (messages included).
  append(
    sessionId: string,
    message: Omit<NewMessage, 'id'> & { id?: string },
    effects?: AppendEffects,
    options?: AppendOptions,
  ) {
    return this.sessionLock(
      sessionId,
      async (): Promise<{
        message: MessageRecord;
        duplicate: boolean;
        session?: WrittenSession;
        named?: string;
      }> => {
        const full: NewMessage = { ...message, id: message.id ?? newId() };
        const dedup = dedupKey(full);
        const previous = dedup ? await this.sentBefore(sessionId, dedup, options?.owner) : undefined;
        if (previous) return { message: previous, duplicate: true };
        return this.appendLocked(sessionId, full, effects, options);
      },
    );
  }

  // The message a client already sent with this client_id, looked up in the session's log in code
  // (FerretDB's array filters cannot: store conformance suite). Under the session lock only appends
  // move seq, so the log this instance holds is the store's when its seq is the one the next append
  // expects: then no command is needed. Otherwise the log is read once and held from then on. A copy
  // that turns out old shows at the append, whose compare-and-set fails and whose failure is
  // explained from the stored log (a resend found there is a duplicate): docs/protocol.md, "The store".
  private async sentBefore(
    sessionId: string,
    dedup: string,
    owner?: string,
  ): Promise<MessageRecord | undefined> {
    let log = this.snapshots.get(sessionId);
    if (!log || log.seq !== this.seqCache.get(sessionId)) {
      const read =
        owner !== undefined
          ? await this.repository.findOwnedWithMessages(sessionId, owner)
          : await this.repository.findAnyWithMessages(sessionId);
      // not this owner's (or gone): the append says so
      if (!read) return undefined;
      log = read;
      this.seqCache.set(sessionId, read.seq);
      this.keepSnapshot(sessionId, undefined, read);
    }
    return log.messages.find((stored) => dedupKey(stored) === dedup);
  }

  private async appendLocked(
    sessionId: string,
    full: NewMessage,
    effects?: AppendEffects,
    options?: AppendOptions,
  ): Promise<{ message: MessageRecord; duplicate: boolean; session?: WrittenSession; named?: string }> {
    let expected = this.seqCache.get(sessionId) ?? (await this.currentSeq(sessionId));
    // the name is made once, and only for a session this instance holds with the default name
    let naming = options?.nameFrom;
    let madeName: string | undefined;
    for (let attempt = 0; attempt < APPEND_ATTEMPTS; attempt++) {
      // the log up to `expected` is held here (only appends move seq, and this instance made the
      // last one): the write is guarded on the copy's head and goes in a shared bulk, and the
      // session as written is the copy plus this message (docs/protocol.md, "Coalesced writes")
      const held = this.snapshots.get(sessionId);
      // a write guarded on the takeover uses a copy only when it mirrors the same one, and a write
      // that changes the mirror none (the written session comes back from the store)
      const current = held?.seq === expected && usableFor(held, options) ? held : undefined;
      const heldLog = options?.withSession ? current?.messages : undefined;
      // the name goes with the message when the copy says the session has none; a name given
      // elsewhere meanwhile fails the write's filter ('named'), which is then made without it
      if (naming !== undefined && current?.name === DEFAULT_SESSION_NAME)
        madeName ??= nameFromFirstMessage(naming);
      // a text of markdown marks alone gives no name
      const name =
        naming !== undefined && current?.name === DEFAULT_SESSION_NAME && madeName !== DEFAULT_SESSION_NAME
          ? madeName
          : undefined;
      const result = await this.repository.append(
        sessionId,
        expected,
        full,
        this.settings.maxSessionBytes,
        effects,
        {
          owner: options?.owner,
          returning: options?.withSession ? 'session' : 'nothing',
          held: heldLog ? current : undefined,
          name,
          takeover: options?.takeover,
          mirror: options?.mirror,
        },
      );
      switch (result.status) {
        case 'stored': {
          const session =
            result.head && heldLog
              ? { ...result.head, messages: [...heldLog, result.message] }
              : result.session;
          this.seqCache.set(sessionId, result.message.seq);
          this.writtenAt.set(sessionId, full.timestamp.getTime());
          this.keepSnapshot(sessionId, result.message, session);
          this.terms?.stored(sessionId, result.message);
          // a copy extended here (no session came back) still has the default name
          const kept = this.snapshots.get(sessionId);
          if (result.named !== undefined && kept && kept.name !== result.named)
            this.snapshots.set(sessionId, { ...kept, name: result.named });
          return { message: result.message, duplicate: false, session, named: result.named };
        }
        case 'named':
          // the copy's name is not the store's any more
          this.snapshots.delete(sessionId);
          naming = undefined;
          break;
        case 'duplicate':
          return { message: result.message, duplicate: true };
        case 'unassisted':
          throw new DomainException(ErrorCode.SESSION_LOCKED, 'You no longer hold this session.');
        case 'full':
          throw new DomainException(ErrorCode.SESSION_FULL);
        case 'missing':
          throw new DomainException(ErrorCode.NOT_FOUND, 'Session not found.');
        case 'conflict':
          // at the same seq, the copy's guard failed (a takeover, a model or a name set elsewhere):
          // the next attempt reads the session as it is
          if (result.currentSeq === expected) this.snapshots.delete(sessionId);
          expected = result.currentSeq;
      }
    }
    throw new DomainException(ErrorCode.INTERNAL, 'Could not store the message; please retry.');
  }

  // `handler` hears of each session ended here (a new chat, a delete, another resumed, idle), after
  // the write; it must not throw
  onEnded(handler: (sessionId: string) => void): void {
    this.endedHandlers.push(handler);
  }

  private async end(sessionId: string, endTime?: Date): Promise<boolean> {
    const ended = await this.sessionLock(sessionId, async () => {
      const seq = await this.repository.end(sessionId, endTime);
      // an ended session's index is made whole: messages an instance stored and died before
      // indexing are indexed here, if no later message did it (docs/protocol.md, "Search")
      if (seq !== undefined) this.terms?.settle(sessionId, seq);
      return seq !== undefined;
    });
    if (ended) for (const handler of this.endedHandlers) handler(sessionId);
    return ended;
  }

  // Runs a write to the session document under the session lock, after and before appends on every
  // instance (FerretDB applies updates as read-modify-write: two writes must never interleave).
  exclusive<T>(sessionId: string, task: () => Promise<T>): Promise<T> {
    return this.sessionLock(sessionId, task);
  }

  private async currentSeq(sessionId: string): Promise<number> {
    return (await this.repository.seqOf(sessionId)) ?? 0;
  }

  lastSeq(sessionId: string): number | undefined {
    return this.seqCache.get(sessionId);
  }

  // Seeds the seq cache from a freshly read session (only ever moves forward).
  remember(session: SessionRecord): void {
    if ((this.seqCache.get(session.id) ?? -1) < session.seq) this.seqCache.set(session.id, session.seq);
  }

  forget(sessionId: string): void {
    this.seqCache.delete(sessionId);
    this.snapshots.delete(sessionId);
    this.writtenAt.delete(sessionId);
  }

  // The session as this instance last wrote it (messages included), when it still has it.
  snapshot(sessionId: string): WrittenSession | undefined {
    return this.snapshots.get(sessionId);
  }

  // Under the session lock, after a stored append: the document as written, or the copy with the
  // message added when the copy was current; otherwise the copy is dropped.
  private keepSnapshot(sessionId: string, message?: MessageRecord, written?: WrittenSession): void {
    const held = this.snapshots.get(sessionId);
    this.snapshots.delete(sessionId);
    let next = written;
    if (!next && held && message && held.seq === message.seq - 1)
      next = {
        ...held,
        seq: message.seq,
        last_activity: message.timestamp,
        messages: [...held.messages, message],
      };
    if (!next) return;
    this.snapshots.set(sessionId, next);
  }

  // A write of this instance outside the log's seq, made to the copy it holds too (under the session
  // lock, after the store took it): the next append's guards hold (docs/protocol.md, "Coalesced
  // writes"). A write it misses (another instance's) fails those guards, and the copy is dropped.
  private amend(sessionId: string, changes: Partial<SessionHead>): void {
    const held = this.snapshots.get(sessionId);
    if (held) this.snapshots.set(sessionId, { ...held, ...changes });
  }

  getOwned(sessionId: string, userId: string): Promise<SessionRecord | null> {
    return this.repository.findOwned(sessionId, userId);
  }

  // system reads: for the session itself (a takeover ending, the hub catching sockets up), not a user
  getAny(sessionId: string): Promise<SessionRecord | null> {
    return this.repository.findAny(sessionId);
  }

  storedAfter(sessionId: string, afterSeq: number): Promise<MessageRecord[]> {
    return this.repository.messagesAfterAny(sessionId, afterSeq);
  }

  messagesAfter(sessionId: string, userId: string, afterSeq: number): Promise<MessageRecord[]> {
    return this.repository.messagesAfter(sessionId, userId, afterSeq);
  }

  async nameFromFirstMessage(session: SessionHead, content: string): Promise<string | undefined> {
    if (session.name !== DEFAULT_SESSION_NAME) return undefined;
    const name = nameFromFirstMessage(content);
    await this.sessionLock(session.id, async () => {
      await this.repository.update(session.id, { name });
      this.amend(session.id, { name });
    });
    return name;
  }

  // Writes to one session document go through the session's queue, as appends do: FerretDB 1.24
  // (SQLite) applies concurrent updates of one document as read-modify-write and loses all but one.
  // writes outside the log's seq drop the session's snapshot: a reply started early never relies
  // on a copy older than them (ReplyService checks model and takeover on the stored session too)
  setModel(sessionId: string, modelId: string): Promise<void> {
    this.snapshots.delete(sessionId);
    return this.sessionLock(sessionId, () => this.repository.update(sessionId, { model_id: modelId }));
  }

  // A user's rating of a reply in their session; undefined when there is no such reply.
  setFeedback(
    sessionId: string,
    userId: string,
    messageId: string,
    rating: FeedbackRating,
    reason?: string,
  ): Promise<FeedbackResult | undefined> {
    return this.sessionLock(sessionId, () =>
      this.repository.setFeedback(sessionId, userId, messageId, rating, reason),
    );
  }

  // The owner's changes to one of their sessions (issue 15): false when it is not theirs (or deleted).
  async updateOwned(
    sessionId: string,
    userId: string,
    changes: { name?: string; archived?: boolean },
  ): Promise<boolean> {
    return this.sessionLock(sessionId, async () => {
      if (!(await this.repository.findOwned(sessionId, userId))) return false;
      // a name the owner gives is theirs: a model's title, even one asked for before, never replaces it
      if (changes.name === undefined) await this.repository.update(sessionId, changes);
      else {
        await this.repository.update(sessionId, { ...changes, named_by_user: true });
        this.amend(sessionId, { name: changes.name });
      }
      return true;
    });
  }

  // Soft delete: ended if active, then hidden from its user everywhere; admins still see it.
  // undefined: not theirs (or deleted already); `ended`: it was their active session.
  async softDelete(sessionId: string, userId: string): Promise<{ ended: boolean } | undefined> {
    return this.userLock(userId, async () => {
      const session = await this.repository.findOwned(sessionId, userId);
      if (!session) return undefined;
      if (session.is_active) await this.end(sessionId, new Date());
      await this.sessionLock(sessionId, () =>
        this.repository.update(sessionId, { deleted: true, deleted_at: new Date() }),
      );
      this.seqCache.delete(sessionId);
      this.logger.log(
        { user_id: userId, session_id: sessionId, event: 'session_deleted' },
        'session deleted',
      );
      return { ended: session.is_active };
    });
  }

  // Search by blind index: a user's own sessions, or for an admin every session (or one user's).
  async search(query: string, reader: { userId?: string; isAdmin: boolean }): Promise<SearchHit[]> {
    // this instance's due index writes first: a search finds what its reader just sent here
    await this.terms?.flush();
    const indexed = (await this.terms?.matching(query, reader.userId, SEARCH_CANDIDATES)) ?? [];
    return this.repository.search(query, { userId: reader.userId, includeDeleted: reader.isAdmin }, indexed);
  }

  markSeen(sessionId: string, userId: string, messageId: string): Promise<Date | undefined> {
    return this.sessionLock(sessionId, () =>
      this.repository.markSeen(sessionId, userId, messageId, new Date()),
    );
  }

  // CSAT: the owner's 1-5 rating (and comment) of the takeover that ended last.
  rateTakeover(sessionId: string, userId: string, rating: number, comment?: string) {
    return this.sessionLock(sessionId, () =>
      this.repository.rateTakeover(sessionId, userId, rating, comment, new Date()),
    );
  }

  // A model's title for the session (docs/protocol.md, "Session titles"): it names the session unless
  // the owner named it, before or while the title was asked for. The check is the write's filter, under
  // the session lock as the owner's rename is (FerretDB applies an update as an unlocked
  // read-modify-write), so neither overwrites the other unseen. false: not renamed.
  retitle(sessionId: string, userId: string, name: string): Promise<boolean> {
    return this.sessionLock(sessionId, async () => {
      const renamed = await this.repository.retitle(sessionId, userId, name);
      if (renamed) this.amend(sessionId, { name });
      return renamed;
    });
  }

  // Vendor-side state per model (Dify's conversation_id); replies of a session run one at a time,
  // so this read-modify-write has no concurrent writer of provider_state.
  setProviderState(
    sessionId: string,
    userId: string,
    modelId: string,
    state: Record<string, unknown>,
  ): Promise<void> {
    return this.sessionLock(sessionId, async () => {
      const session = await this.repository.findOwned(sessionId, userId);
      if (!session) return;
      await this.repository.update(sessionId, {
        provider_state: { ...session.provider_state, [stateKey(modelId)]: state },
      });
    });
  }

  providerState(session: SessionRecord, modelId: string): Record<string, unknown> | undefined {
    const state = session.provider_state[stateKey(modelId)];
    return typeof state === 'object' && state !== null ? (state as Record<string, unknown>) : undefined;
  }

  // Help and takeover fields of the session document, each write under the session lock.
  assistanceState(sessionId: string): Promise<AssistanceState | null> {
    return this.assistance.state(sessionId);
  }

  // An admin joined: the pending help request was answered after `responseMs`.
  answerHelp(sessionId: string, requestedAt: Date, responseMs: number): Promise<void> {
    return this.sessionLock(sessionId, () => this.assistance.answerHelp(sessionId, requestedAt, responseMs));
  }

  markHelpRequested(sessionId: string, userId: string, at: Date, pending: boolean): Promise<void> {
    return this.sessionLock(sessionId, () =>
      this.assistance.markHelpRequested(sessionId, userId, at, pending),
    );
  }

  // the owner's sessions (newest first; a page of LIST_PAGE at most unless asked for fewer, after
  // `before`) and one session with its messages, for the REST API
  listForUser(
    userId: string,
    page: { archived?: boolean; limit?: number; before?: SessionCursor } = {},
  ): Promise<SessionRecord[]> {
    return this.repository.listForUser(userId, {
      limit: Math.min(page.limit ?? LIST_PAGE, LIST_PAGE),
      archived: page.archived ?? false,
      before: page.before,
    });
  }

  withMessages(
    sessionId: string,
    reader: { userId: string; isAdmin: boolean },
  ): Promise<SessionWithMessages | null> {
    return reader.isAdmin
      ? this.repository.findAnyWithMessages(sessionId)
      : this.repository.findOwnedWithMessages(sessionId, reader.userId);
  }

  // last_activity = now (the last device of a session left: its reconnect window starts now)
  async touch(sessionIds: string[], now = new Date()): Promise<void> {
    await Promise.all(
      sessionIds.map((id) =>
        this.sessionLock(id, async () => {
          await this.repository.touch(id, now);
          this.writtenAt.set(id, now.getTime());
        }),
      ),
    );
  }

  // The sweep's: keeps the sessions that have sockets here (all of them, `live`) from looking idle to
  // any instance's sweep. One written here within the last sweep interval needs no write for that
  // (needsTouch: it stays used within half the reconnect timeout), so a session in use costs no
  // write per sweep; an idle one is touched as before.
  // What this instance remembers of the other sessions (their seq, their copy) goes too, at the second
  // sweep in a row that finds one with no socket here and nothing else using it (`busy`: a reply
  // being made, an admin's own session while the admin assists another), so a write that comes just
  // after (a title) still finds it. A session ended any other way than by this instance's sweep
  // (resumed over, or swept by another instance first) was remembered for good. Forgotten is one read
  // more, at that session's next append.
  async keepLive(live: string[], now = new Date(), busy: string[] = []): Promise<void> {
    const liveSet = new Set(live);
    for (const id of this.writtenAt.keys()) if (!liveSet.has(id)) this.writtenAt.delete(id);
    const kept = new Set([...live, ...busy]);
    for (const id of this.unused)
      if (!kept.has(id)) {
        this.seqCache.delete(id);
        this.snapshots.delete(id);
      }
    this.unused = new Set([...this.seqCache.keys()].filter((id) => !kept.has(id)));
    const { sweepIntervalMs, reconnectTimeoutMs } = this.settings;
    await this.touch(
      live.filter((id) =>
        needsTouch(this.writtenAt.get(id), now.getTime(), sweepIntervalMs, reconnectTimeoutMs),
      ),
      now,
    );
  }

  // Ends sessions idle past RECONNECT_TIMEOUT; the caller keeps sessions with live sockets touched.
  async sweepIdle(now = new Date()): Promise<string[]> {
    const idle = await this.repository.findIdle(new Date(now.getTime() - this.settings.reconnectTimeoutMs));
    const ended: string[] = [];
    for (const sessionId of idle) {
      if (await this.end(sessionId)) {
        ended.push(sessionId);
        this.forget(sessionId);
      }
    }
    if (ended.length > 0)
      this.logger.log({ event: 'sessions_swept', count: ended.length }, 'idle sessions ended');
    return ended;
  }
}

// Model ids are settings ("gpt-4.1"); MongoDB field names may not hold '.' or start with '$'.
function stateKey(modelId: string): string {
  return modelId.replace(/[%.$]/g, (character) => `%${character.charCodeAt(0).toString(16).toUpperCase()}`);
}

// The held copy of a session serves an append when it mirrors the takeover the append is guarded on
// (none, for a user's message) and the append does not change the mirror.
function usableFor(held: WrittenSession, options?: AppendOptions): boolean {
  if (options?.mirror) return false;
  if (options?.takeover === undefined) return true;
  return (held.assisting_admin_id ?? null) === (options.takeover?.adminId ?? null);
}
