import type { ThrottlerStorage } from '@nestjs/throttler';
import type { ThrottlerStorageRecord } from '@nestjs/throttler/dist/throttler-storage-record.interface';
import { DueTimes, spendCell } from '../../common/cell-rate';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';

// A budget's answer: the throttler's record, and when a refused event would be admitted (ms).
export interface RateRecord extends ThrottlerStorageRecord {
  retryAfterMs: number;
}

// When a refused event would be admitted, in ms: the storages below say it exactly; another
// storage's record says it in whole seconds.
export function retryAfterMsOf(record: ThrottlerStorageRecord): number {
  return 'retryAfterMs' in record && typeof record.retryAfterMs === 'number'
    ? record.retryAfterMs
    : record.timeToExpire * 1000;
}

// One event of a user's budget: `limit` per `windowMs` on every instance together (the storage is
// Redis's when set), refused RATE_LIMITED with the wait until it would be admitted, at least
// `minRetryMs` (docs/protocol.md, "Rate limits"). Every per-user budget (socket frames, room messages
// and REST writes, uploads) is spent here.
export interface Budget {
  // the budget's name; the key is the name and the user
  bucket: string;
  userId: string;
  limit: number;
  windowMs: number;
  minRetryMs: number;
  message: string;
}

export async function spendBudget(storage: ThrottlerStorage, budget: Budget): Promise<void> {
  const { bucket, limit } = budget;
  const record = await storage.increment(`${bucket}:${budget.userId}`, budget.windowMs, limit, 0, bucket);
  if (record.totalHits > limit)
    throw new DomainException(ErrorCode.RATE_LIMITED, budget.message, {
      retryAfterMs: Math.max(budget.minRetryMs, retryAfterMsOf(record)),
    });
}

// `limit` events per `ttl` ms as a cell rate (docs/protocol.md, "Rate limits"): a burst of `limit`
// at once, then one every `ttl / limit` ms. Until session 38 it was the throttler's fixed window,
// which refused a client pacing at two thirds of the limit whenever the network or a loaded machine
// bunched its frames (3 of 30 in one CI run), and acked twice the limit within a few ms across a
// window's end (19 of 20 messages within 154 ms in the timers audit).
export function cellOf(ttl: number, limit: number): { interval: number; tolerance: number } {
  const interval = ttl / Math.max(1, limit);
  return { interval, tolerance: ttl - interval };
}

// The record the throttler's callers read: `totalHits` past `limit` when refused, else the events
// the budget holds now (at most `limit`); `timeToExpire` when the budget is whole again (seconds,
// rounded up, as the throttler's storages say it).
export function recordOf(limit: number, interval: number, ahead: number, wait: number): RateRecord {
  const seconds = Math.ceil(ahead / 1000);
  return {
    totalHits: wait > 0 ? limit + 1 : Math.min(limit, Math.ceil(ahead / interval - 1e-9)),
    timeToExpire: seconds,
    isBlocked: wait > 0,
    timeToBlockExpire: wait > 0 ? Math.ceil(wait / 1000) : 0,
    retryAfterMs: Math.ceil(wait),
  };
}

// This instance's budgets, in memory: without Redis, and while Redis is away.
export class CellRateStorage implements ThrottlerStorage {
  private readonly due = new DueTimes();

  increment(key: string, ttl: number, limit: number, _block: number, name: string): Promise<RateRecord> {
    return Promise.resolve(this.spend(`${name}:${key}`, ttl, limit, Date.now()));
  }

  spend(key: string, ttl: number, limit: number, now: number): RateRecord {
    const { interval, tolerance } = cellOf(ttl, limit);
    const spent = spendCell(this.due.get(key, now), now, interval, tolerance);
    this.due.set(key, spent.due);
    return recordOf(limit, interval, spent.due - now, spent.wait);
  }

  // keys held now (spending)
  get size(): number {
    return this.due.size;
  }
}
