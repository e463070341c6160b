import { Injectable } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { ReadMark } from './schemas/room-extras.schema';
import { participantId } from './room.types';

// chat_read_marks: the last seq each member has read, per room.
@Injectable()
export class ReadMarksRepository {
  constructor(@InjectModel(ReadMark.name) private readonly marks: Model<ReadMark>) {}

  // Only ever moves forward ($max); keyed by `_id`, so no index beyond it is needed.
  async mark(roomId: string, userId: string, seq: number): Promise<void> {
    await this.marks.updateOne(
      { _id: participantId(roomId, userId) },
      { $max: { seq }, $setOnInsert: { room_id: roomId, user_id: userId } },
      { upsert: true },
    );
  }

  async of(roomIds: string[], userId: string): Promise<Map<string, number>> {
    if (roomIds.length === 0) return new Map();
    const found = await this.marks
      .find({ _id: { $in: roomIds.map((roomId) => participantId(roomId, userId)) } })
      .lean<ReadMark[]>();
    return new Map(found.map((mark) => [mark.room_id, mark.seq]));
  }
}
