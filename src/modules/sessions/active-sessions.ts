import type { Logger } from '@nestjs/common';
import type { Settings } from '../../config/settings';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { derivedId, newId } from '../../common/ids';
import { isDuplicateKey } from '../../common/store-errors';
import type { SessionCopies } from './session-copies';
import { DEFAULT_SESSION_NAME, isRestorable } from './session-rules';
import type { SessionTermsIndexer } from './session-terms.indexer';
import type { SessionRecord } from './session.types';
import type { NewSession, SessionsRepository } from './sessions.repository';

export interface OpenedSession {
  session: SessionRecord;
  restored: boolean;
  // the session this user had active before, when opening ended it
  replaced?: string;
}

type Lock = <T>(key: string, task: () => Promise<T>) => Promise<T>;

// Each user's one active session (SessionsService delegates its lifecycle here): opened, restored or
// made, replaced by a new chat, ended, deleted. Each under the service's user and session locks.
export class ActiveSessions {
  // told of the sessions this instance ends under a takeover (the takeover module ends it)
  private readonly endedHandlers: Array<(sessionId: string) => void> = [];

  constructor(
    private readonly repository: SessionsRepository,
    private readonly settings: Pick<Settings, 'reconnectTimeoutMs'>,
    private readonly copies: SessionCopies,
    private readonly locks: { user: Lock; session: Lock },
    private readonly logger: Logger,
    private readonly terms?: SessionTermsIndexer,
  ) {}

