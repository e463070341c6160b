import type { Logger } from '@nestjs/common';
import {
  MongoBulkWriteError,
  MongoClientClosedError,
  MongoNetworkError,
  MongoNotConnectedError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
} from 'mongodb';
import { Error as MongooseError } from 'mongoose';
import { describeError } from '../logging/logging';
import { DomainException } from './domain.exception';
import { DEFAULT_MESSAGES, ErrorCode } from './error-code';

// how long a client is asked to wait before it resends: the driver polls a store that went away
// every second (src/infra/store/client-options.ts)
export const STORE_RETRY_AFTER_MS = 2_000;

export const STORE_AWAY_MESSAGE = 'Our message store did not answer; please try again in a moment.';

// A store that does not answer for a moment: restarting, frozen, cut off by the network, or the
// driver reconnecting to it (the watchdog's close and connect). The driver's network errors (its
// pool cleared after a failed check among them), its server selection timing out, and mongoose's
// own server selection and buffering timeouts. A refusal of the store's (a duplicate key, a bad
// query) is not one: that one is ours. A bulk write cut by a network error wraps it, keeping its
// own fields (`beforeHandshake` is a network error's alone); an operation of a client being closed
// is this instance stopping: the client goes on elsewhere. Until the lead's chaos run of session 43
// both were logged as unexpected errors (3 and 1) and told as "Something went wrong".
export function isStoreOutage(error: unknown): boolean {
  return (
    error instanceof MongoNetworkError ||
    (error instanceof MongoBulkWriteError && 'beforeHandshake' in error) ||
    error instanceof MongoClientClosedError ||
    error instanceof MongoServerSelectionError ||
    error instanceof MongoNotConnectedError ||
    error instanceof MongoTopologyClosedError ||
    error instanceof MongooseError.MongooseServerSelectionError ||
    (error instanceof MongooseError && /buffering timed out/.test(error.message))
  );
}

// What a client is told of an error that is not a DomainException, and how it is logged: a store
// outage is said as one (INTERNAL: nothing was written, the same client_id may be sent again; with
// a retry_after) and logged as a warning; anything else is a fault of ours, logged as an error
// (docs/protocol.md, "A store away for a moment"). `fields` name the user and the session or room for the log line;
// the error is logged by its type and message only, never the documents a driver's error carries.
export function unexpectedError(
  error: unknown,
  logger: Pick<Logger, 'warn' | 'error'>,
  fields: object,
): DomainException {
  const cause = describeError(error);
  if (isStoreOutage(error)) {
    logger.warn({ ...fields, event: 'store_unavailable', err: cause }, 'store did not answer');
    return new DomainException(ErrorCode.INTERNAL, STORE_AWAY_MESSAGE, {
      retryAfterMs: STORE_RETRY_AFTER_MS,
    });
  }
  logger.error({ ...fields, event: 'error', err: cause }, 'unexpected error');
  return new DomainException(ErrorCode.INTERNAL, DEFAULT_MESSAGES[ErrorCode.INTERNAL]);
}
