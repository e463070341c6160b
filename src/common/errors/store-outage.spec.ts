import {
  MongoBulkWriteError,
  MongoClientClosedError,
  MongoNetworkError,
  MongoServerError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
} from 'mongodb';
import { Error as MongooseError } from 'mongoose';
import { DEFAULT_MESSAGES, ErrorCode } from './error-code';
import { isStoreOutage, STORE_AWAY_MESSAGE, STORE_RETRY_AFTER_MS, unexpectedError } from './store-outage';

// the driver's server selection timing out, with the topology it found (no server to talk to)
function selectionTimeout(message: string): MongoServerSelectionError {
  return new MongoServerSelectionError(message, { error: null } as never);
}

// the driver's pool cleared after a failed check: what a frozen FerretDB gave in the chaos run
function poolCleared(): Error {
  const error = new MongoNetworkError(
    'Connection to 127.0.0.1:44789 interrupted due to server monitor timeout',
  );
  Object.defineProperty(error, 'name', { value: 'PoolClearedOnNetworkError' });
  return error;
}

describe('isStoreOutage', () => {
  it.each([
    ['a network error', new MongoNetworkError('connect ECONNREFUSED 127.0.0.1:27017')],
    ['a cleared pool', poolCleared()],
    ['a server selection timeout', selectionTimeout('Server selection timed out after 5000 ms')],
    ['a closed topology (the watchdog reconnecting)', new MongoTopologyClosedError()],
    [
      "mongoose's buffering timeout",
      new MongooseError('Operation `sessions.findOne()` buffering timed out after 10000ms'),
    ],
    // found by the lead's chaos run in session 43 (3 and 1 logged as unexpected errors)
    ['a bulk write cut by a cleared pool', new MongoBulkWriteError(poolCleared() as never, {} as never)],
    ['an operation of a client closing (the instance stopping)', new MongoClientClosedError()],
  ])('should count %s as the store being away', (_, error) => {
    expect(isStoreOutage(error)).toBe(true);
  });

  it.each([
    ['a duplicate key', new MongoServerError({ message: 'E11000 duplicate key error', code: 11000 })],
    [
      "a bulk write's duplicate key",
      new MongoBulkWriteError(
        { message: 'E11000 duplicate key error', code: 11000, writeErrors: [] } as never,
        {} as never,
      ),
    ],
    ['a plain error', new Error('boom')],
    ['a validation error of mongoose', new MongooseError('Validation failed')],
    ['a string', 'connect ECONNREFUSED'],
    ['nothing', undefined],
  ])('should not count %s', (_, error) => {
    expect(isStoreOutage(error)).toBe(false);
  });
});

describe('unexpectedError', () => {
  const logger = () => ({ warn: jest.fn(), error: jest.fn() });

  it('should tell the client the store was away, with a retry_after, and log a warning that names no document', () => {
    const log = logger();
    const exception = unexpectedError(selectionTimeout('timed out'), log, { user_id: 'u1' });
    expect(exception).toMatchObject({
      code: ErrorCode.INTERNAL,
      message: STORE_AWAY_MESSAGE,
      recoverable: true,
    });
    expect(exception.details.retryAfterMs).toBe(STORE_RETRY_AFTER_MS);
    expect(log.error).not.toHaveBeenCalled();
    expect(log.warn).toHaveBeenCalledWith(
      { user_id: 'u1', event: 'store_unavailable', err: 'MongoServerSelectionError: timed out' },
      'store did not answer',
    );
  });

  it('should give any other error the generic INTERNAL, with no retry_after, and log it as an error', () => {
    const log = logger();
    const exception = unexpectedError(new TypeError('x is undefined'), log, { room_id: 'r1' });
    expect(exception).toMatchObject({
      code: ErrorCode.INTERNAL,
      message: DEFAULT_MESSAGES[ErrorCode.INTERNAL],
    });
    expect(exception.details.retryAfterMs).toBeUndefined();
    expect(log.warn).not.toHaveBeenCalled();
    expect(log.error).toHaveBeenCalledWith(
      { room_id: 'r1', event: 'error', err: 'TypeError: x is undefined' },
      'unexpected error',
    );
  });
});
