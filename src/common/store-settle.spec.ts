import {
  MongoClientClosedError,
  MongoError,
  MongoNetworkError,
  MongoNotConnectedError,
  MongoServerError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
} from 'mongodb';
import { mayStillRun, settledOnFailure } from './store-settle';

describe('settledOnFailure', () => {
  it('should return what the task returns and never ping when it succeeds', async () => {
    const ping = jest.fn();
    await expect(settledOnFailure(() => Promise.resolve(7), ping)).resolves.toBe(7);
    expect(ping).not.toHaveBeenCalled();
  });

  it('should fail only once the store answers again when the driver gave up on the write', async () => {
    const events: string[] = [];
    let answers = 0;
    const ping = jest.fn(async () => {
      events.push('ping');
      // the store answers at the third look
      if (++answers < 3) throw new MongoNetworkError('connection timed out');
    });
    const failure = new MongoNetworkError('connection 3 to 127.0.0.1:1 closed');
    await expect(
      settledOnFailure(
        () => Promise.reject(failure),
        ping,
        () => events.push('given up'),
      ),
    ).rejects.toBe(failure);
    expect(events).toEqual(['given up', 'ping', 'ping', 'ping']);
  });

  it('should stop waiting when the store refuses connections: its process took its commands with it', async () => {
    const ping = jest.fn().mockRejectedValue(new MongoNetworkError('connect ECONNREFUSED 127.0.0.1:1'));
    await expect(settledOnFailure(() => Promise.reject(new MongoError('x')), ping)).rejects.toThrow('x');
    expect(ping).toHaveBeenCalledTimes(1);
  });

  // an instance stopping closes its store client under writes in flight: waiting for a ping through
  // that client (mongoose buffers it 10 s, then fails) held its locks 13 s; not waiting at all lost an
  // acked message in a chaos run (the write ran 200 ms after the close, beside the next append)
  it('should keep the lock a while without pinging when this process closed its own store client', async () => {
    const ping = jest.fn();
    const given = jest.fn();
    for (const closed of [
      new MongoClientClosedError(),
      new MongoTopologyClosedError(),
      new MongoNotConnectedError('Client must be connected before running operations'),
    ]) {
      const started = Date.now();
      await expect(settledOnFailure(() => Promise.reject(closed), ping, given)).rejects.toBe(closed);
      expect(Date.now() - started).toBeGreaterThanOrEqual(2_900);
    }
    expect(ping).not.toHaveBeenCalled();
    expect(given).toHaveBeenCalledTimes(3);
  }, 30_000);

  it('should not wait for errors after which nothing can run later', async () => {
    const ping = jest.fn();
    const selection = new MongoServerSelectionError('no store', {
      type: 'Unknown',
    } as unknown as ConstructorParameters<typeof MongoServerSelectionError>[1]);
    await expect(settledOnFailure(() => Promise.reject(selection), ping)).rejects.toBe(selection);
    await expect(
      settledOnFailure(() => Promise.reject(new Error('refused by a rule')), ping),
    ).rejects.toThrow();
    expect(ping).not.toHaveBeenCalled();
    // the store answered: it is done with the command
    const duplicate = new MongoServerError({ message: 'E11000 duplicate key error', code: 11000 });
    await expect(settledOnFailure(() => Promise.reject(duplicate), ping)).rejects.toBe(duplicate);
    expect(ping).not.toHaveBeenCalled();
    expect(mayStillRun(new MongoNetworkError('closed'))).toBe(true);
    expect(mayStillRun(selection)).toBe(false);
    expect(mayStillRun(duplicate)).toBe(false);
  });
});
