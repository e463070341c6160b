import { Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { SETTINGS, type Settings } from '../../config/settings';
import { InProcessLock } from './in-process.lock';
import { SESSION_LOCK, type KeyLock } from './lock';
import { RedisLock } from './redis.lock';

// Redis when REDIS_URL is set (several instances), in-process otherwise.
@Global()
@Module({
  providers: [
    {
      provide: SESSION_LOCK,
      inject: [SETTINGS],
      useFactory: (settings: Settings): KeyLock =>
        settings.redisUrl ? new RedisLock(settings.redisUrl) : new InProcessLock(),
    },
  ],
  exports: [SESSION_LOCK],
})
export class LockModule implements OnApplicationShutdown {
  constructor(@Inject(SESSION_LOCK) private readonly lock: KeyLock) {}

  async onApplicationShutdown(): Promise<void> {
    await this.lock.close();
  }
}
