import fc from 'fast-check';
import { CountedLock } from './counted.lock';
import { InProcessLock } from './in-process.lock';

describe(CountedLock.name, () => {
  it('should be idle at once with no task, and once every task given to it has settled', async () => {
    const lock = new CountedLock(new InProcessLock());
    await expect(lock.idle(10)).resolves.toBe(true);
    let finish!: () => void;
    const first = lock.run('a', () => new Promise<void>((resolve) => (finish = resolve)));
    // the second waits for the key: it counts too
    const second = lock.run('a', () => Promise.reject(new Error('refused')));
    await expect(lock.idle(20)).resolves.toBe(false);
    const idle = lock.idle(5_000);
    finish();
    await first;
    await expect(second).rejects.toThrow('refused');
    await expect(idle).resolves.toBe(true);
    expect(lock.kind).toBe('in-process');
  });

  it('should be idle exactly when every task has settled, whatever their keys and order (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ key: fc.constantFrom('a', 'b', 'c'), fails: fc.boolean() }), { maxLength: 12 }),
        async (tasks) => {
          const lock = new CountedLock(new InProcessLock());
          const releases: Array<() => void> = [];
          const runs = tasks.map(({ key, fails }) =>
            lock
              .run(
                key,
                () =>
                  new Promise<void>((resolve, reject) =>
                    releases.push(() => (fails ? reject(new Error('x')) : resolve())),
                  ),
              )
              .catch(() => undefined),
          );
          let idle = false;
          void lock.idle(60_000).then((value) => (idle = value));
          // tasks on one key start one after another: release them as they start
          for (let released = 0; released < tasks.length; released++) {
            while (releases.length <= released) await new Promise((resolve) => setImmediate(resolve));
            await new Promise((resolve) => setImmediate(resolve));
            expect(idle).toBe(false);
            releases[released]();
          }
          await Promise.all(runs);
          await new Promise((resolve) => setImmediate(resolve));
          expect(idle).toBe(true);
        },
      ),
      { numRuns: 50 },
    );
  });
});
