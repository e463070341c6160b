import { Injectable, OnModuleInit } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { Reaction } from './schemas/room-extras.schema';

const DUPLICATE_KEY = 11000;

export type ReactionKey = Pick<Reaction, 'room_id' | 'message_id' | 'user_id' | 'emoji' | 'message_at'>;

// chat_reactions: one document per (message, user, emoji), taken back by a mark (`removed`).
@Injectable()
export class ReactionsRepository implements OnModuleInit {
  constructor(@InjectModel(Reaction.name) private readonly reactions: Model<Reaction>) {}

  async onModuleInit(): Promise<void> {
    await this.reactions.createIndexes();
  }

  // Adds (`on`) or takes back the user's reaction, as it stood at `at` (when the operation reached the
  // server): a document per reaction, kept when taken back (`removed`), so an operation that arrived
  // earlier but lands later (a copy resent after a cut socket) finds a newer `at` and changes nothing.
  // Insert first (the unique `_id` holds on every store), else a compare on `at`. false: superseded.
  async set(input: ReactionKey, on: boolean, at: Date): Promise<boolean> {
    const _id = `${input.message_id}|${input.user_id}|${input.emoji}`;
    try {
      await this.reactions.create({ _id, ...input, removed: !on, at });
      return true;
    } catch (error) {
      if ((error as { code?: number }).code !== DUPLICATE_KEY) throw error;
    }
    // ties: the later write (one socket's frames are handled in order); no `at`: written before
    // reactions had one
    const result = await this.reactions.updateOne(
      { _id, $or: [{ at: null }, { at: { $lte: at } }] },
      { $set: { removed: !on, at } },
    );
    return result.matchedCount === 1;
  }

  // emoji → user ids, per message
  async forMessages(messageIds: string[]): Promise<Map<string, Record<string, string[]>>> {
    const byMessage = new Map<string, Record<string, string[]>>();
    if (messageIds.length === 0) return byMessage;
    const found = await this.reactions
      .find({ message_id: { $in: messageIds } })
      .sort({ _id: 1 })
      .lean<Reaction[]>();
    for (const reaction of found) {
      if (reaction.removed) continue;
      const emojis = byMessage.get(reaction.message_id) ?? {};
      (emojis[reaction.emoji] ??= []).push(reaction.user_id);
      byMessage.set(reaction.message_id, emojis);
    }
    return byMessage;
  }

  async deleteOlderThan(cutoff: Date): Promise<void> {
    await this.reactions.deleteMany({ message_at: { $lt: cutoff } });
  }
}
