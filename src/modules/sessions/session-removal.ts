import { setTimeout as sleep } from 'node:timers/promises';
import {
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { Session } from './schemas/session.schema';
import { SessionTerms } from './schemas/session-terms.schema';
import { modelOfStateKey } from './session-edits';
import type { PurgedSession } from './session.types';
import { SessionTermsIndexer } from './session-terms.indexer';
import { SessionsService } from './sessions.service';

// The sessions' side of the purge of deleted sessions (SessionPurgeService; docs/protocol.md,
// "Session library"): which are due, and the removal of one, its search index and its document, under
// the session's lock (every write to the document holds it) and the index's (every index write does).
// the backfill of deleted marks: its start after boot, its batch of deleted sessions, its pause
const BACKFILL_DELAY_MS = 5_000;
const BACKFILL_BATCH = 100;
const BACKFILL_PAUSE_MS = 50;

@Injectable()
export class SessionRemoval implements OnModuleInit, OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('sessions');
  private backfill?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    @InjectModel(Session.name) private readonly sessions: Model<Session>,
    @InjectModel(SessionTerms.name) private readonly terms: Model<SessionTerms>,
    private readonly service: SessionsService,
    private readonly index: SessionTermsIndexer,
  ) {}

  // MongoDB: a partial index of the deleted sessions alone (none of a live session's writes touch it).
  // FerretDB 1.24 has no partial indexes (NotImplemented), and pushes no filter on `deleted` down to
  // SQLite: no index could serve the sweep there, and a plain one would cost every append (each of a
  // row's index expressions is evaluated again), so it scans, reading two fields of each session
  // (test/integration/sessions-store-conformance.int-spec.ts).
  async onModuleInit(): Promise<void> {
    try {
      await this.sessions.collection.createIndex(
        { deleted_at: 1 },
        { name: 'deleted_at_purge', partialFilterExpression: { deleted: true } },
      );
    } catch (error) {
      this.logger.log(
        { event: 'purge_index_unavailable', err: String(error) },
        'no partial index on this store; the purge of deleted sessions scans them',
      );
    }
  }

  onApplicationBootstrap(): void {
    this.backfill = setTimeout(() => void this.markDeletedIndexes(), BACKFILL_DELAY_MS).unref();
  }

  onModuleDestroy(): void {
    this.stopped = true;
    clearTimeout(this.backfill);
  }

  // Marks the search index of each deleted session whose index has no mark: a session deleted before
  // the mark existed (docs/protocol.md, "Search"). Once per start, a few seconds after it, a batch of
  // deleted sessions at a time with a pause between (a scan of two fields of each, as the purge's);
  // idempotent, so instances starting together only repeat each other's work. Until the key-rotation
  // audit of session 42 such indexes stayed unmarked, and a user's search still took its candidates
  // among those deleted sessions.
  async markDeletedIndexes(): Promise<number> {
    let marked = 0;
    try {
      const cursor = this.sessions
        .find({ deleted: true }, { deleted_at: 1 })
        .lean<Array<{ _id: string }>>()
        .cursor({ batchSize: BACKFILL_BATCH });
      let batch: string[] = [];
      const flush = async () => {
        marked += await this.index.backfillDeleted(batch);
        batch = [];
        await sleep(BACKFILL_PAUSE_MS);
      };
      for await (const document of cursor as AsyncIterable<{ _id: string }>) {
        if (this.stopped) break;
        batch.push(document._id);
        if (batch.length >= BACKFILL_BATCH) await flush();
      }
      if (batch.length > 0 && !this.stopped) await flush();
      if (marked > 0) this.logger.log({ event: 'search_index_deleted_marked', marked });
    } catch (error) {
      this.logger.warn({ event: 'search_index_deleted_mark_failed', marked, err: String(error) });
    }
    return marked;
  }

  // Sessions deleted before `cutoff`, at most `limit`. The projection names a field: on FerretDB a
  // find projecting `_id` alone decodes each whole session it scans, messages included.
  async expired(cutoff: Date, limit: number): Promise<string[]> {
    const found = await this.sessions
      .find({ deleted: true, deleted_at: { $lt: cutoff } }, { deleted_at: 1 })
      .limit(limit)
      .lean<Array<{ _id: string }>>();
    return found.map((document) => document._id);
  }

  // Removes the session when it is still deleted before `cutoff`: first what `dependents` removes
  // (records elsewhere tied to it, and its conversations at vendors, from its owner and provider
  // state), then its search index, then its document, all under its lock (a note's insert waits on it
  // and then finds no session) and the last two under the index's lock too (an index write waiting
  // then reads no session, and makes no index again). The document goes last: a purge cut off before
  // leaves it deleted and due, and the next sweep does it all again (each step is idempotent). True
  // when this call removed the document (another instance may have).
  remove(
    sessionId: string,
    cutoff: Date,
    dependents: (session: PurgedSession) => Promise<void>,
  ): Promise<boolean> {
    return this.service.exclusive(sessionId, async () => {
      const due = await this.sessions
        .findOne(
          { _id: sessionId, deleted: true, deleted_at: { $lt: cutoff } },
          { user_id: 1, provider_state: 1 },
        )
        .lean<{ user_id: string; provider_state?: Record<string, unknown> | null }>();
      if (!due) return false;
      await dependents({
        id: sessionId,
        userId: due.user_id,
        providerStates: providerStates(due.provider_state ?? {}),
      });
      return this.index.exclusive(sessionId, async () => {
        await this.terms.deleteOne({ _id: sessionId });
        const removed = await this.sessions.deleteOne({ _id: sessionId, deleted: true });
        // the copy this instance may hold of its log goes before an index write can read it
        this.service.forget(sessionId);
        return removed.deletedCount === 1;
      });
    });
  }
}

// provider_state's entries by model id, those that hold state (setProviderState writes objects)
function providerStates(stored: Record<string, unknown>): Map<string, Record<string, unknown>> {
  const states = new Map<string, Record<string, unknown>>();
  for (const [key, state] of Object.entries(stored))
    if (typeof state === 'object' && state !== null && !Array.isArray(state))
      states.set(modelOfStateKey(key), state as Record<string, unknown>);
  return states;
}
