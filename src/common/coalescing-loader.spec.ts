import fc from 'fast-check';
import { setTimeout as sleep } from 'node:timers/promises';
import { bulkEach, coalescingLoader } from './coalescing-loader';
import { isDuplicateKey } from './store-errors';

describe('coalescingLoader', () => {
  it('should send a lone call at once, in a batch of its own', async () => {
    const batches: number[][] = [];
    const loader = coalescingLoader(async (keys: readonly number[]) => {
      batches.push([...keys]);
      return keys.map((key) => key * 2);
    });
    await expect(loader.load(21)).resolves.toBe(42);
    expect(batches).toEqual([[21]]);
  });

  it('should send what comes while a batch is in flight as one next batch', async () => {
    const batches: number[][] = [];
    let release!: () => void;
    const first = new Promise<void>((resolve) => (release = resolve));
    let started!: () => void;
    const firstStarted = new Promise<void>((resolve) => (started = resolve));
    const loader = coalescingLoader(async (keys: readonly number[]) => {
      batches.push([...keys]);
      if (batches.length === 1) {
        started();
        await first;
      }
      return keys.map((key) => key + 1);
    });
    const lone = loader.load(0);
    await firstStarted;
    const burst = [1, 2, 3, 4].map((key) => loader.load(key));
    await sleep(5);
    // the first batch is still in flight: nothing else has left
    expect(batches).toEqual([[0]]);
    release();
    await expect(Promise.all([lone, ...burst])).resolves.toEqual([1, 2, 3, 4, 5]);
    expect(batches).toEqual([[0], [1, 2, 3, 4]]);
  });

  it('should fail the key its batch answers with an Error, and only that key', async () => {
    const loader = coalescingLoader(async (keys: readonly number[]) =>
      keys.map((key) => (key === 2 ? new Error('two') : key)),
    );
    const results = await Promise.allSettled([1, 2, 3].map((key) => loader.load(key)));
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  });

  it('should fail every key of a batch whose command fails, and go on with the next batch', async () => {
    let calls = 0;
    const loader = coalescingLoader(async (keys: readonly number[]) => {
      calls++;
      if (calls === 1) throw new Error('store down');
      return [...keys];
    });
    await expect(loader.load(1)).rejects.toThrow('store down');
    await expect(loader.load(2)).resolves.toBe(2);
  });

  // the state machine under any arrival pattern: every caller gets its own key's answer, each key
  // goes out once, at most one batch is in flight, no batch exceeds the bound
  it('should answer every caller with its own key, at most `concurrency` batches in flight, whatever the timing', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ key: fc.integer({ min: 0, max: 20 }), gapMs: fc.constantFrom(0, 0, 1, 2) }), {
          maxLength: 40,
        }),
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.constantFrom(0, 1, 3), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 1, max: 3 }),
        async (calls, maxBatchSize, delays, concurrency) => {
          let inFlight = 0;
          let maxInFlight = 0;
          const sent: number[] = [];
          let batchIndex = 0;
          const loader = coalescingLoader(
            async (keys: readonly number[]) => {
              inFlight++;
              maxInFlight = Math.max(maxInFlight, inFlight);
              expect(keys.length).toBeLessThanOrEqual(maxBatchSize);
              sent.push(...keys);
              await sleep(delays[batchIndex++ % delays.length]);
              inFlight--;
              return keys.map((key) => (key % 7 === 3 ? new Error(`bad ${key}`) : key * 10));
            },
            maxBatchSize,
            concurrency,
          );
          const pending: Array<Promise<unknown>> = [];
          for (const { key, gapMs } of calls) {
            pending.push(
              loader.load(key).then(
                (value) => expect(value).toBe(key * 10),
                (error: Error) => expect(error.message).toBe(`bad ${key}`),
              ),
            );
            if (gapMs > 0) await sleep(gapMs);
          }
          await Promise.all(pending);
          expect(maxInFlight).toBeLessThanOrEqual(concurrency);
          expect([...sent].sort((a, b) => a - b)).toEqual(
            calls.map((call) => call.key).sort((a, b) => a - b),
          );
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('bulkEach', () => {
  it('should answer each document of a batch that stored them all', async () => {
    await expect(bulkEach(async () => ({ modifiedCount: 3 }), 3)).resolves.toEqual({
      answers: [true, true, true],
      result: { modifiedCount: 3 },
    });
  });

  it("should fail only the documents a bulk write error names, keeping each one's code", async () => {
    const bulkError = Object.assign(new Error('E11000'), {
      writeErrors: [{ index: 1, code: 11000, errmsg: 'E11000 duplicate key' }],
    });
    const { answers, result } = await bulkEach(() => Promise.reject(bulkError), 3);
    expect(result).toBeUndefined();
    expect(answers[0]).toBe(true);
    expect(answers[2]).toBe(true);
    expect(isDuplicateKey(answers[1])).toBe(true);
  });

  it('should fail the whole batch on any other error', async () => {
    await expect(bulkEach(() => Promise.reject(new Error('network')), 2)).rejects.toThrow('network');
    const odd = Object.assign(new Error('odd'), { writeErrors: [{ code: 11000 }] });
    await expect(bulkEach(() => Promise.reject(odd), 2)).rejects.toThrow('odd');
    // what the driver throws when the batch never reached a server: no document is known stored
    const unsent = Object.assign(new Error('Server selection timed out'), { writeErrors: [] });
    await expect(bulkEach(() => Promise.reject(unsent), 2)).rejects.toThrow('Server selection');
    const concern = Object.assign(new Error('write concern'), {
      writeErrors: [{ index: 0, code: 11000 }],
      writeConcernError: { code: 64 },
    });
    await expect(bulkEach(() => Promise.reject(concern), 2)).rejects.toThrow('write concern');
  });
});
