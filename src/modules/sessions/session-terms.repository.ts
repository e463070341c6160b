import { Injectable, type OnModuleInit } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { bulkEach, coalescingLoader } from '../../common/coalescing-loader';
import { tokenFilter } from '../../common/crypto/blind-index';
import { SessionTerms } from './schemas/session-terms.schema';

interface Addition {
  sessionId: string;
  userId: string;
  from: number;
  to: number;
  tokens: string[];
  lastActivity: Date;
  // the key the tokens were made with (BlindIndex.keyId)
  keyId: string;
}

// one session's index made anew (key rotation's re-index)
export interface Rewrite {
  sessionId: string;
  userId: string;
  seq: number;
  tokens: string[];
  lastActivity: Date;
  keyId: string;
}

// statements per coalesced bulkWrite, as the sessions' (docs/protocol.md, "Coalesced writes")
const BULK_STATEMENTS = 50;

// session_terms: each session's blind-index tokens (docs/protocol.md, "Search"). The caller holds
// the index's lock (`terms:<session>`) for every write: FerretDB applies `$addToSet` and the
// `indexed_seq` compare-and-set as an unlocked read-modify-write. Reads and writes of many sessions
// that come together share one command per batch, as the sessions' do.
@Injectable()
export class SessionTermsRepository implements OnModuleInit {
  constructor(@InjectModel(SessionTerms.name) private readonly terms: Model<SessionTerms>) {}

  async onModuleInit(): Promise<void> {
    await this.terms.createIndexes();
  }

  // Adds the tokens of the messages after `from` up to `to`, when the index stands at `from`
  // (0: none yet, and the document is made). false: it stands elsewhere (an instance died before its
  // write, or another wrote since this one looked), or the batch it went in was not all written;
  // the caller reads `indexedSeq` and tries again.
  add(addition: Addition): Promise<boolean> {
    return this.additions.load(addition);
  }

  // Where the session's index stands: 0 when it has none.
  indexedSeq(sessionId: string): Promise<number> {
    return this.positions.load(sessionId);
  }

  // The sessions whose tokens hold, for every word, one of its tokens (`byWord`: under each listed
  // key), newest activity first, at most `limit`; deleted ones only when asked for (a scalar
  // top-level $ne, and the per-key $and of $in: store conformance suite).
  async matching(
    byWord: string[][],
    scope: { userId?: string; includeDeleted: boolean },
    limit: number,
  ): Promise<string[]> {
    const filter: Record<string, unknown> = tokenFilter('tokens', byWord);
    if (scope.userId !== undefined) filter.user_id = scope.userId;
    if (!scope.includeDeleted) filter.deleted = { $ne: true };
    const found = await this.terms
      .find(filter, { _id: 1 })
      .sort({ last_activity: -1 })
      .limit(limit)
      .lean<Array<{ _id: string }>>();
    return found.map((document) => document._id);
  }

  // Marks the session's index deleted (the caller holds the index's lock). An index not written yet
  // is made, empty and at 0, so that the write still due for the session (its end's) adds to it and
  // keeps the mark rather than making an unmarked one.
  async markDeleted(sessionId: string, userId: string, at: Date): Promise<void> {
    await this.terms.collection.updateOne(
      { _id: sessionId } as Record<string, unknown>,
      {
        $set: { deleted: true },
        $setOnInsert: {
          user_id: userId,
          tokens: [],
          indexed_seq: 0,
          last_activity: at,
          index_keys: [],
          keyed: true,
        },
      },
      { upsert: true },
    );
  }

  // Marks the session's index deleted when there is one (the backfill of sessions deleted before the
  // mark existed; the caller holds the index's lock): none is made.
  async markFound(sessionId: string): Promise<void> {
    await this.terms.collection.updateOne({ _id: sessionId } as Record<string, unknown>, {
      $set: { deleted: true },
    });
  }

