import { Inject, Injectable, OnModuleInit } from '@nestjs/common';
import { InjectModel } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { ContentCipher } from '../../common/crypto/content-cipher';
import { readable } from '../../common/crypto/readable-content';
import { ROOM_CIPHER } from './room-messages.repository';
import { Report, type ReportedMessage } from './schemas/room-extras.schema';
import { compositeKey } from '../../common/composite-key';
import { isDuplicateKey } from '../../common/store-errors';

// the reported message as it was when reported (decrypted)
export interface ReportedRecord {
  seq: number;
  sent_at: Date;
  edited_at?: Date;
  deleted?: boolean;
  content?: string;
  file_name?: string;
  // its text or file name could not be decrypted (a key no longer listed, readable-content.ts):
  // shown empty, when read back or when the message was reported
  unreadable?: boolean;
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

  // One report per reporter and message (docs/protocol.md, "Reports"): its `_id` is reportIdOf, so a
  // repeat fails on the unique `_id` (also when the copies race, on FerretDB too) and gets the report
  // stored first, `created` false: the caller raises no alert for it. A report deleted between the
  // refused insert and the read (the retention sweep) is made again.
  async insert(input: Omit<ReportRecord, 'id'>): Promise<{ report: ReportRecord; created: boolean }> {
    const id = reportIdOf(input.room_id, input.message_id, input.reporter_id);
    const { reason, reported, ...rest } = input;
    for (;;) {
      try {
        await this.reports.create({
          _id: id,
          ...rest,
          ...(reason ? { reason: this.cipher.encrypt(reason) } : {}),
          ...(reported ? { reported: this.sealed(reported) } : {}),
        });
        return { report: { id, ...input }, created: true };
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
      }
      const stored = await this.reports.findById(id).lean<Report>();
      if (stored) return { report: this.toRecord(stored), created: false };
    }
  }

  async list(skip: number, limit: number): Promise<{ items: ReportRecord[]; total: number }> {
    const [found, total] = await Promise.all([
      this.reports.find({}).sort({ at: -1, _id: 1 }).skip(skip).limit(limit).lean<Report[]>(),
      this.reports.countDocuments({}),
    ]);
    return { items: found.map((report) => this.toRecord(report)), total };
  }

  // What cannot be decrypted (readable-content.ts): the reason, secondary as a feedback reason is, is
  // left out; the reported text and file name are shown empty, `reported.unreadable` true.
  private toRecord({ _id, reason, reported, ...rest }: Report): ReportRecord {
    const opened = reason ? readable(this.cipher, reason, { field: 'report_reason', report_id: _id }) : null;
    return {
      id: _id,
      ...rest,
      ...(opened !== null ? { reason: opened } : {}),
      reported: reported ? this.opened(_id, reported) : null,
    };
  }

  // Reports made before `cutoff` go, with the message text they keep (the retention sweep,
  // ROOM_RETENTION after the report). The number removed.
  async deleteOlderThan(cutoff: Date): Promise<number> {
    return (await this.reports.deleteMany({ at: { $lt: cutoff } })).deletedCount;
  }

  // Key rotation (ReportRotationService): each report holding a reason, or a reported text or file
  // name, written with another key than the current one, with those fields ([path, stored value]);
  // one pass over the collection (a cursor: no sort or skip for the store).
  async *withOldKeys(): AsyncGenerator<{ id: string; stale: Array<[string, string]> }> {
    const cursor = this.reports
      .find({}, { _id: 1, reason: 1, reported: 1 })
      .lean<Array<Pick<Report, '_id' | 'reason' | 'reported'>>>()
      .cursor({ batchSize: 100 });
    for await (const report of cursor) {
      const fields: Array<[string, string | undefined]> = [
        ['reason', report.reason],
        ['reported.content', report.reported?.content],
        ['reported.file_name', report.reported?.file_name],
      ];
      const stale = fields.filter(
        (field): field is [string, string] =>
          typeof field[1] === 'string' && !this.cipher.isCurrent(field[1]),
      );
      if (stale.length > 0) yield { id: report._id, stale };
    }
  }

  // Rewrites those fields with the current key. No lock: a report is inserted once and after that
  // only deleted (retention), never updated, so a `$set` whose filter holds each old ciphertext loses
  // no change even as FerretDB's unlocked read-modify-write (docs/protocol.md, "The store"); a
  // report deleted meanwhile is not written back (an update, no upsert). Whether it was written.
  async reencrypt(id: string, stale: Array<[string, string]>): Promise<boolean> {
    const filter = Object.fromEntries([['_id', id], ...stale]);
    const set = Object.fromEntries(stale.map(([path, stored]) => [path, this.cipher.reencrypt(stored)]));
    return (await this.reports.updateOne(filter, { $set: set })).matchedCount === 1;
  }

  private sealed(reported: ReportedRecord): ReportedMessage {
    const { content, file_name: fileName, ...rest } = reported;
    return {
      ...rest,
      ...(content !== undefined ? { content: this.cipher.encrypt(content) } : {}),
      ...(fileName !== undefined ? { file_name: this.cipher.encrypt(fileName) } : {}),
    };
  }

  private opened(reportId: string, reported: ReportedMessage): ReportedRecord {
    const { content, file_name: fileName, edited_at: editedAt, deleted, seq, sent_at: sentAt } = reported;
    let unreadable = reported.unreadable === true;
    const open = (stored: string, field: string) => {
      const text = readable(this.cipher, stored, { field, report_id: reportId });
      if (text === null) unreadable = true;
      return text ?? '';
    };
    return {
      seq,
      sent_at: sentAt,
      ...(editedAt ? { edited_at: editedAt } : {}),
      ...(deleted ? { deleted } : {}),
      ...(content !== undefined ? { content: open(content, 'reported_content') } : {}),
      ...(fileName !== undefined ? { file_name: open(fileName, 'reported_file_name') } : {}),
      ...(unreadable ? { unreadable } : {}),
    };
  }
}

// A report's `_id`: one per (room, message, reporter), its parts escaped (compositeKey; a user id may
// hold `|`). Reports stored before it keep the random ids they were given.
export function reportIdOf(roomId: string, messageId: string, reporterId: string): string {
  return compositeKey([roomId, messageId, reporterId]);
}
