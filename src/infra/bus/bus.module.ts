import { Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { SETTINGS, type Settings } from '../../config/settings';
import { BUS, type Bus } from './bus';
import { InProcessBus } from './in-process.bus';
import { RedisBus } from './redis.bus';

// The bus is chosen by settings: Redis pub/sub when REDIS_URL is set, in-process otherwise.
@Global()
@Module({
  providers: [
    {
      provide: BUS,
      inject: [SETTINGS],
      useFactory: (settings: Settings): Bus =>
        settings.redisUrl ? new RedisBus(settings.redisUrl) : new InProcessBus(),
    },
  ],
  exports: [BUS],
})
export class BusModule implements OnApplicationShutdown {
  constructor(@Inject(BUS) private readonly bus: Bus) {}

  // after the gateway has drained, so the last frames still reach other instances
  async onApplicationShutdown(): Promise<void> {
    await this.bus.close();
  }
}
