import { Injectable, OnModuleInit } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { compositeKey, plainKey } from '../../common/composite-key';
import { isDuplicateKey } from '../../common/store-errors';
import { Block } from './schemas/room-extras.schema';

// chat_blocks: who blocked whom. A block's `_id` is `blocker|blocked` escaped (compositeKey): plainly
// joined, "a|b" blocking "c" and "a" blocking "b|c" were one document, so "a" was taken to have
// blocked "b|c" (refused BLOCKED) and "a" unblocking "b|c" took back the other block. A block stored
// before, whose blocker's id holds `|` or `\`, is still under the plain join: every read and delete
// names both ids (when they differ) and the pair's fields, so a plain id that is another pair's never
// counts, and a block whose id such a document holds moves it to its own first.
@Injectable()
export class BlocksRepository implements OnModuleInit {
  constructor(@InjectModel(Block.name) private readonly blocks: Model<Block>) {}

  async onModuleInit(): Promise<void> {
    await this.blocks.createIndexes();
  }

  async block(blockerId: string, blockedId: string, now = new Date()): Promise<void> {
    if (await this.isBlocked(blockerId, blockedId)) return;
    const _id = compositeKey([blockerId, blockedId]);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await this.blocks.updateOne(
          { _id, blocker_id: blockerId, blocked_id: blockedId },
          { $setOnInsert: { at: now } },
          { upsert: true },
        );
        return;
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
        // the same block made meanwhile is that block
        if (await this.isBlocked(blockerId, blockedId)) return;
        // another pair's block under this id, stored under its plain id before ids were escaped ("a|b"
        // blocking "c" is `a|b|c`, this escaped id of "a" blocking "b|c"): moved to its own id (never
        // this one: two pairs have two escaped ids), and this block takes the place
        const other = await this.blocks.findOne({ _id }).lean<Block>();
        if (!other) continue;
        await this.blocks.updateOne(
          {
            _id: compositeKey([other.blocker_id, other.blocked_id]),
            blocker_id: other.blocker_id,
            blocked_id: other.blocked_id,
          },
          { $setOnInsert: { at: other.at } },
          { upsert: true },
        );
        await this.blocks.deleteOne({ _id, blocker_id: other.blocker_id, blocked_id: other.blocked_id });
      }
    }
    throw new Error('block not stored');
  }

  async unblock(blockerId: string, blockedId: string): Promise<void> {
    await this.blocks.deleteMany(this.filterOf(blockerId, blockedId));
  }

  async isBlocked(blockerId: string, blockedId: string): Promise<boolean> {
    return (await this.blocks.countDocuments(this.filterOf(blockerId, blockedId))) > 0;
  }

  // a block between the two, whichever blocked the other: one command
  async isBlockedEitherWay(userA: string, userB: string): Promise<boolean> {
    const either = { $or: [this.filterOf(userA, userB), this.filterOf(userB, userA)] };
    return (await this.blocks.countDocuments(either)) > 0;
  }

  // the users this one blocked or was blocked by: one command, on the two ids' indexes
  async counterparts(userId: string): Promise<string[]> {
    const found = await this.blocks
      .find({ $or: [{ blocker_id: userId }, { blocked_id: userId }] }, { blocker_id: 1, blocked_id: 1 })
      .lean<Block[]>();
    return [
      ...new Set(found.map((block) => (block.blocker_id === userId ? block.blocked_id : block.blocker_id))),
    ];
  }

  async blockedBy(blockerId: string): Promise<string[]> {
    const found = await this.blocks.find({ blocker_id: blockerId }).sort({ at: 1 }).lean<Block[]>();
    // once each (a pair blocked under both ids, by both versions of a rolling deploy)
    return [...new Set(found.map((block) => block.blocked_id))];
  }

  private filterOf(blockerId: string, blockedId: string): Record<string, unknown> {
    const id = compositeKey([blockerId, blockedId]);
    const plain = plainKey([blockerId, blockedId]);
    return { _id: id === plain ? id : { $in: [id, plain] }, blocker_id: blockerId, blocked_id: blockedId };
  }
}
