import { Inject, Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { upsertRetried } from '../../common/store-errors';
import { SESSION_LOCK } from '../../infra/lock/lock';
import type { WriteLock } from '../../infra/lock/write.lock';
import { ReadMark } from './schemas/room-extras.schema';
import { participantId } from './room.types';

// chat_read_marks: the last seq each member has read, per room.
@Injectable()
export class ReadMarksRepository {
  constructor(
    @InjectModel(ReadMark.name) private readonly marks: Model<ReadMark>,
    // a member's marks, one writer at a time on every instance (room-locks.ts)
    @Inject(SESSION_LOCK) private readonly lock: WriteLock,
  ) {}

  // Only ever moves forward ($max); keyed by `_id`, so no index beyond it is needed. Under the
  // member's read lock: two devices reading at once would otherwise write a lower mark over a higher
  // one on FerretDB, which applies `$max` as an unlocked read-modify-write. Two upserts of a missing
  // mark that race anyway (a lock lost with its instance; MongoDB's own upsert race) meet on the
  // `_id`: the loser's insert fails, and its update then applies.
  // Answers the mark as it stands after the write: `seq`, or a higher one read before.
  async mark(roomId: string, userId: string, seq: number): Promise<number> {
    const stored = await this.lock.run(`read:${participantId(roomId, userId)}`, () =>
      upsertRetried(() =>
        this.marks
          .findOneAndUpdate(
            { _id: participantId(roomId, userId) },
            { $max: { seq }, $setOnInsert: { room_id: roomId, user_id: userId } },
            // no projection: FerretDB 1.24's findAndModify refuses `fields` (the mark is small)
            { upsert: true, new: true },
          )
          .lean<{ seq: number }>(),
      ),
    );
    return Math.max(stored?.seq ?? seq, seq);
  }

  async of(roomIds: string[], userId: string): Promise<Map<string, number>> {
    if (roomIds.length === 0) return new Map();
    const found = await this.marks
      .find({ _id: { $in: roomIds.map((roomId) => participantId(roomId, userId)) } })
      .lean<ReadMark[]>();
    return new Map(found.map((mark) => [mark.room_id, mark.seq]));
  }
}
