import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { BlindIndex } from '../../common/crypto/blind-index';
import { buildThread } from '../../protocol/thread';
import type { MessageRecord, WrittenSession } from './session.types';
import { BLIND_INDEX } from './sessions.repository';
import { SEARCHABLE } from './session-search';
import { SessionTermsRepository } from './session-terms.repository';

// a message that does not end a turn (a question the model has not answered yet, a human's reply)
// waits this long for the turn's end to share its index write
const WAIT_MS = 3_000;
// sessions whose index position this instance remembers (a read saved per write)
const POSITIONS_KEPT = 20_000;

// What the indexer needs of the sessions service: a lock per session for the index's writes (the
// session's index only: FerretDB applies `$addToSet` and the `indexed_seq` compare-and-set as an
// unlocked read-modify-write), and the session's log.
export interface TermsSource {
  lock<T>(sessionId: string, task: () => Promise<T>): Promise<T>;
  // the session with its log (decrypted), as this instance holds it or read (when what it holds
  // ends before `atLeast`)
  log(sessionId: string, atLeast?: number): Promise<WrittenSession | null>;
}

export function searchable(message: Pick<MessageRecord, 'type' | 'content'>): boolean {
  return SEARCHABLE.has(message.type) && !!message.content;
}

// The search index of sessions, written apart from them (docs/protocol.md, "Search"). A stored
// message makes its session due; the write comes after the message's ack, under the index's own
// lock (never the session's: appends go on beside it), once per turn (an `ai_response` ends one;
// anything else waits up to WAIT_MS for it) and adds the tokens of every message after the index's
// `indexed_seq`. Nothing is held that the store does not have: the tokens are made from the
// session's log at write time, so a write an instance never made (it died) is made by the session's
// next one, wherever it runs.
@Injectable()
export class SessionTermsIndexer implements OnApplicationShutdown {
  private readonly logger = new Logger('search');
  private source?: TermsSource;
  // session → its pending write's timer (undefined: due now, queued)
  private readonly due = new Map<string, NodeJS.Timeout | undefined>();
  private readonly writing = new Set<Promise<void>>();
  private readonly positions = new Map<string, number>();
  // sessions ended (settle) → their seq: their log is read only when the index is behind it
  private readonly ended = new Map<string, number>();

  constructor(
    private readonly terms: SessionTermsRepository,
    @Inject(BLIND_INDEX) private readonly index: BlindIndex,
  ) {}

  attach(source: TermsSource): void {
    this.source = source;
  }

  // Where the session's index stands, when this instance knows it (a session it made: 0).
  known(sessionId: string, seq: number): void {
    this.remember(sessionId, seq);
  }

  // A message of the session was stored (its ack may go out now).
  stored(sessionId: string, message: MessageRecord): void {
    if (!searchable(message)) return;
    if (message.type === 'ai_response') return this.writeSoon(sessionId);
    if (this.due.has(sessionId)) return;
    const timer = setTimeout(() => this.writeSoon(sessionId), WAIT_MS);
    timer.unref();
    this.due.set(sessionId, timer);
  }

  // The session ended at `seq`: its index is written if it stands below (which a look at where it
  // stands tells, without reading the log when it does not).
  settle(sessionId: string, seq: number): void {
    if ((this.positions.get(sessionId) ?? -1) >= seq) return;
    this.ended.set(sessionId, seq);
    this.writeSoon(sessionId);
  }

  // Every due write, now (before a search on this instance, and at shutdown).
  async flush(): Promise<void> {
    for (const sessionId of [...this.due.keys()]) this.writeSoon(sessionId);
    await Promise.allSettled([...this.writing]);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.flush();
  }

  // Runs `task` under the index's lock, as the index's writes do: the purge of a deleted session
  // removes its index and the session so (SessionRemoval), and a write that waited reads no session
  // and makes no index again. What this instance remembers of the session's index goes.
  exclusive<T>(sessionId: string, task: () => Promise<T>): Promise<T> {
    const locked = async () => {
      const result = await task();
      this.positions.delete(sessionId);
      this.ended.delete(sessionId);
      return result;
    };
    return this.source ? this.source.lock(sessionId, locked) : locked();
  }

  // The sessions (ids) whose messages hold every word of the query, newest activity first; deleted
  // ones only when asked for (an admin's search).
  async matching(
    query: string,
    scope: { userId?: string; includeDeleted: boolean },
    limit: number,
  ): Promise<string[]> {
    const byWord = this.index.queryTokensByWord(query);
    if (byWord.length === 0) return [];
    return this.terms.matching(byWord, scope, limit);
  }

  // The sessions whose index holds tokens of another key than ENCRYPTION_KEY (key rotation).
  madeWithOtherKeys(): AsyncGenerator<string> {
    return this.terms.madeWithOtherKeys(this.index.keyId);
  }

