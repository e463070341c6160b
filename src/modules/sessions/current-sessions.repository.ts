import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { coalescingLoader, insertEach } from '../../common/coalescing-loader';
import { isDuplicateKey } from '../../common/store-errors';
import { CurrentSession } from './schemas/current-session.schema';

type Pointer = { _id: string; session_id: string; updated_at: Date };

// Each user's current-session pointer, read and written by `_id` (the user id) only: opening a
// connection finds the user's session without a query by user (FerretDB would scan every session).
@Injectable()
export class CurrentSessionsRepository {
  constructor(@InjectModel(CurrentSession.name) private readonly current: Model<CurrentSession>) {}

  // Reads and first writes of pointers are coalesced (docs/protocol.md, "Opening a session"): the
  // users connecting while one batch is in flight are read in one find by `_id`, and the new ones
  // among them inserted in one insertMany. Both go to the driver: the fields are typed here.
  private readonly reads = coalescingLoader<string, string | undefined>(async (users) => {
    const found = await this.current.collection
      .find({ _id: { $in: [...new Set(users)] } } as Record<string, unknown>, {
        projection: { session_id: 1 },
      })
      .toArray();
    const byUser = new Map(
      found.map((pointer) => [pointer._id as unknown as string, pointer.session_id as string]),
    );
    return users.map((user) => byUser.get(user));
  });

  private readonly inserts = coalescingLoader<Pointer, true>((pointers) =>
    insertEach(this.current.collection, pointers),
  );

  sessionOf(userId: string): Promise<string | undefined> {
    return this.reads.load(userId);
  }

  // The user's pointer, or `sessionId` as a new one when the user has none (inserted then; a
  // returning user's open writes nothing). Callers hold the user lock (the pointer's writers are
  // serialized per user); an insert that meets another writer's pointer anyway (a lock lost with its
  // instance) fails on the unique `_id`, and that pointer is the answer.
  async claim(userId: string, sessionId: string, now: Date): Promise<string> {
    const pointer = await this.reads.load(userId);
    if (pointer !== undefined) return pointer;
    try {
      await this.inserts.load({ _id: userId, session_id: sessionId, updated_at: now });
      return sessionId;
    } catch (error) {
      if (!isDuplicateKey(error)) throw error;
      const taken = await this.reads.load(userId);
      if (taken === undefined) throw error;
      return taken;
    }
  }

  async set(userId: string, sessionId: string, now: Date): Promise<void> {
    await this.current.updateOne(
      { _id: userId },
      { $set: { session_id: sessionId, updated_at: now } },
      { upsert: true },
    );
  }

  // Sessions stored before the pointers existed: once, while there are no pointers at all, point
  // each user at their latest active session (`active` newest first; idempotent if replicas boot
  // together, the first pointer per user wins).
  async backfill(
    active: () => Promise<Array<{ _id: string; user_id: string; last_activity: Date }>>,
  ): Promise<void> {
    if ((await this.current.estimatedDocumentCount()) > 0) return;
    for (const session of await active())
      await this.current.updateOne(
        { _id: session.user_id },
        { $setOnInsert: { session_id: session._id, updated_at: session.last_activity } },
        { upsert: true },
      );
  }
}
