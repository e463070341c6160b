import fc from 'fast-check';
import type { Model } from 'mongoose';
import { RoomChangesRepository } from './room-changes.repository';
import type { RoomChange } from './schemas/room-change.schema';

type Entry = Pick<RoomChange, 'n' | 'at' | 'void'>;

// the store's answer to the newest-first read, as the repository asks it (sort by n descending, limit)
function repositoryOver(entries: Entry[]): RoomChangesRepository {
  const model = {
    find: () => ({
      sort: () => ({
        limit: (limit: number) => ({
          lean: async () => [...entries].sort((a, b) => b.n - a.n).slice(0, limit),
        }),
      }),
    }),
  } as unknown as Model<RoomChange>;
  return new RoomChangesRepository(model);
}

const since = new Date('2026-12-03T12:00:00Z');
const old = new Date(since.getTime() - 1);
const recent = new Date(since.getTime() + 1);

// A first join's start (docs/protocol.md, "Change log"): the head, or just below the lowest entry of
// the settle time that is not void, of the newest looked at; below all of them when all are recent.
describe('RoomChangesRepository.start', () => {
  it('should start at the head when nothing is recent, below a recent entry that is not void', async () => {
    expect(await repositoryOver([]).start('r', since)).toBe(0);
    expect(await repositoryOver([1, 2, 3].map((n) => ({ n, at: old }))).start('r', since)).toBe(3);
    const entries: Entry[] = [
      { n: 1, at: old },
      { n: 2, at: recent },
      { n: 3, at: recent, void: true },
      { n: 4, at: recent },
    ];
    expect(await repositoryOver(entries).start('r', since)).toBe(1);
    expect(await repositoryOver(entries.filter((entry) => entry.n !== 2)).start('r', since)).toBe(3);
    // every one of the newest looked at is recent: below the lowest of them
    expect(
      await repositoryOver([5, 6, 7].map((n) => ({ n, at: recent, void: true }))).start('r', since, 3),
    ).toBe(4);
  });

  it('should never start above the head, nor at or above a recent entry that is not void (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.integer({ min: 1, max: 40 })),
        fc.array(fc.tuple(fc.boolean(), fc.boolean()), { minLength: 40, maxLength: 40 }),
        fc.integer({ min: 1, max: 50 }),
        async (numbers, flags, limit) => {
          const entries = numbers.map((n) => ({
            n,
            at: flags[n - 1][0] ? recent : old,
            void: flags[n - 1][1],
          }));
          const start = await repositoryOver(entries).start('r', since, limit);
          const looked = [...entries].sort((a, b) => b.n - a.n).slice(0, limit);
          expect(start).toBeLessThanOrEqual(Math.max(0, ...numbers));
          for (const entry of looked)
            if (entry.at === recent && !entry.void) expect(start).toBeLessThan(entry.n);
          if (!looked.some((entry) => entry.at === recent) && looked.length > 0)
            expect(start).toBe(looked[0].n);
        },
      ),
      { numRuns: 300 },
    );
  });
});
