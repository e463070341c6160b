import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { SETTINGS, type Settings } from '../../config/settings';
import { FILE_STORE, type FileStore } from '../../infra/files/file-store';
import { SESSION_LOCK } from '../../infra/lock/lock';
import type { WriteLock } from '../../infra/lock/write.lock';
import { AlertsService } from '../notifications/alerts.service';
import { ReactionsRepository } from './reactions.repository';
import { ReportsRepository } from './reports.repository';
import { RoomChangesRepository } from './room-changes.repository';
import { roomDocumentKey } from './room-locks';
import { RoomMessagesRepository } from './room-messages.repository';
import { RoomsRepository } from './rooms.repository';
import { roomFileScope } from './room.types';

// Messages older than ROOM_RETENTION (90 days) are removed by this sweep, every ROOM_SWEEP_INTERVAL,
// with the files they alone shared (files shared elsewhere too are taken off the room), on every
// store. It is the workaround for FerretDB 1.24, which has no TTL indexes (store conformance suite);
// on MongoDB a TTL index a day past the retention backs it up. Before removing a room's
// messages it notes the room's highest seq, so numbering goes on from there even when nothing is
// left. Reports go ROOM_RETENTION after they were made, with the message text they keep, and so do
// their alerts, with the reporter's reason. Every instance sweeps; the writes are idempotent.
@Injectable()
export class RoomRetentionService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('rooms');
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly messages: RoomMessagesRepository,
    private readonly reactions: ReactionsRepository,
    private readonly changes: RoomChangesRepository,
    private readonly rooms: RoomsRepository,
    private readonly reports: ReportsRepository,
    @Inject(SETTINGS) private readonly settings: Settings,
    @Inject(FILE_STORE) private readonly files: FileStore,
    private readonly alerts: AlertsService,
    // the room's document is written under its lock (room-locks.ts)
    @Inject(SESSION_LOCK) private readonly lock: WriteLock,
  ) {}

  onModuleInit(): void {
    this.timer = setInterval(() => {
      this.sweep().catch((error: unknown) =>
        this.logger.warn({ event: 'room_sweep_failed', err: String(error) }, 'retention sweep failed'),
      );
    }, this.settings.rooms.sweepIntervalMs);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  async sweep(now = Date.now()): Promise<number> {
    const cutoff = new Date(now - this.settings.rooms.retentionMs);
    for (const roomId of await this.messages.roomsBefore(cutoff)) {
      const head = await this.messages.headSeq(roomId);
      await this.lock.run(roomDocumentKey(roomId), () => this.rooms.noteSeq(roomId, head));
      // the change-log entries of the messages going (the room's newest entry stays: numbering)
      await this.changes.expire(roomId, cutoff, now);
    }
    const files = await this.messages.filesBefore(cutoff);
    const removed = await this.messages.deleteOlderThan(cutoff);
    await this.reactions.deleteOlderThan(cutoff);
    // a report keeps the reported message's text (docs/protocol.md, "Reports"): no longer than this
    const reports = await this.reports.deleteOlderThan(cutoff);
    if (reports > 0) this.logger.log({ event: 'room_reports_expired', count: reports }, 'retention sweep');
    // a file goes with the last message of the room that shared it; one shared elsewhere too stays
    // there, taken off this room (its members no longer read it)
    for (const [roomId, fileIds] of files)
      await this.files.discard(fileIds, roomFileScope(roomId), (ids) =>
        this.messages.filesInUse(roomId, ids),
      );
    // the admins' alert of a report keeps the reporter's reason (encrypted): it goes with the report
    // (docs/protocol.md, "Reports"); one still being sent goes at a later sweep
    await this.alerts.expire('message_report', cutoff);
    if (removed > 0) this.logger.log({ event: 'room_messages_expired', count: removed }, 'retention sweep');
    return removed;
  }
}
