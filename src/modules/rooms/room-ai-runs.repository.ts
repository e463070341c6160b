import { Injectable, OnModuleInit } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { RoomAiRun } from './schemas/room-ai.schema';
import { isDuplicateKey } from '../../common/store-errors';

export interface RoomAiRunRecord {
  room_id: string;
  reply_id: string;
  reply_to: string;
  asker_id: string;
  model: string;
  instance: string;
  started_at: Date;
  renewed_at: Date;
}

// chat_ai_runs: the one AI reply streaming per room (rooms-store-conformance: racing inserts of one
// `_id` leave one holder; deletes match only what they name).
@Injectable()
export class RoomAiRunsRepository implements OnModuleInit {
  constructor(@InjectModel(RoomAiRun.name) private readonly runs: Model<RoomAiRun>) {}

  async onModuleInit(): Promise<void> {
    await this.runs.createIndexes();
  }

  // false when a reply is streaming in the room already
  async start(run: RoomAiRunRecord): Promise<boolean> {
    const { room_id, ...rest } = run;
    try {
      await this.runs.create({ _id: room_id, ...rest });
      return true;
    } catch (error) {
      if (isDuplicateKey(error)) return false;
      throw error;
    }
  }

  async find(roomId: string): Promise<RoomAiRunRecord | null> {
    return toRecord(await this.runs.findOne({ _id: roomId }).lean<RoomAiRun>());
  }

  // Only the holder renews (one writer per document), and only its own run still live: renewed since
  // `since` (a run another instance could take as stale is never renewed; AiLeaseTimes.renewableMs).
  // false when it matched nothing: the run was ended (or the room holds another run) and the holder
  // lost it. Until the paused-instance audit (round 2) of session 43 the match was not read, and a
  // holder paused past its lease streamed on under a run another instance had ended (3 of 3 runs).
  async renew(roomId: string, replyId: string, now: Date, since: Date): Promise<boolean> {
    const result = await this.runs.updateOne(
      { _id: roomId, reply_id: replyId, renewed_at: { $gte: since } },
      { $set: { renewed_at: now } },
    );
    return result.matchedCount === 1;
  }

  async finish(roomId: string, replyId: string): Promise<void> {
    await this.runs.deleteOne({ _id: roomId, reply_id: replyId });
  }

  async stale(cutoff: Date, limit = 100): Promise<RoomAiRunRecord[]> {
    const found = await this.runs
      .find({ renewed_at: { $lt: cutoff } })
      .limit(limit)
      .lean<RoomAiRun[]>();
    return found.map((run) => toRecord(run) as RoomAiRunRecord);
  }

  // true when this caller removed a run still stale (another instance may race it; the reply's
  // marker is stored once whoever wins, by its id)
  async takeStale(roomId: string, replyId: string, cutoff: Date): Promise<boolean> {
    const result = await this.runs.deleteOne({ _id: roomId, reply_id: replyId, renewed_at: { $lt: cutoff } });
    return result.deletedCount === 1;
  }
}

function toRecord(run: RoomAiRun | null): RoomAiRunRecord | null {
  if (!run) return null;
  const { _id, ...rest } = run;
  return { room_id: _id, ...rest };
}
