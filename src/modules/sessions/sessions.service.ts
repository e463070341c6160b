import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { SETTINGS, type Settings } from '../../config/settings';
import { InProcessLock } from '../../infra/lock/in-process.lock';
import { SESSION_LOCK } from '../../infra/lock/lock';
import { WriteLock } from '../../infra/lock/write.lock';
import { ActiveSessions, type OpenedSession } from './active-sessions';
import { AssistanceRepository } from './assistance.repository';
import type { SessionCursor } from './session-rules';
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
  MessageToAppend,
  SearchHit,
  SessionRecord,
  SessionWithMessages,
  WrittenSession,
  SessionHead,
} from './session.types';
import { SessionsRepository } from './sessions.repository';
import { SessionTermsIndexer } from './session-terms.indexer';
import { SessionCopies } from './session-copies';
import { SessionEdits } from './session-edits';
import { SessionLog } from './session-log';
import { SessionSweep } from './session-sweep';

// the newest sessions whose index holds a query's words (a user's: undeleted ones only, left out by
// the index's mark before these are taken), of which the undeleted ones are shown
const SEARCH_CANDIDATES = 200;
// sessions per page of a user's list (GET /chat/sessions), and its default
export const LIST_PAGE = 100;
// client_id keys outlive any resend by far (a resend comes within seconds)

export type { OpenedSession } from './active-sessions';

// Session lifecycle (open, restore, new, end) and the ordered, exactly-once message log. The user's
// active session (ActiveSessions), the log's appends (SessionLog), the writes outside its seq
// (SessionEdits) and the idle sweep (SessionSweep) live beside it, each run under this service's
// locks and against the copies it holds (SessionCopies).
@Injectable()
export class SessionsService {
  private readonly logger = new Logger('sessions');
  // the seq cache, the snapshots and writtenAt: what this instance holds of sessions
  private readonly copies = new SessionCopies();
  private readonly active: ActiveSessions;
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
    this.active = new ActiveSessions(
      repository,
      settings,
      this.copies,
      { user: (userId, task) => this.lock.run(`user:${userId}`, task), session: sessionLock },
      this.logger,
      terms,
    );
    this.messageLog = new SessionLog(repository, settings, this.copies, sessionLock, terms);
    this.edits = new SessionEdits(repository, assistance, this.copies, sessionLock);
    this.sweep = new SessionSweep(
      repository,
      settings,
      this.copies,
      sessionLock,
      (sessionId, idleBefore) => this.active.end(sessionId, undefined, idleBefore),
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

  // Every write to a session document runs here. One that fails with an error after which the store
  // may still run it keeps the lock until the store answers again (WriteLock; docs/protocol.md, "A
  // write given up on"), and what this instance holds of the session is dropped (it may have landed).
  private sessionLock<T>(sessionId: string, task: () => Promise<T>): Promise<T> {
    return this.lock.run(`session:${sessionId}`, task, () => {
      this.copies.seqCache.delete(sessionId);
      this.copies.snapshots.delete(sessionId);
    });
  }

  // the user's one active session: open, new, end, delete (ActiveSessions)
  open(...args: Parameters<ActiveSessions['open']>): Promise<OpenedSession> {
    return this.active.open(...args);
  }

  startNew(...args: Parameters<ActiveSessions['startNew']>): Promise<OpenedSession> {
    return this.active.startNew(...args);
  }

  // Stores one event of the session log, exactly once (SessionLog.append).
  append(sessionId: string, message: MessageToAppend, effects?: AppendEffects, options?: AppendOptions) {
    return this.messageLog.append(sessionId, message, effects, options);
  }

  // the event already stored under this client_id (SessionLog.sent)
  sent(...args: Parameters<SessionLog['sent']>): Promise<MessageRecord | undefined> {
    return this.messageLog.sent(...args);
  }

  // the admin_join / admin_leave an admin's frame with this client_id caused (SessionLog.takeoverEvent)
  takeoverEvent(...args: Parameters<SessionLog['takeoverEvent']>): Promise<MessageRecord | undefined> {
    return this.messageLog.takeoverEvent(...args);
  }

  shows(...args: Parameters<SessionLog['shows']>): Promise<boolean> {
    return this.messageLog.shows(...args);
  }

  // hears of each session ended here that mirrored a takeover (ActiveSessions.onEnded)
  onEnded(handler: (sessionId: string) => void): void {
    this.active.onEnded(handler);
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

  // Whether the session has no room left under MAX_SESSION_BYTES, for a request that stores nothing
  // of the user's before the model is asked (a regenerate: docs/protocol.md, "Every acked turn
  // ends"). Read from the store under the session lock, as an append's own check is made: the same
  // on every instance, whichever stored the last message, and after any write given up on landed.
  atSizeBound(sessionId: string): Promise<boolean> {
    return this.sessionLock(sessionId, async () => {
      const bytes = await this.repository.bytesOf(sessionId);
      return bytes !== undefined && bytes >= this.settings.maxSessionBytes;
    });
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

  // Soft delete: ended if active, then hidden from its user everywhere (ActiveSessions.softDelete).
  softDelete(sessionId: string, userId: string): Promise<{ ended: boolean } | undefined> {
    return this.active.softDelete(sessionId, userId);
  }

  // Search by blind index: a user's own sessions, or for an admin every session (or one user's).
  async search(query: string, reader: { userId?: string; isAdmin: boolean }): Promise<SearchHit[]> {
    // this instance's due index writes first: a search finds what its reader just sent here
    await this.terms?.flush();
    const scope = { userId: reader.userId, includeDeleted: reader.isAdmin };
    const indexed = (await this.terms?.matching(query, scope, SEARCH_CANDIDATES)) ?? [];
    return this.repository.search(query, scope, indexed);
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

  // the idle sweep and its keep-live bookkeeping (SessionSweep); each keep-alive gives the ids of the
  // live sessions it found ended
  touch(sessionIds: string[], now?: Date): Promise<string[]> {
    return this.sweep.touch(sessionIds, now);
  }

  keepLive(live: string[], now?: Date, busy?: string[]): Promise<string[]> {
    return this.sweep.keepLive(live, now, busy);
  }

  touchLive(live: string[], now?: Date): Promise<string[]> {
    return this.sweep.touchLive(live, now);
  }

  // a session its user's device is bound to, found ended: where the device goes (ActiveSessions.keepFor)
  keepFor(userId: string, sessionId: string): Promise<SessionRecord | undefined> {
    return this.active.keepFor(userId, sessionId);
  }

  sweepIdle(now?: Date): Promise<string[]> {
    return this.sweep.sweepIdle(now);
  }
}
