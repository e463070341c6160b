import { Injectable, OnModuleInit } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { Block } from './schemas/room-extras.schema';

// chat_blocks: who blocked whom.
@Injectable()
export class BlocksRepository implements OnModuleInit {
  constructor(@InjectModel(Block.name) private readonly blocks: Model<Block>) {}

  async onModuleInit(): Promise<void> {
    await this.blocks.createIndexes();
  }

  async block(blockerId: string, blockedId: string, now = new Date()): Promise<void> {
    await this.blocks.updateOne(
      { _id: `${blockerId}|${blockedId}` },
      { $setOnInsert: { blocker_id: blockerId, blocked_id: blockedId, at: now } },
      { upsert: true },
    );
  }

  async unblock(blockerId: string, blockedId: string): Promise<void> {
    await this.blocks.deleteOne({ _id: `${blockerId}|${blockedId}` });
  }

  async isBlocked(blockerId: string, blockedId: string): Promise<boolean> {
    return (await this.blocks.countDocuments({ _id: `${blockerId}|${blockedId}` })) > 0;
  }

  async blockedBy(blockerId: string): Promise<string[]> {
    const found = await this.blocks.find({ blocker_id: blockerId }).sort({ at: 1 }).lean<Block[]>();
    return found.map((block) => block.blocked_id);
  }
}