  // `console`: an admin's dashboard socket, whose session is no conversation (not in admin figures)
  open(
    userId: string,
    requestedSessionId: string | undefined,
    defaultModelId: string,
    options: { console?: boolean } = {},
  ): Promise<OpenedSession> {
    return this.locks.user(userId, async () => {
      const now = new Date();
      if (requestedSessionId) {
        const requested = await this.repository.findOwned(requestedSessionId, userId);
        if (!requested) throw new DomainException(ErrorCode.NOT_FOUND, 'Session not found.');
        return this.resume(userId, requested, now);
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

  // resuming an ended session makes it the user's one active session again (under the user's lock)
  private async resume(userId: string, requested: SessionRecord, now: Date): Promise<OpenedSession> {
    if (requested.is_active) return { session: requested, restored: true };
    const active = await this.repository.findActiveForUser(userId);
    if (active) await this.end(active.id, now);
    // under the session's lock: the resume reads and extends the session's open periods
    const periods = await this.locks.session(requested.id, () =>
      this.repository.reactivate(requested.id, userId, now),
    );
    return {
      session: { ...requested, ...periods, is_active: true, end_time: null, duration_ms: null },
      restored: true,
      replaced: active?.id,
    };
  }

  // A session a device of the user is still bound to, found ended (a tool, a store restore, an
  // instance stalled past the keep-alive: docs/protocol.md, "Idle sessions"): the device goes where
  // its own reconnect (with this session_id) would take it, under the user's lock. The user's active
  // session when there is another (one active session per user: the device follows it); else this
  // one, made active again (resume). Undefined when there is nothing to do: it is active again, or no
  // longer the user's (deleted: the delete moved the devices).
  keepFor(userId: string, sessionId: string): Promise<SessionRecord | undefined> {
    return this.locks.user(userId, async () => {
      const active = await this.repository.findActiveForUser(userId);
      if (active) return active.id === sessionId ? undefined : active;
      const ended = await this.repository.findOwned(sessionId, userId);
      if (!ended) return undefined;
      const { session } = await this.resume(userId, ended, new Date());
      this.logger.log(
        { user_id: userId, session_id: sessionId, event: 'session_kept' },
        'ended session brought back for its connected device',
      );
      return session;
    });
  }

  // `console`: as for open(); an admin's new chat is no conversation either (docs/protocol.md, "Rough
  // edges fixed"). `clientId`: the new_session command's. Its session is named by it (derivedId), so
  // a resend finds the one the first made, by `_id`, and the user is back in it: until the races
  // audit of session 34 each resend made another (three sessions for one new_session, 10 of 10).
  startNew(
    userId: string,
    modelId: string,
    options: { console?: boolean; clientId?: string } = {},
  ): Promise<OpenedSession> {
    return this.locks.user(userId, async () => {
      const now = new Date();
      const id = options.clientId ? derivedId('new_session', userId, options.clientId) : newId();
      const made = options.clientId ? await this.repository.findOwned(id, userId) : null;
      if (made) return this.resume(userId, made, now);
      const active = await this.repository.findActiveForUser(userId);
      if (active) await this.end(active.id, now);
      const session = await this.create(userId, modelId, now, options.console, id).catch((error: unknown) => {
        // the id is taken by one the user deleted since: a new chat all the same
        if (!isDuplicateKey(error)) throw error;
        return this.create(userId, modelId, now, options.console);
      });
      return { session, restored: false, replaced: active?.id };
    });
  }

  private async create(
    userId: string,
    modelId: string,
    now: Date,
    console?: boolean,
    id = newId(),
  ): Promise<SessionRecord> {
    return this.created(await this.repository.create(this.newSession(userId, modelId, now, console, id)));
  }

  private newSession(
    userId: string,
    modelId: string,
    now: Date,
    console?: boolean,
    id = newId(),
  ): NewSession {
    return { id, userId, name: DEFAULT_SESSION_NAME, modelId, now, console };
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

  // `handler` hears of each session ended here (a new chat, a delete, another resumed, idle) that
  // mirrored a takeover when it ended, after the write; it must not throw. A claim whose admin_join
  // was not logged yet needs no word: its join is refused in an ended session (the append's guard)
  onEnded(handler: (sessionId: string) => void): void {
    this.endedHandlers.push(handler);
  }

  // `idleBefore`: the idle sweep's end, only of a session still unused since then (SessionLifecycle.end)
  async end(sessionId: string, endTime?: Date, idleBefore?: Date): Promise<boolean> {
    const ended = await this.locks.session(sessionId, async () => {
      const result = await this.repository.end(sessionId, endTime, idleBefore);
      // an ended session's index is made whole: messages an instance stored and died before
      // indexing are indexed here, if no later message did it (docs/protocol.md, "Search")
      if (result) this.terms?.settle(sessionId, result.seq);
      return result;
    });
    if (ended?.assisted) for (const handler of this.endedHandlers) handler(sessionId);
    return ended !== undefined;
  }

  // Soft delete: ended if active, then hidden from its user everywhere; admins still see it.
  // undefined: not theirs (or deleted already); `ended`: it was their active session.
  async softDelete(sessionId: string, userId: string): Promise<{ ended: boolean } | undefined> {
    return this.locks.user(userId, async () => {
      const session = await this.repository.findOwned(sessionId, userId);
      if (!session) return undefined;
      if (session.is_active) await this.end(sessionId, new Date());
      const deletedAt = new Date();
      await this.locks.session(sessionId, () =>
        this.repository.update(sessionId, { deleted: true, deleted_at: deletedAt }),
      );
      this.copies.seqCache.delete(sessionId);
      // its index is marked too, so a user's search takes its newest candidates among live sessions.
      // Until the search/history audit of session 42 it was not: 201 newer deleted sessions holding a
      // word hid the live one that held it (3 of 3). The session is deleted whatever this write does:
      // one that failed leaves it a candidate that the search drops, as before
      await this.terms
        ?.deleted(sessionId, userId, deletedAt)
        .catch((error: unknown) =>
          this.logger.warn(
            { event: 'search_index_failed', session_id: sessionId, err: String(error) },
            'deleted session not marked in the search index',
          ),
        );
      this.logger.log(
        { user_id: userId, session_id: sessionId, event: 'session_deleted' },
        'session deleted',
      );
      return { ended: session.is_active };
    });
  }
}
