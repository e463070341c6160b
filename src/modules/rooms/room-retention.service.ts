import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { SETTINGS, type Settings } from '../../config/settings';
import { ReactionsRepository } from './reactions.repository';
import { RoomMessagesRepository } from './room-messages.repository';

// Messages older than ROOM_RETENTION (90 days) are removed. On MongoDB a TTL index does it too, but
// FerretDB 1.24 has no TTL indexes (store conformance suite): this sweep is the workaround, and it
// runs on every store so the rule holds wherever chatbox runs. Every instance sweeps; the deletes
// are idempotent.
@Injectable()
export class RoomRetentionService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('rooms');
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly messages: RoomMessagesRepository,
    private readonly reactions: ReactionsRepository,
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
    const removed = await this.messages.deleteOlderThan(cutoff);
    await this.reactions.deleteOlderThan(cutoff);
    if (removed > 0) this.logger.log({ event: 'room_messages_expired', count: removed }, 'retention sweep');
    return removed;
  }
}
