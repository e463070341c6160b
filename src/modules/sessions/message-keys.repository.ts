import { Injectable, OnModuleInit } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { MessageKey } from './schemas/message-key.schema';

const DUPLICATE_KEY = 11000;

// The client_id check of an append, by a unique insert instead of an array filter: FerretDB 1.24
// matches {"messages.dedup": {$ne: k}} on a session whose messages hold k (store conformance suite).
@Injectable()
export class MessageKeysRepository implements OnModuleInit {
  constructor(@InjectModel(MessageKey.name) private readonly keys: Model<MessageKey>) {}

  async onModuleInit(): Promise<void> {
    await this.keys.createIndexes();
  }

  // true: first time this key is seen; false: seen before (the message may or may not be stored:
  // an instance can die between the claim and the append, so the caller checks the session log)
  async claim(sessionId: string, dedup: string, now = new Date()): Promise<boolean> {
    try {
      await this.keys.create({ _id: `${sessionId}|${dedup}`, at: now });
      return true;
    } catch (error) {
      if ((error as { code?: number }).code === DUPLICATE_KEY) return false;
      throw error;
    }
  }

  async prune(olderThan: Date): Promise<void> {
    await this.keys.deleteMany({ at: { $lt: olderThan } });
  }
}