  // Key rotation's re-index (docs/protocol.md, "Search"; docs/operations.md, "Rotating
  // ENCRYPTION_KEY"): the session's index written anew with ENCRYPTION_KEY, from its log decrypted
  // (the messages its conversation reads now, as a search matches them), under the index's lock as
  // every write of it; its `deleted` mark stays. False: no session (purged). Until the key-rotation
  // audit of session 42 nothing re-indexed, and once ENCRYPTION_KEY_PREVIOUS was emptied no message
  // written before the rotation was found again (items: [], 3 of 3 runs).
  reindex(sessionId: string): Promise<boolean> {
    return this.exclusive(sessionId, async () => {
      // the log at least as far as the index stands (a copy this instance holds may be behind it)
      const session = await this.source?.log(sessionId, await this.terms.indexedSeq(sessionId));
      if (!session) return false;
      const tokens = new Set<string>();
      for (const message of buildThread(session.messages).current)
        if (searchable(message)) for (const token of this.index.tokensOf(message.content!)) tokens.add(token);
      await this.terms.rewrite({
        sessionId,
        userId: session.user_id,
        seq: session.seq,
        tokens: [...tokens],
        lastActivity: session.last_activity,
        keyId: this.index.keyId,
      });
      return true;
    });
  }

  // Of the deleted sessions `ids`, marks the index of each whose index is there unmarked,
  // under the index's lock (the backfill of sessions deleted before the mark existed). Returns how
  // many it marked.
  async backfillDeleted(ids: string[]): Promise<number> {
    const unmarked = ids.length > 0 ? await this.terms.unmarked(ids) : [];
    for (const sessionId of unmarked) await this.exclusive(sessionId, () => this.terms.markFound(sessionId));
    return unmarked.length;
  }

  // Its user deleted the session: its index is marked so, under the index's lock (a write of the
  // index after it keeps the mark), and a user's search leaves it out before it takes the newest
  // candidates (docs/protocol.md, "Search").
  deleted(sessionId: string, userId: string, at: Date): Promise<void> {
    const mark = () => this.terms.markDeleted(sessionId, userId, at);
    return this.source ? this.source.lock(sessionId, mark) : mark();
  }

  private writeSoon(sessionId: string): void {
    const timer = this.due.get(sessionId);
    clearTimeout(timer);
    // one queued write covers every message stored before it runs
    if (this.due.has(sessionId) && timer === undefined) return;
    this.due.set(sessionId, undefined);
    const source = this.source;
    if (!source) return void this.due.delete(sessionId);
    let started = false;
    const write: Promise<void> = source
      .lock(sessionId, () => {
        started = true;
        this.due.delete(sessionId);
        return this.write(sessionId, source);
      })
      .catch((error: unknown) => {
        // a lock never taken leaves the session due no more: its next message queues a write again
        // (an ended one's last messages then wait for its next write, as those of an instance that
        // died before indexing do; its end is not kept here for good)
        if (!started && this.due.get(sessionId) === undefined) this.due.delete(sessionId);
        if (!started) this.ended.delete(sessionId);
        // where the index stands is read again by the next write: a position kept after a failure
        // may be the wrong one it failed on (docs/protocol.md, "Search")
        else this.positions.delete(sessionId);
        // the next write of the session takes these messages too
        this.logger.warn({ event: 'search_index_failed', session_id: sessionId, err: String(error) });
      })
      .finally(() => this.writing.delete(write));
    this.writing.add(write);
  }

  // Under the index's lock.
  private async write(sessionId: string, source: TermsSource): Promise<void> {
    const endedAt = this.ended.get(sessionId);
    this.ended.delete(sessionId);
    if (endedAt !== undefined) {
      const from = this.positions.get(sessionId) ?? (await this.terms.indexedSeq(sessionId));
      this.remember(sessionId, from);
      if (from >= endedAt) return;
    }
    const session = await source.log(sessionId, endedAt);
    if (!session) return;
    for (let attempt = 0; attempt < 2; attempt++) {
      const from = this.positions.get(sessionId) ?? (await this.terms.indexedSeq(sessionId));
      if (from >= session.seq) {
        this.remember(sessionId, from);
        return;
      }
      const tokens = new Set<string>();
      for (const message of session.messages)
        if (message.seq > from && searchable(message))
          for (const token of this.index.tokensOf(message.content!)) tokens.add(token);
      const added = await this.terms.add({
        sessionId,
        userId: session.user_id,
        from,
        to: session.seq,
        tokens: [...tokens],
        lastActivity: session.last_activity,
        keyId: this.index.keyId,
      });
      if (added) {
        this.remember(sessionId, session.seq);
        return;
      }
      // the index stands elsewhere than this instance thought: read where, and write from there
      this.positions.delete(sessionId);
    }
  }

  private remember(sessionId: string, seq: number): void {
    this.positions.delete(sessionId);
    this.positions.set(sessionId, seq);
    if (this.positions.size > POSITIONS_KEPT)
      this.positions.delete(this.positions.keys().next().value as string);
  }
}
