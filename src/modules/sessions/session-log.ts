import type { Settings } from '../../config/settings';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { newId } from '../../common/ids';
import type { SessionCopies } from './session-copies';
import { dedupKey, DEFAULT_SESSION_NAME, nameFromFirstMessage } from './session-rules';
import type {
  AppendEffects,
  AppendOptions,
  MessageRecord,
  MessageToAppend,
  NewMessage,
  WrittenSession,
} from './session.types';
import { TurnAnswered } from './session.types';
import type { SessionsRepository } from './sessions.repository';
import type { SessionTermsIndexer } from './session-terms.indexer';

const APPEND_ATTEMPTS = 8;

// an event to append with its id, before a write stamps its time
type Unstamped = Omit<NewMessage, 'timestamp'>;

// The ordered, exactly-once message log of a session (SessionsService.append): each append whole
// under the service's session lock, against the copies the service holds.
export class SessionLog {
  constructor(
    private readonly repository: SessionsRepository,
    private readonly settings: Pick<Settings, 'maxSessionBytes'>,
    private readonly copies: SessionCopies,
    private readonly sessionLock: <T>(sessionId: string, task: () => Promise<T>) => Promise<T>,
    private readonly terms?: SessionTermsIndexer,
  ) {}

  // Stores one event of the session log. Same client_id twice → the first stored message, once,
  // whichever instance each copy reached (with its first copy's time). With `withSession`, a stored
  // message comes back with its session as written (messages included). Its time is the write's
  // (appendLocked).
  append(sessionId: string, message: MessageToAppend, effects?: AppendEffects, options?: AppendOptions) {
    return this.sessionLock(
      sessionId,
      async (): Promise<{
        message: MessageRecord;
        duplicate: boolean;
        session?: WrittenSession;
        named?: string;
      }> => {
        // stamped by each attempt of the write (appendLocked)
        const full: Unstamped = { ...message, id: message.id ?? newId() };
        const dedup = dedupKey(full);
        const previous = dedup ? await this.sentBefore(sessionId, dedup, options?.owner) : undefined;
        if (previous) return { message: previous, duplicate: true };
        return this.appendLocked(sessionId, full, effects, options);
      },
    );
  }

  // The event already stored under this message's client_id, if any (a resend), found as an append
  // finds it: a caller with costly work before its append (a voice message's transcription) asks first.
  sent(
    sessionId: string,
    message: { client_id?: string; sender: string; metadata?: Record<string, unknown> },
    owner?: string,
  ): Promise<MessageRecord | undefined> {
    const dedup = dedupKey(message);
    if (!dedup) return Promise.resolve(undefined);
    return this.sessionLock(sessionId, () => this.sentBefore(sessionId, dedup, owner));
  }

  // The admin_join or admin_leave that an admin's frame with this client_id caused (`adminKey`:
  // adminKeyOf the admin), if it is stored: a resend of the frame is answered with it (TakeoverService).
  // Found in the log as sent() finds a resend.
  takeoverEvent(
    sessionId: string,
    type: 'admin_join' | 'admin_leave',
    adminKey: string,
    clientId: string,
  ): Promise<MessageRecord | undefined> {
    return this.sessionLock(sessionId, async () => {
      const log = await this.logAt(sessionId, this.copies.seqCache.get(sessionId));
      return log?.messages.find(
        (stored) =>
          stored.type === type && stored.client_id === clientId && stored.metadata?.admin_key === adminKey,
      );
    });
  }

  // Whether a stored message of the session shows the file (a file upload, a voice message): an
  // attachment made for a message that stored nothing is taken back (FileStore.attachWhile).
  shows(sessionId: string, fileId: string, owner?: string): Promise<boolean> {
    return this.sessionLock(sessionId, async () => {
      const log = await this.logAt(sessionId, this.copies.seqCache.get(sessionId), owner);
      return log?.messages.some((stored) => stored.file_id === fileId) ?? false;
    });
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
    // not this owner's (or gone): the append says so
    const log = await this.logAt(sessionId, this.copies.seqCache.get(sessionId), owner);
    return log?.messages.find((stored) => dedupKey(stored) === dedup);
  }

