import { PassThrough } from 'node:stream';

// Bytes buffered per branch before the source waits: memory per upload stays a few hundred KiB
// whatever the file size.
const BRANCH_BUFFER_BYTES = 256 * 1024;

// A consumer stopped reading (its own error is reported by its own promise).
export class BranchClosed extends Error {
  constructor() {
    super('a consumer of the upload stopped');
  }
}

export interface Fanout {
  branches: PassThrough[];
  // resolves when every chunk went to every branch; rejects with the first failure
  done: Promise<void>;
  // stops the copy (a consumer failed): the branches are destroyed with `reason`
  abort(reason: Error): void;
}

// Copies one source to several consumers (storage and clamd) at the pace of the slowest, so the
// upload is never held whole in memory.
export function fanout(source: AsyncIterable<Buffer>, count: number): Fanout {
  const branches = Array.from({ length: count }, () => {
    const branch = new PassThrough({ highWaterMark: BRANCH_BUFFER_BYTES });
    // consumers see failures through their own reads; this keeps a late destroy from crashing
    branch.on('error', () => undefined);
    return branch;
  });
  let aborted: Error | undefined;
  let wake: (() => void) | undefined;
  const abort = (reason: Error) => {
    aborted ??= reason;
    wake?.();
  };
  const waitFor = (branch: PassThrough) =>
    new Promise<void>((resolve) => {
      if (branch.destroyed) return resolve();
      const done = () => {
        branch.off('drain', done);
        branch.off('close', done);
        resolve();
      };
      branch.once('drain', done);
      branch.once('close', done);
    });
  const done = (async () => {
    try {
      for await (const chunk of source) {
        if (aborted) throw aborted;
        if (branches.some((branch) => branch.destroyed)) throw new BranchClosed();
        const waits = branches.filter((branch) => !branch.write(chunk)).map(waitFor);
        if (waits.length > 0)
          await Promise.race([Promise.all(waits), new Promise<void>((resolve) => (wake = resolve))]);
        if (aborted) throw aborted;
        if (branches.some((branch) => branch.destroyed)) throw new BranchClosed();
      }
      for (const branch of branches) branch.end();
    } catch (error) {
      const reason = error instanceof Error ? error : new Error(String(error));
      for (const branch of branches) branch.destroy(reason);
      throw reason;
    }
  })();
  return { branches, done, abort };
}
