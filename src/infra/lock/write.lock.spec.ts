import { Logger } from '@nestjs/common';
import fc from 'fast-check';
import { MongoNetworkError } from 'mongodb';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { InProcessLock } from './in-process.lock';
import { LockUnavailableError, type KeyLock } from './lock';
import { WriteLock } from './write.lock';

const answering = () => Promise.resolve();

describe(WriteLock.name, () => {
  it('should be idle at once with no task, and once every task given to it has settled', async () => {
    const lock = new WriteLock(new InProcessLock(), answering);
    await expect(lock.stopped(10)).resolves.toBe(true);
    let finish!: () => void;
    const first = lock.run('a', () => new Promise<void>((resolve) => (finish = resolve)));
    // the second waits for the key: it counts too
    const second = lock.run('a', () => Promise.reject(new Error('refused')));
    await expect(lock.stopped(20)).resolves.toBe(false);
    const idle = lock.stopped(5_000);
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
          const lock = new WriteLock(new InProcessLock(), answering);
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
          void lock.stopped(60_000).then((value: boolean) => (idle = value));
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

  // docs/protocol.md, "A write given up on": the driver gave up on the write, the store may still run
  // it; the next holder of the key must not write beside it
  it('should keep the key of a write given up on until the store answers, telling the caller first', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const events: string[] = [];
    let answers = 0;
    const lock = new WriteLock(new InProcessLock(), async () => {
      events.push('ping');
      if (++answers < 2) throw new MongoNetworkError('connection timed out');
    });
    const failure = new MongoNetworkError('connection 3 to 127.0.0.1:1 closed');
    const first = lock.run(
      'session:s1',
      () => Promise.reject(failure),
      () => events.push('given up'),
    );
    const next = lock.run('session:s1', async () => void events.push('next holder'));
    await expect(first).rejects.toBe(failure);
    await next;
    expect(events).toEqual(['given up', 'ping', 'ping', 'next holder']);
    expect(warn).toHaveBeenCalledWith(
      expect.objectContaining({ key: 'session:s1', event: 'write_failed' }),
      expect.any(String),
    );
    warn.mockRestore();
  }, 15_000);

  it('should neither wait nor tell the caller when the task failed otherwise', async () => {
    const ping = jest.fn();
    const givenUp = jest.fn();
    const lock = new WriteLock(new InProcessLock(), ping);
    await expect(
      lock.run('k', () => Promise.reject(new Error('refused by a rule')), givenUp),
    ).rejects.toThrow('refused by a rule');
    await expect(lock.run('k', () => Promise.resolve(3), givenUp)).resolves.toBe(3);
    expect(ping).not.toHaveBeenCalled();
    expect(givenUp).not.toHaveBeenCalled();
  });

  it('should refuse a key not had in time as INTERNAL, to try again', async () => {
    const busy: KeyLock = {
      kind: 'redis',
      run: (key) => Promise.reject(new LockUnavailableError(key, 10_000)),
      close: () => Promise.resolve(),
    };
    const task = jest.fn();
    const refusal = await new WriteLock(busy, answering)
      .run('session:s1', task)
      .catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(DomainException);
    expect((refusal as DomainException).code).toBe(ErrorCode.INTERNAL);
    expect(task).not.toHaveBeenCalled();
  });

  // a session's lock taken inside its user's (opening a session): the inner one waits for the store;
  // the outer, held all along, must not wait (and log) the same failure again
  it('should wait once for a failure seen by a lock taken inside another', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const ping = jest.fn().mockResolvedValue(undefined);
    const lock = new WriteLock(new InProcessLock(), ping);
    const inner = jest.fn();
    const outer = jest.fn();
    const failure = new MongoNetworkError('connection 5 to 127.0.0.1:1 timed out');
    await expect(
      lock.run('user:u', () => lock.run('session:s', () => Promise.reject(failure), inner), outer),
    ).rejects.toBe(failure);
    expect(ping).toHaveBeenCalledTimes(1);
    expect(inner).toHaveBeenCalledTimes(1);
    expect(outer).not.toHaveBeenCalled();
    expect(
      warn.mock.calls.filter(([line]) => (line as { event?: string }).event === 'write_failed'),
    ).toHaveLength(1);
    warn.mockRestore();
  }, 15_000);
});
