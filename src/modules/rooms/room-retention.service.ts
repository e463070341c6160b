import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { SETTINGS, type Settings } from '../../config/settings';
import { ReactionsRepository } from './reactions.repository';
import { RoomMessagesRepository } from './room-messages.repository';
import { RoomsRepository } from './rooms.repository';

// Messages older than ROOM_RETENTION (90 days) are removed by this sweep, every ROOM_SWEEP_INTERVAL,
// on every store. It is the workaround for FerretDB 1.24, which has no TTL indexes (store conformance
// suite); on MongoDB a TTL index a day past the retention backs it up. Before removing a room's
// messages it notes the room's highest seq, so numbering goes on from there even when nothing is
// left. Every instance sweeps; the writes are idempotent.
@Injectable()
export class RoomRetentionService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('rooms');
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly messages: RoomMessagesRepository,
    private readonly reactions: ReactionsRepository,
    private readonly rooms: RoomsRepository,
    @Inject(SETTINGS) private readonly settings: Settings,
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
    for (const roomId of await this.messages.roomsBefore(cutoff))
      await this.rooms.noteSeq(roomId, await this.messages.headSeq(roomId));
    const removed = await this.messages.deleteOlderThan(cutoff);
    await this.reactions.deleteOlderThan(cutoff);
    if (removed > 0) this.logger.log({ event: 'room_messages_expired', count: removed }, 'retention sweep');
    return removed;
  }
}
