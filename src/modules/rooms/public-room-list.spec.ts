import fc from 'fast-check';
import { PublicRoomList } from './public-room-list';

// A store whose value changes on `change`, and whose reads resolve when the test says.
class FakeStore {
  version = 0;
  reads: Array<{ version: number; resolve: () => void }> = [];
  read = (): Promise<number> =>
    new Promise((resolve) => {
      const version = this.version;
      this.reads.push({ version, resolve: () => resolve(version) });
    });
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe(PublicRoomList.name, () => {
  it('should share one read between readers and keep its result for the maximum age only', async () => {
    let now = 0;
    const store = new FakeStore();
    const list = new PublicRoomList<number>(1000, () => now);
    const first = list.get(store.read);
    const second = list.get(store.read);
    expect(store.reads).toHaveLength(1);
    store.reads[0].resolve();
    expect(await first).toBe(0);
    expect(await second).toBe(0);
    now = 999;
    expect(await list.get(store.read)).toBe(0);
    expect(store.reads).toHaveLength(1);
    now = 1000;
    const third = list.get(store.read);
    expect(store.reads).toHaveLength(2);
    store.reads[1].resolve();
    expect(await third).toBe(0);
  });

  it('should read again after an invalidation, and never keep a read that started before it', async () => {
    const store = new FakeStore();
    const list = new PublicRoomList<number>(60_000, () => 0);
    const early = list.get(store.read);
    store.version = 1;
    list.invalidate();
    // a reader after the change does not wait for the read that may predate it
    const late = list.get(store.read);
    expect(store.reads).toHaveLength(2);
    store.reads[0].resolve();
    expect(await early).toBe(0);
    store.reads[1].resolve();
    expect(await late).toBe(1);
    expect(await list.get(store.read)).toBe(1);
    expect(store.reads).toHaveLength(2);
  });

  it('should pass a failed read to its readers and keep nothing', async () => {
    const list = new PublicRoomList<number>(60_000, () => 0);
    await expect(list.get(() => Promise.reject(new Error('store away')))).rejects.toThrow('store away');
    expect(await list.get(() => Promise.resolve(7))).toBe(7);
  });

  it('should read every time when the maximum age is 0', async () => {
    let reads = 0;
    const list = new PublicRoomList<number>(0, () => 0);
    await list.get(async () => ++reads);
    await list.get(async () => ++reads);
    expect(reads).toBe(2);
  });

  // The guarantee: a reader that starts after a change (invalidated) never sees the store from
  // before it, and without a change nothing returned is older than the maximum age.
  it('should never give a reader a value from before the last change made before it asked', async () => {
    const step = fc.oneof(
      fc.constant({ kind: 'get' as const }),
      fc.constant({ kind: 'change' as const }),
      fc.record({ kind: fc.constant('resolve' as const), index: fc.nat(20) }),
      fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 700 }) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 60 }), async (steps) => {
        let now = 0;
        const maxAge = 1000;
        const store = new FakeStore();
        const changedAt: number[] = [0];
        const list = new PublicRoomList<number>(maxAge, () => now);
        const asked: Array<{ promise: Promise<number>; minVersion: number; at: number }> = [];
        for (const each of steps) {
          if (each.kind === 'get')
            asked.push({ promise: list.get(store.read), minVersion: store.version, at: now });
          else if (each.kind === 'change') {
            store.version++;
            changedAt.push(now);
            list.invalidate();
          } else if (each.kind === 'tick') now += each.ms;
          else {
            const pending = store.reads.filter((read) => read.resolve !== undefined);
            pending[each.index % Math.max(1, pending.length)]?.resolve();
          }
          await flush();
        }
        for (const read of store.reads) read.resolve();
        for (const { promise, minVersion } of asked) expect(await promise).toBeGreaterThanOrEqual(minVersion);
      }),
      { numRuns: 300 },
    );
  });
});
