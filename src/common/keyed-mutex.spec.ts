import { KeyedMutex } from './keyed-mutex';

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (reason: Error) => void;
}

function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: Error) => void;
  const promise = new Promise<T>((onResolve, onReject) => {
    resolve = onResolve;
    reject = onReject;
  });
  return { promise, resolve, reject };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Lets every queued promise callback run.
function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

describe(KeyedMutex.name, () => {
  it('should run tasks with the same key one after another in submission order when earlier ones are slower', async () => {
    const mutex = new KeyedMutex();
    const events: string[] = [];
    const task = (name: string, ms: number) => async (): Promise<string> => {
      events.push(`start ${name}`);
      await sleep(ms);
      events.push(`end ${name}`);
      return name;
    };

    const results = await Promise.all([
      mutex.run('session', task('a', 30)),
      mutex.run('session', task('b', 1)),
      mutex.run('session', task('c', 10)),
    ]);

    expect(results).toEqual(['a', 'b', 'c']);
    expect(events).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  });

  it('should not start the next task with the same key until the running one settles', async () => {
    const mutex = new KeyedMutex();
    const first = deferred();
    const second = jest.fn(async () => 'second');

    const firstResult = mutex.run('k', () => first.promise);
    const secondResult = mutex.run('k', second);
    await flush();
    expect(second).not.toHaveBeenCalled();

    first.resolve();
    await firstResult;
    await expect(secondResult).resolves.toBe('second');
    expect(second).toHaveBeenCalledTimes(1);
  });

  it('should keep running later tasks with the same key when an earlier one rejects', async () => {
    const mutex = new KeyedMutex();
    const events: string[] = [];

    const failing = mutex.run('k', async () => {
      await sleep(10);
      events.push('failing');
      throw new Error('boom');
    });
    const next = mutex.run('k', async () => {
      events.push('next');
      return 2;
    });

    await expect(failing).rejects.toThrow('boom');
    await expect(next).resolves.toBe(2);
    expect(events).toEqual(['failing', 'next']);
  });

  it('should keep running later tasks when an earlier one throws synchronously', async () => {
    const mutex = new KeyedMutex();
    const failing = mutex.run('k', () => {
      throw new Error('sync boom');
    });
    const next = mutex.run('k', async () => 'ok');

    await expect(failing).rejects.toThrow('sync boom');
    await expect(next).resolves.toBe('ok');
  });

  it('should run tasks with different keys concurrently when one key is busy', async () => {
    const mutex = new KeyedMutex();
    const blocker = deferred();
    const other = jest.fn(async () => 'other');

    const blocked = mutex.run('a', () => blocker.promise);
    const otherResult = mutex.run('b', other);

    await expect(otherResult).resolves.toBe('other');
    expect(other).toHaveBeenCalledTimes(1);
    expect(mutex.size).toBe(1);

    blocker.resolve();
    await blocked;
  });

  it('should have both keys running at once when tasks with different keys overlap', async () => {
    const mutex = new KeyedMutex();
    let running = 0;
    let maxRunning = 0;
    const task = async (): Promise<void> => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await sleep(10);
      running--;
    };

    await Promise.all([mutex.run('a', task), mutex.run('b', task), mutex.run('c', task)]);
    expect(maxRunning).toBe(3);
  });

  it('should never overlap tasks with the same key when many are queued', async () => {
    const mutex = new KeyedMutex();
    let running = 0;
    let maxRunning = 0;
    const order: number[] = [];
    const tasks = Array.from({ length: 20 }, (_, index) =>
      mutex.run('k', async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await sleep(index % 3);
        order.push(index);
        running--;
        if (index % 4 === 0) throw new Error(`task ${index}`);
      }),
    );

    await Promise.allSettled(tasks);
    expect(maxRunning).toBe(1);
    expect(order).toEqual(Array.from({ length: 20 }, (_, index) => index));
  });

  it('should remove every key when all tasks have settled', async () => {
    const mutex = new KeyedMutex();
    const tasks = [
      mutex.run('a', () => sleep(5)),
      mutex.run('a', async () => {
        throw new Error('x');
      }),
      mutex.run('b', () => sleep(1)),
    ];
    expect(mutex.size).toBe(2);

    await Promise.allSettled(tasks);
    await flush();
    expect(mutex.size).toBe(0);
  });

  it('should keep the key while a later task is still queued when an earlier one finishes', async () => {
    const mutex = new KeyedMutex();
    const second = deferred();
    const first = mutex.run('k', async () => 1);
    const last = mutex.run('k', () => second.promise);

    await first;
    await flush();
    expect(mutex.size).toBe(1);

    second.resolve();
    await last;
    await flush();
    expect(mutex.size).toBe(0);
  });
});
