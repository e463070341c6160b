import { Injectable } from '@nestjs/common';
import type { Principal } from '../../common/auth/principal';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { AlertsService } from '../notifications/alerts.service';
import { BlocksRepository } from './blocks.repository';
import { RoomMessagesRepository } from './room-messages.repository';
import { RoomMessagesService } from './room-messages.service';
import { ReportsRepository, type ReportedRecord, type ReportRecord } from './reports.repository';
import type { RoomMessageRecord } from './room.types';
import { RoomsService } from './rooms.service';

// What a person does about another: report a message to the admins (through the alert channels,
// email and SMS by default) and block a user (their direct messages are refused).
@Injectable()
export class RoomReportsService {
  constructor(
    private readonly messages: RoomMessagesService,
    private readonly stored: RoomMessagesRepository,
    private readonly reports: ReportsRepository,
    private readonly blocks: BlocksRepository,
    private readonly alerts: AlertsService,
    // the pair's direct message hears both users' status once a block is lifted
    private readonly rooms: RoomsService,
  ) {}

  async report(
    principal: Principal,
    roomId: string,
    messageId: string,
    reason?: string,
  ): Promise<ReportRecord> {
    await this.messages.memberOf(roomId, principal.userId);
    const message = await this.stored.find(roomId, messageId);
    if (!message) throw new DomainException(ErrorCode.NOT_FOUND, 'Message not found.');
    const { report, created } = await this.reports.insert({
      room_id: roomId,
      message_id: messageId,
      reporter_id: principal.userId,
      sender_id: message.sender_id,
      reason: reason?.trim() || undefined,
      reported: reportedOf(message),
      at: new Date(),
    });
    // A repeat of a report (the same reporter and message) is answered with the report made first
    // and stores and alerts nothing (docs/protocol.md, "Reports"). Until the quota audit of session
    // 41 each repeat stored another report and raised another alert, held for the digest after the
    // first (one member reporting one message 40 times: 40 reports, 40 alerts, 3 of 3 runs).
    if (!created) return report;
    // ids only in details; the reporter's words go as the reason (never logged); the message text
    // is kept with the report, encrypted, for the admins (GET /admin/reports)
    void this.alerts.raise({
      type: 'message_report',
      userId: principal.userId,
      details: `room ${roomId}, message ${messageId} (seq ${message.seq}) by ${message.sender_id}`,
      reason: report.reason,
      affectedUsers: 1,
      at: report.at,
    });
    return report;
  }

  list(skip: number, limit: number) {
    return this.reports.list(skip, limit);
  }

  async block(principal: Principal, userId: string): Promise<void> {
    if (userId === principal.userId)
      throw new DomainException(ErrorCode.INVALID_MESSAGE, 'You cannot block yourself.');
    await this.blocks.block(principal.userId, userId);
  }

  // The block goes, and the pair's direct message is told both users' status now: what either did
  // while the block hid them never reached it (RoomsService.unblocked).
  async unblock(principal: Principal, userId: string): Promise<void> {
    await this.blocks.unblock(principal.userId, userId);
    if (userId !== principal.userId) await this.rooms.unblocked(principal.userId, userId);
  }

  blocked(principal: Principal): Promise<string[]> {
    return this.blocks.blockedBy(principal.userId);
  }
}

// The reported message as it reads now, kept with the report: its author may edit or delete it before
// an admin looks, and the report would otherwise keep only its id (rooms audit, t22). A message
// deleted already keeps no text to take. Nor does one shown as unreadable (a key no longer listed,
// readable-content.ts): its empty text is not stored as if it were the text, only `unreadable`.
export function reportedOf(message: RoomMessageRecord): ReportedRecord {
  const file = message.metadata?.file as { name?: unknown } | undefined;
  if (message.metadata?.unreadable === true)
    return {
      seq: message.seq,
      sent_at: message.created_at,
      ...(message.edited_at ? { edited_at: message.edited_at } : {}),
      unreadable: true,
    };
  return {
    seq: message.seq,
    sent_at: message.created_at,
    ...(message.edited_at ? { edited_at: message.edited_at } : {}),
    ...(message.deleted_at ? { deleted: true } : {}),
    ...(message.content !== undefined ? { content: message.content } : {}),
    ...(!message.deleted_at && typeof file?.name === 'string' ? { file_name: file.name } : {}),
  };
}