  // Of `ids`, the sessions whose index is there and not marked deleted.
  async unmarked(ids: string[]): Promise<string[]> {
    const found = await this.terms
      .find({ _id: { $in: ids }, deleted: { $ne: true } }, { indexed_seq: 1 })
      .lean<Array<{ _id: string }>>();
    return found.map((document) => document._id);
  }

  // The sessions whose index holds tokens of another key than `keyId`, or of a key not known (made
  // before the keys were kept), in one pass over the collection (key rotation's re-index: a
  // background job, a cursor, the test made here as the sessions' pass makes its own).
  async *madeWithOtherKeys(keyId: string): AsyncGenerator<string> {
    const cursor = this.terms
      .find({}, { index_keys: 1, keyed: 1 })
      .lean<Array<Pick<SessionTerms, '_id' | 'index_keys' | 'keyed'>>>()
      .cursor({ batchSize: 100 });
    for await (const entry of cursor as AsyncIterable<Pick<SessionTerms, '_id' | 'index_keys' | 'keyed'>>)
      if (entry.keyed !== true || (entry.index_keys ?? []).some((key) => key !== keyId)) yield entry._id;
  }

  // Writes the session's index anew (the caller holds its lock): its tokens, all under `keyId`, up to
  // `seq`. The `deleted` mark is kept; an index not there (purged since) is not made again.
  async rewrite(rewrite: Rewrite): Promise<void> {
    await this.terms.collection.updateOne({ _id: rewrite.sessionId } as Record<string, unknown>, {
      $set: {
        user_id: rewrite.userId,
        tokens: rewrite.tokens,
        indexed_seq: rewrite.seq,
        last_activity: rewrite.lastActivity,
        index_keys: [rewrite.keyId],
        keyed: true,
      },
    });
  }

  private readonly additions = coalescingLoader<Addition, boolean>(async (batch) => {
    const operations = batch.map((addition) => ({
      updateOne: {
        filter: { _id: addition.sessionId, indexed_seq: addition.from } as Record<string, unknown>,
        update: {
          $set: { indexed_seq: addition.to, last_activity: addition.lastActivity, user_id: addition.userId },
          // the key joins the entry's keys; `keyed` only on the entry's making (one made before the
          // keys were kept stays without it, its older tokens' key not known)
          $addToSet: {
            index_keys: addition.keyId,
            ...(addition.tokens.length > 0 ? { tokens: { $each: addition.tokens } } : {}),
          },
          ...(addition.from === 0 ? { $setOnInsert: { keyed: true } } : {}),
        },
        upsert: addition.from === 0,
      },
    }));
    const collection = this.terms.collection;
    const { answers, result } = await bulkEach(async () => {
      if (operations.length > 1) return collection.bulkWrite(operations, { ordered: false });
      const [{ updateOne: one }] = operations;
      try {
        return await collection.updateOne(one.filter, one.update, { upsert: one.upsert });
      } catch (error) {
        // an upsert from 0 that met the index another instance made: answered as in a bulk (not
        // written), not thrown. Until the library audit it was thrown, only logged, and the instance
        // that made the session kept writing from 0: none of its messages was found again
        // (docs/protocol.md, "Search")
        if (one.upsert && duplicateKey(error)) return { matchedCount: 0, upsertedCount: 0 };
        throw error;
      }
    }, operations.length);
    // all written, or each caller looks again (a duplicate key: an upsert from 0 met a document)
    const written = result ? result.matchedCount + result.upsertedCount === batch.length : false;
    return answers.map((answer) => answer === true && written);
  }, BULK_STATEMENTS);

  private readonly positions = coalescingLoader<string, number>(async (ids) => {
    const found = await this.terms
      .find({ _id: { $in: [...new Set(ids)] } }, { indexed_seq: 1 })
      .lean<Array<Pick<SessionTerms, '_id' | 'indexed_seq'>>>();
    const byId = new Map(found.map((document) => [document._id, document.indexed_seq]));
    return ids.map((id) => byId.get(id) ?? 0);
  });
}

function duplicateKey(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 11000;
}
