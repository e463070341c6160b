import { Injectable, OnModuleInit } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { Reaction } from './schemas/room-extras.schema';

const DUPLICATE_KEY = 11000;

// chat_reactions: one document per (message, user, emoji).
@Injectable()
export class ReactionsRepository implements OnModuleInit {
  constructor(@InjectModel(Reaction.name) private readonly reactions: Model<Reaction>) {}

  async onModuleInit(): Promise<void> {
    await this.reactions.createIndexes();
  }

  async add(input: Omit<Reaction, '_id'>): Promise<void> {
    try {
      await this.reactions.create({ _id: `${input.message_id}|${input.user_id}|${input.emoji}`, ...input });
    } catch (error) {
      // reacting twice with the same emoji is one reaction
      if ((error as { code?: number }).code !== DUPLICATE_KEY) throw error;
    }
  }

  async remove(messageId: string, userId: string, emoji: string): Promise<void> {
    await this.reactions.deleteOne({ _id: `${messageId}|${userId}|${emoji}` });
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
