import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { CurrentSession } from './schemas/current-session.schema';

// Each user's current-session pointer, read and written by `_id` (the user id) only: opening a
// connection finds the user's session without a query by user (FerretDB would scan every session).
@Injectable()
export class CurrentSessionsRepository {
  constructor(@InjectModel(CurrentSession.name) private readonly current: Model<CurrentSession>) {}

  async sessionOf(userId: string): Promise<string | undefined> {
    return (await this.current.findOne({ _id: userId }).lean<CurrentSession>())?.session_id;
  }

  // The user's pointer, or `sessionId` as a new one when the user has none (one findAndModify that
  // inserts only then, and writes nothing otherwise): whether the user is new and where a returning
  // user's session is, in the command that reads it. Callers hold the user lock (the pointer's
  // writers are serialized per user; an upsert racing another would fail on the unique `_id`).
  async claim(userId: string, sessionId: string, now: Date): Promise<string> {
    // to the driver directly: its fields are typed here, and mongoose's query casting cost more Node
    // CPU than the command (one per connect)
    const pointer = await this.current.collection.findOneAndUpdate(
      { _id: userId } as Record<string, unknown>,
      { $setOnInsert: { session_id: sessionId, updated_at: now } },
      { upsert: true, returnDocument: 'after' },
    );
    return (pointer?.session_id as string | undefined) ?? sessionId;
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
