import {
  MongoClientClosedError,
  MongoError,
  MongoNotConnectedError,
  MongoServerError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
} from 'mongodb';

// docs/protocol.md, "A write given up on": how long a writer that saw its write fail keeps its lock
// waiting for the store to answer again, and then a while more for a write the store took before
// it stopped answering: after a pause the store works through what piled up, and the chaos test saw
// such a write land more than 500 ms after the store answered a ping again.
const SETTLE_WAIT_MS = 10_000;
const SETTLE_AFTER_MS = 3_000;

// A store error after which the command may still run: the driver gave up on it (a connection cut
// while the store was paused or slow). One that never left (no store selected) cannot, nor one the
// store answered (a duplicate key, a time limit: the store is done with it).
export function mayStillRun(error: unknown): boolean {
  return (
    error instanceof MongoError &&
    !(error instanceof MongoServerSelectionError) &&
    !(error instanceof MongoServerError)
  );
}

// the failures waited for already: a lock taken inside another's task (a session's under its user's)
// waits once, in the inner one; the outer lock, held all along, rethrows at once
const waitedFor = new WeakSet<object>();

// This process closed its own store client (it is stopping) under the write: no ping through that
// client can tell when the store is done (mongoose holds one 10 s, then fails), but the store may
// still run it: a 10-minute chaos run on cb004c7, which did not wait then, lost an acked message to
// such a write, run 200 ms later beside the other instance's append. The lock is kept SETTLE_AFTER_MS
// (or, if the process exits first, until its lease in Redis runs out).
function closedHere(error: unknown): boolean {
  return (
    error instanceof MongoClientClosedError ||
    error instanceof MongoTopologyClosedError ||
    error instanceof MongoNotConnectedError
  );
}

// Runs a write under a lock the caller holds; when it fails with such an error, waits (the lock still
// held) until the store answers `ping` again, at most SETTLE_WAIT_MS, and SETTLE_AFTER_MS more, then
// fails as it did. On FerretDB, whose updates are unlocked read-modify-writes, the write run late
// beside the lock's next holder would lose one of the two. Not when the store's address refuses
// connections: a store process that is gone took its commands with it.
export async function settledOnFailure<T>(
  task: () => Promise<T>,
  ping: () => Promise<unknown>,
  onGivenUp?: (error: unknown) => void,
): Promise<T> {
  try {
    return await task();
  } catch (error) {
    if (mayStillRun(error) && !waitedFor.has(error as object)) {
      onGivenUp?.(error);
      if (closedHere(error)) await sleep(SETTLE_AFTER_MS);
      else await untilAnswered(ping);
      waitedFor.add(error as object);
    }
    throw error;
  }
}

async function untilAnswered(ping: () => Promise<unknown>): Promise<void> {
  const deadline = Date.now() + SETTLE_WAIT_MS;
  for (;;) {
    try {
      await ping();
      break;
    } catch (error) {
      if (Date.now() > deadline || refused(error)) return;
      await sleep(250);
    }
  }
  await sleep(SETTLE_AFTER_MS);
}

function refused(error: unknown): boolean {
  return error instanceof Error && /ECONNREFUSED/.test(`${error.message} ${String(error.cause ?? '')}`);
}

// the store answers at all: a ping through the connection the writes use
export function pingOf(connection: {
  db?: { command(command: object): Promise<unknown> };
}): () => Promise<unknown> {
  return async () => {
    if (!connection.db) throw new Error('no store connection');
    return connection.db.command({ ping: 1 });
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
