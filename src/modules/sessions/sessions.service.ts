import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { SETTINGS, type Settings } from '../../config/settings';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { InProcessLock } from '../../infra/lock/in-process.lock';
import { SESSION_LOCK } from '../../infra/lock/lock';
import { WriteLock } from '../../infra/lock/write.lock';
import { AssistanceRepository } from './assistance.repository';
import { DEFAULT_SESSION_NAME, isRestorable, type SessionCursor } from './session-rules';
import type {
  AssistanceState,
  AppendEffects,
  AppendOptions,
  FeedbackRating,
  FeedbackResult,
  HelpAfterLapse,
  HelpMark,
  HelpRequestMark,
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
import { SessionCopies } from './session-copies';
import { SessionEdits } from './session-edits';
import { SessionLog } from './session-log';
import { SessionSweep } from './session-sweep';

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

// Session lifecycle (open, restore, new, end) and the ordered, exactly-once message log. The log's
// appends (SessionLog), the writes outside its seq (SessionEdits) and the idle sweep (SessionSweep)
// live beside it, each run under this service's locks and against the copies it holds (SessionCopies).
@Injectable()
export class SessionsService {
  private readonly logger = new Logger('sessions');
  // the seq cache, the snapshots and writtenAt: what this instance holds of sessions
  private readonly copies = new SessionCopies();
  // told of the sessions this instance ends under a takeover (the takeover module ends it)
  private readonly endedHandlers: Array<(sessionId: string) => void> = [];
  private readonly messageLog: SessionLog;
  private readonly edits: SessionEdits;
  private readonly sweep: SessionSweep;

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
    const sessionLock = <T>(sessionId: string, task: () => Promise<T>) => this.sessionLock(sessionId, task);
    this.messageLog = new SessionLog(repository, settings, this.copies, sessionLock, terms);
    this.edits = new SessionEdits(repository, assistance, this.copies, sessionLock);
    this.sweep = new SessionSweep(
      repository,
      settings,
      this.copies,
      sessionLock,
      (sessionId) => this.end(sessionId),
      this.logger,
    );
    this.terms?.attach({
      // the index has a lock of its own: its write (thousands of tokens in a long session) never
      // holds up the session's next append
      lock: (sessionId, task) => this.lock.run(`terms:${sessionId}`, task),
      log: async (sessionId, atLeast = 0) => {
        const held = this.copies.snapshots.get(sessionId);
        if (held && held.seq === this.copies.seqCache.get(sessionId) && held.seq >= atLeast) return held;
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
      this.copies.seqCache.delete(sessionId);
      this.copies.snapshots.delete(sessionId);
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

  // `console`: as for open(); an admin's new chat is no conversation either (docs/protocol.md, "Rough
  // edges fixed")
  startNew(userId: string, modelId: string, options: { console?: boolean } = {}): Promise<OpenedSession> {
    return this.userLock(userId, async () => {
      const now = new Date();
      const active = await this.repository.findActiveForUser(userId);
      if (active) await this.end(active.id, now);
      const session = await this.create(userId, modelId, now, options.console);
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
    this.copies.seqCache.set(session.id, 0);
    this.copies.writtenAt.set(session.id, session.start_time.getTime());
    // a new session has no index yet: its first index write needs no read
    this.terms?.known(session.id, 0);
    this.copies.keepSnapshot(session.id, undefined, { ...session, messages: [] });
    this.logger.log(
      { user_id: session.user_id, session_id: session.id, event: 'session_created' },
      'session created',
    );
    return session;
  }

  // Stores one event of the session log, exactly once (SessionLog.append).
  append(
    sessionId: string,
    message: Omit<NewMessage, 'id'> & { id?: string },
    effects?: AppendEffects,
    options?: AppendOptions,
  ) {
    return this.messageLog.append(sessionId, message, effects, options);
  }

  // the event already stored under this client_id (SessionLog.sent)
  sent(...args: Parameters<SessionLog['sent']>): Promise<MessageRecord | undefined> {
    return this.messageLog.sent(...args);
  }

  // `handler` hears of each session ended here (a new chat, a delete, another resumed, idle) that
  // mirrored a takeover when it ended, after the write; it must not throw. A claim whose admin_join
  // was not logged yet needs no word: its join is refused in an ended session (the append's guard)
  onEnded(handler: (sessionId: string) => void): void {
    this.endedHandlers.push(handler);
  }

  private async end(sessionId: string, endTime?: Date): Promise<boolean> {
    const ended = await this.sessionLock(sessionId, async () => {
      const result = await this.repository.end(sessionId, endTime);
      // an ended session's index is made whole: messages an instance stored and died before
      // indexing are indexed here, if no later message did it (docs/protocol.md, "Search")
      if (result) this.terms?.settle(sessionId, result.seq);
      return result;
    });
    if (ended?.assisted) for (const handler of this.endedHandlers) handler(sessionId);
    return ended !== undefined;
  }

  // Runs a write to the session document under the session lock, after and before appends on every
  // instance (FerretDB applies updates as read-modify-write: two writes must never interleave).
  exclusive<T>(sessionId: string, task: () => Promise<T>): Promise<T> {
    return this.sessionLock(sessionId, task);
  }

  // what this instance holds of a session (SessionCopies)
  lastSeq(sessionId: string): number | undefined {
    return this.copies.lastSeq(sessionId);
  }

  remember(session: SessionRecord): void {
    this.copies.remember(session);
  }

  forget(sessionId: string): void {
    this.copies.forget(sessionId);
  }

  snapshot(sessionId: string): WrittenSession | undefined {
    return this.copies.snapshot(sessionId);
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

  // the session's seq as the store has it now (one small read; undefined: no such session)
  storedSeq(sessionId: string): Promise<number | undefined> {
    return this.repository.seqOf(sessionId);
  }

  messagesAfter(sessionId: string, userId: string, afterSeq: number): Promise<MessageRecord[]> {
    return this.repository.messagesAfter(sessionId, userId, afterSeq);
  }

  // writes outside the log's seq, each under the session lock (SessionEdits)
  nameFromFirstMessage(session: SessionHead, content: string): Promise<string | undefined> {
    return this.edits.nameFromFirstMessage(session, content);
  }

  setModel(sessionId: string, modelId: string): Promise<void> {
    return this.edits.setModel(sessionId, modelId);
  }

  setFeedback(
    sessionId: string,
    userId: string,
    messageId: string,
    rating: FeedbackRating,
    reason?: string,
  ): Promise<FeedbackResult | undefined> {
    return this.edits.setFeedback(sessionId, userId, messageId, rating, reason);
  }

  updateOwned(
    sessionId: string,
    userId: string,
    changes: { name?: string; archived?: boolean },
  ): Promise<boolean> {
    return this.edits.updateOwned(sessionId, userId, changes);
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
      this.copies.seqCache.delete(sessionId);
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
    return this.edits.markSeen(sessionId, userId, messageId);
  }

  rateTakeover(sessionId: string, userId: string, rating: number, comment?: string) {
    return this.edits.rateTakeover(sessionId, userId, rating, comment);
  }

  retitle(sessionId: string, userId: string, name: string): Promise<boolean> {
    return this.edits.retitle(sessionId, userId, name);
  }

  setProviderState(
    sessionId: string,
    userId: string,
    modelId: string,
    state: Record<string, unknown>,
  ): Promise<void> {
    return this.edits.setProviderState(sessionId, userId, modelId, state);
  }

  providerState(session: SessionRecord, modelId: string): Record<string, unknown> | undefined {
    return this.edits.providerState(session, modelId);
  }

  assistanceState(sessionId: string): Promise<AssistanceState | null> {
    return this.edits.assistanceState(sessionId);
  }

  answerHelp(sessionId: string, requestedAt: Date, responseMs: number): Promise<void> {
    return this.edits.answerHelp(sessionId, requestedAt, responseMs);
  }

  // docs/protocol.md, "Help requests" (AssistanceRepository)
  markHelpRequested(sessionId: string, userId: string, request: HelpRequestMark): Promise<HelpMark> {
    return this.edits.markHelpRequested(sessionId, userId, request);
  }

  helpAfterLapse(sessionId: string, startedAt: Date, at: Date): Promise<HelpAfterLapse | null> {
    return this.edits.helpAfterLapse(sessionId, startedAt, at);
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

  // the idle sweep and its keep-live bookkeeping (SessionSweep)
  touch(sessionIds: string[], now?: Date): Promise<void> {
    return this.sweep.touch(sessionIds, now);
  }

  keepLive(live: string[], now?: Date, busy?: string[]): Promise<void> {
    return this.sweep.keepLive(live, now, busy);
  }

  sweepIdle(now?: Date): Promise<string[]> {
    return this.sweep.sweepIdle(now);
  }
}
