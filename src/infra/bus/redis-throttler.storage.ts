import { Logger, type OnApplicationShutdown } from '@nestjs/common';
import { type ThrottlerStorage, ThrottlerStorageService } from '@nestjs/throttler';
import { ThrottlerStorageRedisService } from '@nest-lab/throttler-storage-redis';
import type { ThrottlerStorageRecord } from '@nestjs/throttler/dist/throttler-storage-record.interface';
import type Redis from 'ioredis';
import { redisConnection } from '../redis/redis-connection';

// refusals remembered at once, at most (a window is a second or so: they age out fast)
const MAX_REMEMBERED_REFUSALS = 10_000;

// Rate-limit counters shared by every instance through Redis (@nest-lab/throttler-storage-redis).
// While Redis is away the limit falls back to this instance's memory instead of failing every
// message: the limit then holds per instance until Redis is back.
// A key refused stays refused until its window ends (counts only grow within a window, on every
// instance), so the rest of that window is refused here without asking Redis: a client flooding
// its socket cost one Redis round trip per frame, each waited for in order (docs/protocol.md, "Rate
// limits"). The window's end comes from Redis in milliseconds (the library rounds it up to seconds).
export class RedisThrottlerStorage implements ThrottlerStorage, OnApplicationShutdown {
  private readonly logger = new Logger('throttler');
  private readonly client: Redis;
  private readonly shared: ThrottlerStorageRedisService;
  private readonly fallback = new ThrottlerStorageService();
  private degraded = false;
  private closing = false;
  // key and throttler → the refusal and when its window ends (Date.now() ms)
  private readonly refused = new Map<string, { record: ThrottlerStorageRecord; until: number }>();

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
    const known = this.refusedNow(`${throttlerName}:${key}`);
    if (known) return known;
    try {
      const record = await this.shared.increment(key, ttl, limit, block, throttlerName);
      if (record.totalHits > limit) await this.remember(key, throttlerName, record);
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

  // a refusal of this key whose window has not ended, as Redis would answer it (seconds rounded up)
  private refusedNow(name: string): ThrottlerStorageRecord | undefined {
    const entry = this.refused.get(name);
    if (!entry) return undefined;
    const left = entry.until - Date.now();
    if (left <= 0) {
      this.refused.delete(name);
      return undefined;
    }
    const seconds = Math.ceil(left / 1000);
    return { ...entry.record, isBlocked: true, timeToExpire: seconds, timeToBlockExpire: seconds };
  }

  // the window's end in milliseconds (PTTL of the library's key: `{key:name}:hits`); one more
  // command per refused window, not per refused frame
  private async remember(key: string, throttlerName: string, record: ThrottlerStorageRecord): Promise<void> {
    // read before the command: the end is never placed later than Redis's
    const asked = Date.now();
    const left = await this.client.pttl(`{${key}:${throttlerName}}:hits`);
    if (left <= 0) return;
    if (this.refused.size >= MAX_REMEMBERED_REFUSALS) this.forgetEnded();
    if (this.refused.size >= MAX_REMEMBERED_REFUSALS) return;
    this.refused.set(`${throttlerName}:${key}`, { record, until: asked + left });
  }

  private forgetEnded(): void {
    const now = Date.now();
    for (const [name, entry] of this.refused) if (entry.until <= now) this.refused.delete(name);
  }

  onApplicationShutdown(): void {
    this.closing = true;
    this.fallback.onApplicationShutdown();
    this.client.disconnect();
  }
}
