import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { ContentCipher } from '../../common/crypto/content-cipher';
import { ROOM_CIPHER } from './room-messages.repository';
import { Report, type ReportedMessage } from './schemas/room-extras.schema';
import { newId } from '../../common/ids';

// the reported message as it was when reported (decrypted)
export interface ReportedRecord {
  seq: number;
  sent_at: Date;
  edited_at?: Date;
  deleted?: boolean;
  content?: string;
  file_name?: string;
}

export interface ReportRecord {
  id: string;
  room_id: string;
  message_id: string;
  reporter_id: string;
  sender_id: string;
  reason?: string;
  // null on reports made before it was kept
  reported: ReportedRecord | null;
  at: Date;
}

// chat_reports: messages reported to the admins; the reporter's reason and the reported message's
// text and file name are encrypted like messages.
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
    const { reason, reported, ...rest } = input;
    await this.reports.create({
      _id: id,
      ...rest,
      ...(reason ? { reason: this.cipher.encrypt(reason) } : {}),
      ...(reported ? { reported: this.sealed(reported) } : {}),
    });
    return { id, ...input };
  }

  async list(skip: number, limit: number): Promise<{ items: ReportRecord[]; total: number }> {
    const [found, total] = await Promise.all([
      this.reports.find({}).sort({ at: -1, _id: 1 }).skip(skip).limit(limit).lean<Report[]>(),
      this.reports.countDocuments({}),
    ]);
    const items = found.map(({ _id, reason, reported, ...rest }) => ({
      id: _id,
      ...rest,
      ...(reason ? { reason: this.cipher.decrypt(reason) } : {}),
      reported: reported ? this.opened(reported) : null,
    }));
    return { items, total };
  }

  // Reports made before `cutoff` go, with the message text they keep (the retention sweep,
  // ROOM_RETENTION after the report). The number removed.
  async deleteOlderThan(cutoff: Date): Promise<number> {
    return (await this.reports.deleteMany({ at: { $lt: cutoff } })).deletedCount;
  }

  private sealed(reported: ReportedRecord): ReportedMessage {
    const { content, file_name: fileName, ...rest } = reported;
    return {
      ...rest,
      ...(content !== undefined ? { content: this.cipher.encrypt(content) } : {}),
      ...(fileName !== undefined ? { file_name: this.cipher.encrypt(fileName) } : {}),
    };
  }

  private opened(reported: ReportedMessage): ReportedRecord {
    const { content, file_name: fileName, edited_at: editedAt, deleted, seq, sent_at: sentAt } = reported;
    return {
      seq,
      sent_at: sentAt,
      ...(editedAt ? { edited_at: editedAt } : {}),
      ...(deleted ? { deleted } : {}),
      ...(content !== undefined ? { content: this.cipher.decrypt(content) } : {}),
      ...(fileName !== undefined ? { file_name: this.cipher.decrypt(fileName) } : {}),
    };
  }
}
