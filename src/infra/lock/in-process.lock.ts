import { KeyedMutex } from '../../common/keyed-mutex';
import { KEPT, type Hold, type KeyLock } from './lock';

// One instance (no REDIS_URL): a queue per key in this process is the whole lock.
export class InProcessLock implements KeyLock {
  readonly kind = 'in-process';
  private readonly queues = new KeyedMutex();

  run<T>(key: string, task: (hold: Hold) => Promise<T>): Promise<T> {
    return this.queues.run(key, () => task(KEPT));
  }

  async close(): Promise<void> {}
}
