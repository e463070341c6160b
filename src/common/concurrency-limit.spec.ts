import fc from 'fast-check';
import { ConcurrencyLimit } from './concurrency-limit';

// Lets every queued promise callback run.
function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

describe(ConcurrencyLimit.name, () => {
  it('should refuse a limit below one', () => {
    expect(() => new ConcurrencyLimit(0, 1)).toThrow(RangeError);
    expect(() => new ConcurrencyLimit(1, -1)).toThrow(RangeError);
  });

  it('should run later tasks in the order they came once earlier ones end, and refuse past the line', async () => {
    const limit = new ConcurrencyLimit(1, 2);
    const started: string[] = [];
    const ends = new Map<string, () => void>();
    const task = (name: string) => () =>
      new Promise<string>((resolve) => {
        started.push(name);
        ends.set(name, () => resolve(name));
      });

    const a = limit.run(task('a'));
    const b = limit.run(task('b'));
    const c = limit.run(task('c'));
    const d = limit.run(task('d'));
    await flush();

    expect(started).toEqual(['a']);
    await expect(d).resolves.toBeUndefined();
    ends.get('a')?.();
    await expect(a).resolves.toEqual({ value: 'a' });
    await flush();
    expect(started).toEqual(['a', 'b']);
    ends.get('b')?.();
    await flush();
    ends.get('c')?.();
    await expect(Promise.all([b, c])).resolves.toEqual([{ value: 'b' }, { value: 'c' }]);
    expect(limit.active).toBe(0);
    expect(limit.queued).toBe(0);
  });

  it('should hand the slot on when a task fails', async () => {
    const limit = new ConcurrencyLimit(1, 1);
    const failing = limit.run(() => Promise.reject(new Error('boom')));
    const next = limit.run(() => Promise.resolve(7));

    await expect(failing).rejects.toThrow('boom');
    await expect(next).resolves.toEqual({ value: 7 });
    expect(limit.active).toBe(0);
  });

  // A model of the line: tasks come and end in any order the property draws. At no time do more
  // than `limit` run; a task is refused exactly when `limit` run and `maxWaiting` wait as it comes;
  // every accepted task runs once, in the order accepted; nothing is left running or waiting.
  it('should hold to its model for any order of arrivals and ends', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 4 }),
        fc.array(fc.oneof(fc.constant('come' as const), fc.nat({ max: 7 })), { maxLength: 40 }),
        async (max, maxWaiting, steps) => {
          const limit = new ConcurrencyLimit(max, maxWaiting);
          const running: Array<() => void> = [];
          const startOrder: number[] = [];
          const accepted: number[] = [];
          const results: Array<Promise<unknown>> = [];
          let peak = 0;
          let arrivals = 0;
          for (const step of steps) {
            if (step === 'come') {
              const id = arrivals++;
              const full = limit.active >= max && limit.queued >= maxWaiting;
              const result = limit.run(
                () =>
                  new Promise<number>((resolve) => {
                    startOrder.push(id);
                    running.push(() => resolve(id));
                    peak = Math.max(peak, running.length);
                  }),
              );
              results.push(result);
              await flush();
              if (full) await expect(result).resolves.toBeUndefined();
              else accepted.push(id);
            } else if (running.length > 0) {
              running.splice(step % running.length, 1)[0]();
              await flush();
            }
          }
          // the rest end, one after another
          while (running.length > 0) {
            running.shift()?.();
            await flush();
          }
          await Promise.all(results);
          expect(peak).toBeLessThanOrEqual(max);
          expect(startOrder).toEqual(accepted);
          expect(limit.active).toBe(0);
          expect(limit.queued).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
  });
});
