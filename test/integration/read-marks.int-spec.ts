import fc from 'fast-check';
import { createConnection, type Connection } from 'mongoose';
import { RedisLock } from '../../src/infra/lock/redis.lock';
import { WriteLock } from '../../src/infra/lock/write.lock';
import { pingOf } from '../../src/common/store-settle';
import { ReadMarksRepository } from '../../src/modules/rooms/read-marks.repository';
import { ReadMark, ReadMarkSchema } from '../../src/modules/rooms/schemas/room-extras.schema';
import { testSettings } from '../helpers/env';

const REDIS = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

// A member's read mark from two instances (two connections to FerretDB, two locks over one Redis):
// two devices reading at once. FerretDB applies `$max` as an unlocked read-modify-write (a lower
// mark written over a higher one) and two upserts of a missing mark race on its `_id` (one fails
// with a duplicate key): the mark must end at the highest seq read, and no read may fail.
describe('read marks across instances (FerretDB, Redis lock)', () => {
  const connections: Connection[] = [];
  const locks: WriteLock[] = [];
  let repositories: ReadMarksRepository[];

  beforeAll(async () => {
    const settings = testSettings();
    repositories = [];
    for (let index = 0; index < 2; index++) {
      const connection = await createConnection(settings.mongodbUri).asPromise();
      connections.push(connection);
      // the lock as LockModule provides it in the app
      const lock = new WriteLock(
        new RedisLock(REDIS, undefined, { ttlMs: 5_000, waitMs: 20_000 }),
        pingOf(connection),
      );
      locks.push(lock);
      repositories.push(new ReadMarksRepository(connection.model(ReadMark.name, ReadMarkSchema), lock));
    }
  });

  afterAll(async () => {
    for (const lock of locks) await lock.close();
    for (const connection of connections) await connection.close();
  });

  it('should keep the highest seq read, whatever the order the marks land in, and fail none', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({ instance: fc.integer({ min: 0, max: 1 }), seq: fc.integer({ min: 1, max: 50 }) }),
          {
            minLength: 2,
            maxLength: 12,
          },
        ),
        async (marks) => {
          const room = `room-${run++}-${Date.now()}`;
          const answers = await Promise.all(
            marks.map(({ instance, seq }) => repositories[instance].mark(room, 'u1', seq)),
          );
          const stored = await repositories[0].of([room], 'u1');
          const highest = Math.max(...marks.map((mark) => mark.seq));
          expect(stored.get(room)).toBe(highest);
          // each write answers the mark as it stood after it: at least its own seq, never past the highest
          answers.forEach((answer, index) => {
            expect(answer).toBeGreaterThanOrEqual(marks[index].seq);
            expect(answer).toBeLessThanOrEqual(highest);
          });
          // a read behind the mark answers the mark
          expect(await repositories[1].mark(room, 'u1', 1)).toBe(highest);
        },
      ),
      { numRuns: 25 },
    );
  });
});
