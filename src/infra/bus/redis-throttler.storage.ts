import { Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import type Redis from 'ioredis';
import { redisConnection } from '../redis/redis-connection';
import { CellRateStorage, cellOf, recordOf, type RateRecord } from './cell-rate.storage';

// refusals remembered at once, at most (each for a fraction of a second: they age out fast)
const MAX_REMEMBERED_REFUSALS = 10_000;

// The cell rate's step (src/common/cell-rate.ts, spendCell) on Redis's clock, one key per budget:
// when the budget is whole again, in ms. Answers the wait (0: admitted) and how far ahead of now the
// budget stands, as text (Redis would cut a Lua number to an integer). TIME before a write needs
// effects replication, the default since Redis 5 (replicate_commands asks for it before that).
const SPEND_CELL = `
redis.replicate_commands()
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local due = tonumber(redis.call('GET', KEYS[1])) or now
if due < now then due = now end
local wait = due - now - tolerance
if wait > 0 then return {tostring(wait), tostring(due - now)} end
due = due + interval
redis.call('SET', KEYS[1], string.format('%.3f', due), 'PX', math.ceil(due - now))
return {'0', tostring(due - now)}
`;

type CellClient = Redis & {
  spendCell(key: string, interval: number, tolerance: number): Promise<[string, string]>;
};

// Rate budgets shared by every instance through Redis: a cell rate per key (cell-rate.storage.ts),
// one script call per event. While Redis is away the budgets fall back to this instance's memory
// instead of failing every message: they then hold per instance until Redis is back.
// A key refused stays refused until its wait is over (the budget only moves on, on every instance),
// so until then this instance refuses it without asking Redis: a client flooding its socket cost one
// Redis round trip per frame, each waited for in order (docs/protocol.md, "Rate limits").
export class RedisThrottlerStorage implements ThrottlerStorage, OnApplicationShutdown {
  private readonly logger = new Logger('throttler');
  private readonly client: CellClient;
  private readonly fallback = new CellRateStorage();
  private degraded = false;
  private closing = false;
  // key and throttler → the refusal and when its wait ends (Date.now() ms)
  private readonly refused = new Map<string, { record: RateRecord; until: number }>();

  constructor(url: string) {
    this.client = redisConnection(url, 'throttler', {}, () => this.closing) as CellClient;
    this.client.defineCommand('spendCell', { numberOfKeys: 1, lua: SPEND_CELL });
  }

  async increment(
    key: string,
    ttl: number,
    limit: number,
    _blockDuration: number,
    throttlerName: string,
  ): Promise<RateRecord> {
    const name = `${throttlerName}:${key}`;
    const known = this.refusedNow(name);
    if (known) return known;
    const { interval, tolerance } = cellOf(ttl, limit);
    // read before the command: a refusal's end is never placed later than Redis's
    const asked = Date.now();
    try {
      const [wait, ahead] = await this.client.spendCell(
        `{${key}:${throttlerName}}:cell`,
        interval,
        tolerance,
      );
      const record = recordOf(limit, interval, Number(ahead), Number(wait));
      if (record.isBlocked) this.remember(name, record, asked + Number(wait));
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
      return this.fallback.spend(name, ttl, limit, Date.now());
    }
  }

  // a refusal of this key whose wait has not ended, with the wait left
  private refusedNow(name: string): RateRecord | undefined {
    const entry = this.refused.get(name);
    if (!entry) return undefined;
    const left = entry.until - Date.now();
    if (left <= 0) {
      this.refused.delete(name);
      return undefined;
    }
    const seconds = Math.ceil(left / 1000);
    return { ...entry.record, timeToBlockExpire: seconds, retryAfterMs: Math.ceil(left) };
  }

  private remember(name: string, record: RateRecord, until: number): void {
    if (this.refused.size >= MAX_REMEMBERED_REFUSALS) this.forgetEnded();
    if (this.refused.size >= MAX_REMEMBERED_REFUSALS) return;
    this.refused.set(name, { record, until });
  }

  private forgetEnded(): void {
    const now = Date.now();
    for (const [name, entry] of this.refused) if (entry.until <= now) this.refused.delete(name);
  }

  onApplicationShutdown(): void {
    this.closing = true;
    this.client.disconnect();
  }
}
