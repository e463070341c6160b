import type { Collection, Connection } from 'mongoose';
import { KeyedMutex } from '../../common/keyed-mutex';
import { LockUnavailableError, RenewedHold, type Hold, type KeyLock } from './lock';
import { isDuplicateKey } from '../../common/store-errors';
import { newId } from '../../common/ids';

interface LockDocument {
  _id: string;
  token: string;
  until: Date;
}

// A lock made of the store's unique `_id` (which holds on FerretDB too, unlike its updates): a
// document per held key, inserted to take it, deleted to give it back, renewed while held, and
// taken over once its holder let it run out. The fallback while Redis is away (RedisLock), so
// writes stay serialized across instances and keep being accepted.
export class StoreLock implements KeyLock {
  readonly kind = 'store';
  private readonly local = new KeyedMutex();

  constructor(
    private readonly connection: Connection,
    private readonly options = { ttlMs: 5_000, waitMs: 10_000 },
  ) {}

  private get locks(): Collection<LockDocument> {
    return this.connection.collection<LockDocument>('locks');
  }

  run<T>(key: string, task: (hold: Hold) => Promise<T>): Promise<T> {
    return this.local.run(key, async () => {
      const token = newId();
      const hold = new RenewedHold(this.options.ttlMs, await this.acquire(key, token));
      const renewal = setInterval(
        () => {
          const sentAt = performance.now();
          void this.locks
            .updateOne({ _id: key, token }, { $set: { until: new Date(Date.now() + this.options.ttlMs) } })
            .then((result) => hold.renewed(sentAt, result.matchedCount === 1))
            .catch(() => undefined);
        },
        Math.floor(this.options.ttlMs / 3),
      );
      renewal.unref();
      try {
        return await task(hold);
      } finally {
        clearInterval(renewal);
        await this.locks.deleteOne({ _id: key, token }).catch(() => undefined);
      }
    });
  }

  // performance.now() when the insert that took it was sent
  private async acquire(key: string, token: string): Promise<number> {
    const started = Date.now();
    let pause = 2;
    for (;;) {
      try {
        const sentAt = performance.now();
        await this.locks.insertOne({ _id: key, token, until: new Date(Date.now() + this.options.ttlMs) });
        return sentAt;
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
      }
      // a holder that died: its document outlived its lease, take it out (only that holder's)
      const held = await this.locks.findOne({ _id: key });
      if (held && held.until.getTime() < Date.now())
        await this.locks.deleteOne({ _id: key, token: held.token });
      if (Date.now() - started > this.options.waitMs)
        throw new LockUnavailableError(key, Date.now() - started);
      await new Promise((resolve) => setTimeout(resolve, pause + Math.random() * pause));
      pause = Math.min(pause * 2, 50);
    }
  }

  async close(): Promise<void> {}
}
