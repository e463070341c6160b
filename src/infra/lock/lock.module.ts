import { Global, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { SETTINGS, type Settings } from '../../config/settings';
import { WriteLock } from './write.lock';
import { pingOf } from '../../common/store-settle';
import { InProcessLock } from './in-process.lock';
import { SESSION_LOCK } from './lock';
import { RedisLock } from './redis.lock';
import { StoreLock } from './store.lock';
import { getConnectionToken } from '@nestjs/mongoose';
import type { Connection } from 'mongoose';
import { BUS, type Bus } from '../bus/bus';
import { LocalReplyLeases, RedisReplyLeases, REPLY_LEASES, type ReplyLeases } from './reply-lease';

// Redis when REDIS_URL is set (several instances; the store's own lock while Redis is away),
// in-process otherwise; under a WriteLock (write.lock.ts), which every write to the store goes through.
@Global()
@Module({
  providers: [
    {
      provide: SESSION_LOCK,
      inject: [SETTINGS, getConnectionToken()],
      useFactory: (settings: Settings, connection: Connection): WriteLock =>
        new WriteLock(
          settings.redisUrl
            ? new RedisLock(settings.redisUrl, new StoreLock(connection))
            : new InProcessLock(),
          pingOf(connection),
        ),
    },
    {
      provide: REPLY_LEASES,
      inject: [SETTINGS, BUS],
      useFactory: (settings: Settings, bus: Bus): ReplyLeases =>
        settings.redisUrl
          ? new RedisReplyLeases(settings.redisUrl, bus.instanceId, { ttlMs: settings.replyLeaseMs })
          : new LocalReplyLeases(),
    },
  ],
  exports: [SESSION_LOCK, REPLY_LEASES],
})
export class LockModule implements OnApplicationShutdown {
  constructor(
    @Inject(SESSION_LOCK) private readonly lock: WriteLock,
    @Inject(REPLY_LEASES) private readonly leases: ReplyLeases,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    await Promise.all([this.lock.close(), this.leases.close()]);
  }
}
