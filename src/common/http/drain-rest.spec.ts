import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { drainRest } from './drain-rest';

describe(drainRest.name, () => {
  it('should read a small rest to its end and say the connection can stay open', async () => {
    const body = new PassThrough();
    const drained = drainRest(body, 1024, 1000);
    body.write(Buffer.alloc(600));
    body.end(Buffer.alloc(424));
    await expect(drained).resolves.toBe(true);
  });

  it('should stop at the limit and leave the rest unread when the body is larger', async () => {
    const body = new PassThrough();
    const drained = drainRest(body, 1024, 1000);
    body.write(Buffer.alloc(1025));
    await expect(drained).resolves.toBe(false);
    expect(body.isPaused()).toBe(true);
  });

  it('should give up on a client that stops sending', async () => {
    const body = new PassThrough();
    const drained = drainRest(body, 1024, 50);
    body.write(Buffer.alloc(10));
    await expect(drained).resolves.toBe(false);
  });

  it('should be true exactly when the whole body fits in the limit', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 300 }), { maxLength: 8 }),
        fc.integer({ min: 0, max: 1500 }),
        async (chunks, limit) => {
          const body = new PassThrough();
          const drained = drainRest(body, limit, 1000);
          for (const size of chunks) body.write(Buffer.alloc(size));
          body.end();
          const total = chunks.reduce((sum, size) => sum + size, 0);
          expect(await drained).toBe(total <= limit);
        },
      ),
      { numRuns: 50 },
    );
  });
});
