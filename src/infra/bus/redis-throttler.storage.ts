import { Logger, type OnApplicationShutdown } from '@nestjs/common';
import { type ThrottlerStorage, ThrottlerStorageService } from '@nestjs/throttler';
import { ThrottlerStorageRedisService } from '@nest-lab/throttler-storage-redis';
import type { ThrottlerStorageRecord } from '@nestjs/throttler/dist/throttler-storage-record.interface';
import type Redis from 'ioredis';
import { redisConnection } from '../redis/redis-connection';

// Rate-limit counters shared by every instance through Redis (@nest-lab/throttler-storage-redis).
// While Redis is away the limit falls back to this instance's memory instead of failing every
// message: the limit then holds per instance until Redis is back.
export class RedisThrottlerStorage implements ThrottlerStorage, OnApplicationShutdown {
  private readonly logger = new Logger('throttler');
  private readonly client: Redis;
  private readonly shared: ThrottlerStorageRedisService;
  private readonly fallback = new ThrottlerStorageService();
  private degraded = false;
  private closing = false;

  constructor(url: string) {
    this.client = redisConnection(url, 'throttler', {}, () => this.closing);
    this.shared = new ThrottlerStorageRedisService(this.client);
  }

  async increment(
    key: string,
    ttl: number,
    limit: number,
    blockDuration: number,
    throttlerName: string,
  ): Promise<ThrottlerStorageRecord> {
    // no block duration = blocked until the window ends (the throttler guard's own default); the
    // Redis script would otherwise send PX 0, or unblock and reset the count a moment later
    const block = blockDuration > 0 ? blockDuration : ttl;
    try {
      const record = await this.shared.increment(key, ttl, limit, block, throttlerName);
      if (this.degraded) {
        this.degraded = false;
        this.logger.log({ event: 'throttler_redis_back' }, 'rate limits shared again');
      }
      return record;
    } catch {
      if (!this.degraded) {
        this.degraded = true;
        this.logger.warn({ event: 'throttler_redis_down' }, 'redis unavailable; rate limits per instance');
      }
      return this.fallback.increment(key, ttl, limit, blockDuration, throttlerName);
    }
  }

  onApplicationShutdown(): void {
    this.closing = true;
    this.fallback.onApplicationShutdown();
    this.client.disconnect();
  }
}