  // The log this instance holds when its seq is `expected`, else the store's, read once and held.
  private async logAt(
    sessionId: string,
    expected: number | undefined,
    owner?: string,
  ): Promise<WrittenSession | undefined> {
    const held = this.copies.snapshots.get(sessionId);
    if (held && held.seq === expected) return held;
    return this.storedLog(sessionId, owner);
  }

  // The store's log, read now (under the session lock: exact until this append) and held.
  private async storedLog(sessionId: string, owner?: string): Promise<WrittenSession | undefined> {
    const read =
      owner !== undefined
        ? await this.repository.findOwnedWithMessages(sessionId, owner)
        : await this.repository.findAnyWithMessages(sessionId);
    if (!read) return undefined;
    this.copies.seqCache.set(sessionId, read.seq);
    this.copies.keepSnapshot(sessionId, undefined, read);
    return read;
  }

  // The caller's rule on the log this write extends (docs/protocol.md, "Versions"): the seq it is to
  // extend. The copy held here is this instance's last write, and another instance may have appended
  // since: a copy that passes and is old fails the compare-and-set (and the next attempt asks again),
  // but a refusal on it is asked again on the store's log before it stands. Until the library audit
  // it stood: the last message, stored by the other instance, could not be edited here (4 of 4).
  private async checked(
    sessionId: string,
    expected: number | undefined,
    rule: NonNullable<AppendOptions['precondition']>,
    owner?: string,
  ): Promise<number> {
    const held = this.copies.snapshots.get(sessionId);
    const log = await this.logAt(sessionId, expected, owner);
    if (!log) throw new DomainException(ErrorCode.NOT_FOUND, 'Session not found.');
    try {
      await rule(log.messages);
      return log.seq;
    } catch (error) {
      if (log !== held) throw error;
      const stored = await this.storedLog(sessionId, owner);
      if (!stored) throw new DomainException(ErrorCode.NOT_FOUND, 'Session not found.');
      if (stored.seq === log.seq) throw error;
      await rule(stored.messages);
      return stored.seq;
    }
  }

