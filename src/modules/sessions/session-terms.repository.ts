import { Injectable, type OnModuleInit } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { bulkEach, coalescingLoader } from '../../common/coalescing-loader';
import { SessionTerms } from './schemas/session-terms.schema';

interface Addition {
  sessionId: string;
  userId: string;
  from: number;
  to: number;
  tokens: string[];
  lastActivity: Date;
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

  // The sessions whose tokens hold every one of `tokens`, newest activity first, at most `limit`;
  // deleted ones only when asked for (a scalar top-level $ne: store conformance suite).
  async matching(
    tokens: string[],
    scope: { userId?: string; includeDeleted: boolean },
    limit: number,
  ): Promise<string[]> {
    const filter: Record<string, unknown> = { tokens: { $all: tokens } };
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
        $setOnInsert: { user_id: userId, tokens: [], indexed_seq: 0, last_activity: at },
      },
      { upsert: true },
    );
  }

  private readonly additions = coalescingLoader<Addition, boolean>(async (batch) => {
    const operations = batch.map((addition) => ({
      updateOne: {
        filter: { _id: addition.sessionId, indexed_seq: addition.from } as Record<string, unknown>,
        update: {
          $set: { indexed_seq: addition.to, last_activity: addition.lastActivity, user_id: addition.userId },
          ...(addition.tokens.length > 0 ? { $addToSet: { tokens: { $each: addition.tokens } } } : {}),
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
