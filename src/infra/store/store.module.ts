import { Inject, Logger, Module, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { getConnectionToken } from '@nestjs/mongoose';
import type { Connection } from 'mongoose';
import { SETTINGS, type Settings } from '../../config/settings';
import { probeStore, StoreWatchdog } from './store-watchdog';

// 20 s without the store while a fresh client reaches it: a store restart takes 1–3 s, a replica
// set's election ~12 s (docs/protocol.md, "Store watchdog")
const STALL_MS = 20_000;
const EVERY_MS = 2_000;

@Module({
  providers: [
    {
      provide: StoreWatchdog,
      inject: [SETTINGS, getConnectionToken()],
      useFactory: (settings: Settings, connection: Connection): StoreWatchdog => {
        return new StoreWatchdog(
          { connection, probe: () => probeStore(settings.mongodbUri), log: new Logger('store') },
          { stallMs: STALL_MS, everyMs: EVERY_MS },
        );
      },
    },
  ],
})
export class StoreModule implements OnModuleInit, OnApplicationShutdown {
  constructor(@Inject(StoreWatchdog) private readonly watchdog: StoreWatchdog) {}

  onModuleInit(): void {
    this.watchdog.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.watchdog.stop();
  }
}