  // Each attempt stamps the message when it writes it, never before the session's last activity:
  // the write is guarded on last_activity ≤ the stamp, and one that finds it later (another
  // instance's clock ahead, a keep-alive's touch) is tried again from there. Under the session lock,
  // which every write of last_activity holds, seq order is then time order and a session's activity
  // only moves up (docs/protocol.md, "Session library"). Until the search/history audit of session 42
  // a message was stamped on arrival, before it waited for the lock behind the other instance's
  // appends, and set last_activity to that: 3–9 messages per run were stored with a later seq and an
  // earlier time (by up to 2.6 s), and the list paged by limit=1 showed the session twice in 10–15 of
  // 400 rounds.
  private async appendLocked(
    sessionId: string,
    unstamped: Unstamped,
    effects?: AppendEffects,
    options?: AppendOptions,
  ): Promise<{ message: MessageRecord; duplicate: boolean; session?: WrittenSession; named?: string }> {
    let expected = this.copies.seqCache.get(sessionId) ?? (await this.currentSeq(sessionId));
    // the session's last activity as last found by a write refused for it (0: not known)
    let floor = 0;
    // the name is made once, and only for a session this instance holds with the default name
    let naming = options?.nameFrom;
    let madeName: string | undefined;
    for (let attempt = 0; attempt < APPEND_ATTEMPTS; attempt++) {
      // the caller's rule on the log this very write extends (checked)
      if (options?.precondition)
        expected = await this.checked(sessionId, expected, options.precondition, options.owner);
      // the log up to `expected` is held here (only appends move seq, and this instance made the
      // last one): the write is guarded on the copy's head and goes in a shared bulk, and the
      // session as written is the copy plus this message (docs/protocol.md, "Coalesced writes")
      const held = this.copies.snapshots.get(sessionId);
      // a write guarded on the takeover uses a copy only when it mirrors the same one, and a write
      // that changes the mirror none (the written session comes back from the store)
      const current = held?.seq === expected && usableFor(held, options) ? held : undefined;
      const now = Date.now();
      const full = {
        ...unstamped,
        timestamp: stampAfter(floor, held?.seq === expected ? held : undefined, now),
      };
      const overAhead = full.timestamp.getTime() >= now + MAX_CLOCK_AHEAD_MS;
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
          unanswered: options?.unanswered,
          overAhead,
        },
      );
      switch (result.status) {
        case 'stored': {
          const session =
            result.head && heldLog
              ? { ...result.head, messages: [...heldLog, result.message] }
              : result.session;
          this.copies.seqCache.set(sessionId, result.message.seq);
          this.copies.writtenAt.set(sessionId, full.timestamp.getTime());
          this.copies.keepSnapshot(sessionId, result.message, session);
          this.terms?.stored(sessionId, result.message);
          // a copy extended here (no session came back) still has the default name
          const kept = this.copies.snapshots.get(sessionId);
          if (result.named !== undefined && kept && kept.name !== result.named)
            this.copies.snapshots.set(sessionId, { ...kept, name: result.named });
          return { message: result.message, duplicate: false, session, named: result.named };
        }
        case 'named':
          // the copy's name is not the store's any more
          this.copies.snapshots.delete(sessionId);
          naming = undefined;
          break;
        case 'duplicate':
          return { message: result.message, duplicate: true };
        case 'answered':
          throw new TurnAnswered(options?.unanswered ?? 0);
        case 'unassisted':
          throw new DomainException(ErrorCode.SESSION_LOCKED, 'You no longer hold this session.');
        case 'full':
          throw new DomainException(ErrorCode.SESSION_FULL);
        case 'missing':
          throw new DomainException(ErrorCode.NOT_FOUND, 'Session not found.');
        case 'conflict':
          // at the same seq, the copy's guard failed (a takeover, a model or a name set elsewhere, a
          // later last_activity): the next attempt reads the session as it is
          if (result.currentSeq === expected) this.copies.snapshots.delete(sessionId);
          expected = result.currentSeq;
          floor = Math.max(floor, result.lastActivity?.getTime() ?? 0);
      }
    }
    throw new DomainException(ErrorCode.INTERNAL, 'Could not store the message; please retry.');
  }

  private async currentSeq(sessionId: string): Promise<number> {
    return (await this.repository.seqOf(sessionId)) ?? 0;
  }
}

// How far past now a message's time follows the session's last activity: instances' clocks agree
// within milliseconds (NTP); a last activity further ahead is a clock's fault, and the message is
// stamped at the bound and writes it over (SessionAppender's overAhead). Until the audit of session
// 42's own changes one write from a clock an hour (or ten years) ahead stamped every later message
// of the session there, for good (3 of 3).
export const MAX_CLOCK_AHEAD_MS = 5_000;

// A message's time: now, or the session's last activity when that is later (as this instance holds
// the session at the seq the write extends, or as a refused write found it), at most
// MAX_CLOCK_AHEAD_MS past now.
export function stampAfter(
  floor: number,
  held?: Pick<WrittenSession, 'last_activity'>,
  now = Date.now(),
): Date {
  const after = Math.max(floor, held?.last_activity.getTime() ?? 0);
  return new Date(Math.max(now, Math.min(after, now + MAX_CLOCK_AHEAD_MS)));
}

// The held copy of a session serves an append when it mirrors the takeover the append is guarded on
// (none, for a user's message) and the append does not change the mirror.
function usableFor(held: WrittenSession, options?: AppendOptions): boolean {
  if (options?.mirror) return false;
  if (options?.takeover === undefined) return true;
  return (held.assisting_admin_id ?? null) === (options.takeover?.adminId ?? null);
}
