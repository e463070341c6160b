import { Injectable, OnModuleInit } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { CannedResponse } from './schemas/canned-response.schema';

export interface CannedResponseRecord {
  id: string;
  title: string;
  text: string;
  shortcut: string;
  created_by: string;
  updated_at: Date;
}

// Mongoose for canned_responses lives here only; the collection's one writer is this module.
@Injectable()
export class CannedResponsesRepository implements OnModuleInit {
  constructor(@InjectModel(CannedResponse.name) private readonly responses: Model<CannedResponse>) {}

  async onModuleInit(): Promise<void> {
    await this.responses.createIndexes();
  }

  async list(): Promise<CannedResponseRecord[]> {
    const found = await this.responses.find().sort({ shortcut: 1 }).lean<CannedResponse[]>();
    return found.map(toRecord);
  }

  async findByShortcut(shortcut: string): Promise<CannedResponseRecord | null> {
    const found = await this.responses.findOne({ shortcut }).lean<CannedResponse>();
    return found ? toRecord(found) : null;
  }

  async create(record: CannedResponseRecord): Promise<void> {
    const { id, ...rest } = record;
    await this.responses.create({ _id: id, ...rest });
  }

  async update(
    id: string,
    changes: Partial<Pick<CannedResponseRecord, 'title' | 'text' | 'shortcut'>> & { updated_at: Date },
  ): Promise<CannedResponseRecord | null> {
    const found = await this.responses
      .findOneAndUpdate({ _id: id }, { $set: changes }, { returnDocument: 'after' })
      .lean<CannedResponse>();
    return found ? toRecord(found) : null;
  }

  async delete(id: string): Promise<boolean> {
    return (await this.responses.deleteOne({ _id: id })).deletedCount === 1;
  }
}

function toRecord(document: CannedResponse): CannedResponseRecord {
  const { _id, ...rest } = document;
  return { id: _id, ...rest, updated_at: new Date(rest.updated_at) };
}
