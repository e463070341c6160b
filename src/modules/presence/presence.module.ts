import { Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { SETTINGS, type Settings } from '../../config/settings';
import {
  InProcessPresenceStore,
  PRESENCE_STORE,
  type PresenceStore,
} from '../../infra/presence/presence-store';
import { RedisPresenceStore } from '../../infra/presence/redis-presence.store';
import { PresenceService } from './presence.service';

// Presence in Redis when REDIS_URL is set (several instances), in the process otherwise.
@Module({
  providers: [
    {
      provide: PRESENCE_STORE,
      inject: [SETTINGS],
      useFactory: (settings: Settings): PresenceStore =>
        settings.redisUrl
          ? new RedisPresenceStore(settings.redisUrl, settings.rooms.presenceTimeoutMs)
          : new InProcessPresenceStore(settings.rooms.presenceTimeoutMs),
    },
    PresenceService,
  ],
  exports: [PresenceService],
})
export class PresenceModule implements OnApplicationShutdown {
  constructor(@Inject(PRESENCE_STORE) private readonly store: PresenceStore) {}

  async onApplicationShutdown(): Promise<void> {
    await this.store.close();
  }
}
