import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { ContentCipher } from '../../common/crypto/content-cipher';
import { ROOM_CIPHER } from './room-messages.repository';
import { Report } from './schemas/room-extras.schema';
import { newId } from '../../common/ids';

export interface ReportRecord {
  id: string;
  room_id: string;
  message_id: string;
  reporter_id: string;
  sender_id: string;
  reason?: string;
  at: Date;
}

// chat_reports: messages reported to the admins; the reporter's reason is encrypted like messages.
@Injectable()
export class ReportsRepository implements OnModuleInit {
  constructor(
    @InjectModel(Report.name) private readonly reports: Model<Report>,
    @Inject(ROOM_CIPHER) private readonly cipher: ContentCipher,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.reports.createIndexes();
  }

  async insert(input: Omit<ReportRecord, 'id'>): Promise<ReportRecord> {
    const id = newId();
    const { reason, ...rest } = input;
    await this.reports.create({
      _id: id,
      ...rest,
      ...(reason ? { reason: this.cipher.encrypt(reason) } : {}),
    });
    return { id, ...input };
  }

  async list(skip: number, limit: number): Promise<{ items: ReportRecord[]; total: number }> {
    const [found, total] = await Promise.all([
      this.reports.find({}).sort({ at: -1, _id: 1 }).skip(skip).limit(limit).lean<Report[]>(),
      this.reports.countDocuments({}),
    ]);
    const items = found.map(({ _id, reason, ...rest }) => ({
      id: _id,
      ...rest,
      ...(reason ? { reason: this.cipher.decrypt(reason) } : {}),
    }));
    return { items, total };
  }
}
