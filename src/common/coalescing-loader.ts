import DataLoader from 'dataloader';
import type { Collection, Document } from 'mongodb';

// One store command for many point operations: what callers ask while earlier batches are in
// flight leaves together as the next batch (docs/protocol.md, "Opening a session"). A lone call
// leaves at once (on the next turn of the event loop); a burst of callers, e.g. every client of a
// restarted replica reconnecting, pays one command per batch instead of one per caller. At most
// `concurrency` batches of a loader are in flight (more than one lets a store that runs commands
// in parallel keep its cores busy when each operation is costly); `run` answers each key with its
// value, or an Error for that key alone, in the order of `keys` (which may repeat: nothing is cached).
export function coalescingLoader<K, V>(
  run: (keys: readonly K[]) => Promise<ReadonlyArray<V | Error>>,
  maxBatchSize = 500,
  concurrency = 1,
): DataLoader<K, V> {
  let inFlight = 0;
  const waiting: Array<() => void> = [];
  const release = (): void => {
    inFlight--;
    const dispatch = waiting.shift();
    if (!dispatch) return;
    inFlight++;
    dispatch();
  };
  return new DataLoader<K, V>(
    async (keys) => {
      try {
        return await run(keys);
      } finally {
        // after this batch's callers are answered: the next batch holds what came meanwhile
        setImmediate(release);
      }
    },
    {
      cache: false,
      maxBatchSize,
      batchScheduleFn: (dispatch) => {
        if (inFlight >= concurrency) return void waiting.push(dispatch);
        inFlight++;
        setImmediate(dispatch);
      },
    },
  );
}

// The unordered insertMany or bulkWrite of a batch, answered per document or operation: `true` when
// the store took it, its own write error otherwise (a duplicate key fails that document alone), and
// the write's result when none failed (the bulk's counts).
export async function bulkEach<R>(
  write: () => Promise<R>,
  count: number,
): Promise<{ answers: Array<true | Error>; result?: R }> {
  const answers: Array<true | Error> = Array.from({ length: count }, () => true as const);
  try {
    return { answers, result: await write() };
  } catch (error) {
    const writeErrors = writeErrorsOf(error);
    if (!writeErrors) throw error;
    for (const failed of writeErrors) {
      const writeError = Object.assign(new Error(failed.errmsg ?? 'write failed'), { code: failed.code });
      if (failed.index >= 0 && failed.index < count) answers[failed.index] = writeError;
    }
    return { answers };
  }
}

// A batch of new documents, answered per document: one unordered insertMany, or the insertOne
// itself for a batch of one (lighter for the driver, and as quick to fail when the store is gone).
export async function insertEach(
  collection: Collection<Document>,
  documents: readonly object[],
): Promise<Array<true | Error>> {
  const { answers } = await bulkEach<unknown>(
    () =>
      documents.length === 1
        ? collection.insertOne(documents[0] as Document)
        : collection.insertMany(documents as Document[], { ordered: false }),
    documents.length,
  );
  return answers;
}

interface WriteError {
  index: number;
  code?: number;
  errmsg?: string;
}

// The per-document errors of a MongoBulkWriteError (the driver's, from any server), if that is what
// `error` is and the server answered the batch with them. The driver also throws a
// MongoBulkWriteError with no write errors at all when the batch never reached the server (no
// server selected, the connection lost) or with a write concern error: then nothing is known of any
// document, and the whole batch fails.
function writeErrorsOf(error: unknown): WriteError[] | undefined {
  if (typeof error !== 'object' || error === null || !('writeErrors' in error)) return undefined;
  if ((error as { writeConcernError?: unknown }).writeConcernError) return undefined;
  const raw = (error as { writeErrors: unknown }).writeErrors;
  const list = Array.isArray(raw) ? (raw as unknown[]) : [raw];
  if (list.length === 0) return undefined;
  const parsed: WriteError[] = [];
  for (const entry of list) {
    if (typeof entry !== 'object' || entry === null) return undefined;
    const { index, code, errmsg } = entry as Record<string, unknown>;
    if (typeof index !== 'number') return undefined;
    parsed.push({
      index,
      code: typeof code === 'number' ? code : undefined,
      errmsg: typeof errmsg === 'string' ? errmsg : undefined,
    });
  }
  return parsed;
}
