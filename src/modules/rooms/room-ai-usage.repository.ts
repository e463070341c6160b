import { Injectable, OnModuleInit } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import type { RoomAiUsage as Usage } from '../../protocol/rooms';
import { RoomAiUsage } from './schemas/room-ai.schema';
import { isDuplicateKey } from '../../common/store-errors';

export interface RoomAiUsageRecord extends Usage {
  reply_id: string;
  room_id: string;
  model: string;
  asker_id: string;
  outcome: string;
  at: Date;
}

// the tokens of a reply whose instance lost its run mid-stream (RoomAiReplyService): billed apart
// from the reply (which the instance that ended the run stored), under the reply's id and this
// suffix, and not counted as a reply
export const LOST_USAGE_SUFFIX = ':lost';
export const LOST_OUTCOME = 'lease_lost';

export interface RoomAiUsageTotal extends Usage {
  replies: number;
}

// chat_ai_usage: a document per AI reply, billed to its room; summed in code when read
// (rooms-store-conformance: FerretDB 1.24's $group computes only the first of several $sum).
@Injectable()
export class RoomAiUsageRepository implements OnModuleInit {
  constructor(@InjectModel(RoomAiUsage.name) private readonly usage: Model<RoomAiUsage>) {}

  async onModuleInit(): Promise<void> {
    await this.usage.createIndexes();
  }

  // once per reply: a second record of the same reply (a stale run ended twice) is ignored
  async record(entry: RoomAiUsageRecord): Promise<void> {
    const { reply_id, ...rest } = entry;
    try {
      await this.usage.create({ _id: reply_id, ...rest });
    } catch (error) {
      if (!isDuplicateKey(error)) throw error;
    }
  }

  // The room's usage in all, and per model; `since` bounds it to a period.
  async total(
    roomId: string,
    since?: Date,
  ): Promise<{ total: RoomAiUsageTotal; byModel: Array<RoomAiUsageTotal & { model: string }> }> {
    const filter = since ? { room_id: roomId, at: { $gte: since } } : { room_id: roomId };
    const cursor = this.usage
      .find(filter, { model: 1, outcome: 1, prompt_tokens: 1, completion_tokens: 1, total_tokens: 1 })
      .lean<RoomAiUsage>()
      .cursor();
    const total = emptyTotal();
    const byModel = new Map<string, RoomAiUsageTotal & { model: string }>();
    for await (const row of cursor) {
      let model = byModel.get(row.model);
      if (!model) byModel.set(row.model, (model = { model: row.model, ...emptyTotal() }));
      for (const sum of [total, model]) {
        if (row.outcome !== LOST_OUTCOME) sum.replies++;
        sum.prompt_tokens += row.prompt_tokens;
        sum.completion_tokens += row.completion_tokens;
        sum.total_tokens += row.total_tokens;
      }
    }
    return { total, byModel: [...byModel.values()].sort((a, b) => a.model.localeCompare(b.model)) };
  }
}

function emptyTotal(): RoomAiUsageTotal {
  return { replies: 0, prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };
}
