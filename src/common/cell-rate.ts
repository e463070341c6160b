// A rate with a burst, per key, in one number per key: the generic cell rate algorithm (the token
// bucket's equivalent, as ATM networks and many rate limiters keep it). `due` is when the key's
// budget would be whole again; an event is admitted while it is at most `burst - 1` intervals ahead
// of now, and moves it one interval on. Keys whose budget is whole again are dropped (at most once
// a second, on a call), so a key costs memory only while it is spending.
export class CellRate {
  private readonly due = new DueTimes();
  private readonly interval: number;
  private readonly tolerance: number;

  constructor(perSecond: number, burst: number) {
    this.interval = 1000 / perSecond;
    this.tolerance = (Math.max(1, burst) - 1) * this.interval;
  }

  // 0 when the event is admitted (and spent), else the milliseconds until one would be
  take(key: string, now = Date.now()): number {
    const spent = spendCell(this.due.get(key, now), now, this.interval, this.tolerance);
    if (spent.wait === 0) this.due.set(key, spent.due);
    return spent.wait;
  }

  // keys held now (spending)
  get size(): number {
    return this.due.size;
  }
}

// When each key's budget is whole again. A key is dropped once it is (checked at most once a second,
// on a read), so it costs memory only while spending.
export class DueTimes {
  private readonly due = new Map<string, number>();
  private prunedAt = 0;

  get(key: string, now: number): number | undefined {
    this.prune(now);
    return this.due.get(key);
  }

  set(key: string, due: number): void {
    this.due.set(key, due);
  }

  get size(): number {
    return this.due.size;
  }

  private prune(now: number): void {
    if (now - this.prunedAt < 1000) return;
    this.prunedAt = now;
    for (const [key, due] of this.due) if (due <= now) this.due.delete(key);
  }
}

// One event against a key whose budget is whole again at `due` (undefined: whole now): admitted
// (`wait` 0) while `due` is at most `tolerance` ahead of now, and `due` moves one `interval` on;
// else `wait` is the milliseconds until it would be, and `due` stays. The same steps run in Redis for
// the budgets shared by instances (src/infra/bus/redis-throttler.storage.ts).
export function spendCell(
  due: number | undefined,
  now: number,
  interval: number,
  tolerance: number,
): { wait: number; due: number } {
  const from = Math.max(due ?? now, now);
  const wait = from - now - tolerance;
  if (wait > 0) return { wait, due: from };
  return { wait: 0, due: from + interval };
}
