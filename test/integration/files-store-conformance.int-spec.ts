import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import type { Collection, Filter, IndexSpecification } from 'mongodb';
import { StoredFileSchema } from '../../src/modules/uploads/schemas/stored-file.schema';
import { storeDatabase } from '../helpers/store-db';

// The late-scan sweep's read (FilesRepository.findUnscanned, src/modules/uploads/late-scan-sweep.ts)
// checked against the store in use with the files collection's own indexes: ready files never
// scanned, oldest first with ties by _id, a page after the last one a run took. FerretDB answers it in
// Go (the files collection is not among scripts/tools/ferretdb's pushdowns); the results must be
// MongoDB's, written out here (docs/protocol.md, "Uploads and files").

type Row = { _id: string; status: 'pending' | 'ready' | 'deleting'; scanned: boolean; created_at: Date };
type After = { created_at: Date; id: string };

const BASE = Date.UTC(2026, 0, 1);

// the repository's filter and order, as it sends them
const unscannedAfter = (after?: After): Filter<Row> => ({
  status: 'ready',
  scanned: false,
  ...(after && {
    $or: [
      { created_at: { $gt: after.created_at } },
      { created_at: after.created_at, _id: { $gt: after.id } },
    ],
  }),
});
const ORDER = { created_at: 1, _id: 1 } as const;

// MongoDB's answer on these shapes
function expected(rows: Row[], limit: number, after?: After): string[] {
  const later = (row: Row) =>
    !after ||
    row.created_at.getTime() > after.created_at.getTime() ||
    (row.created_at.getTime() === after.created_at.getTime() && row._id > after.id);
  return rows
    .filter((row) => row.status === 'ready' && row.scanned === false && later(row))
    .sort((a, b) => a.created_at.getTime() - b.created_at.getTime() || (a._id < b._id ? -1 : 1))
    .slice(0, limit)
    .map((row) => row._id);
}

const rowsArbitrary = fc.uniqueArray(
  fc.record({
    _id: fc.stringMatching(/^[0-9a-f]{1,3}$/),
    status: fc.constantFrom<Row['status']>('pending', 'ready', 'ready', 'deleting'),
    scanned: fc.boolean(),
    // few distinct times, so equal ones (and the _id tie-break) are common
    created_at: fc.integer({ min: 0, max: 8 }).map((minute) => new Date(BASE + minute * 60_000)),
  }),
  { selector: (row) => row._id, minLength: 1, maxLength: 30 },
);

describe('files store conformance', () => {
  const store = storeDatabase('files_conf');

  async function filesCollection(rows: Row[]): Promise<Collection<Row>> {
    const files = store.db.collection<Row>(`files_${randomBytes(4).toString('hex')}`);
    for (const [keys, options] of StoredFileSchema.indexes())
      await files.createIndex(keys as IndexSpecification, options as Record<string, unknown>);
    if (rows.length > 0) await files.insertMany(rows);
    return files;
  }

  const page = async (files: Collection<Row>, limit: number, after?: After) =>
    (await files.find(unscannedAfter(after)).sort(ORDER).limit(limit).toArray()).map((row) => row._id);

  it('should find the ready files never scanned, oldest first with ties by _id, after a given file', async () => {
    await fc.assert(
      fc.asyncProperty(
        rowsArbitrary,
        fc.integer({ min: 1, max: 10 }),
        fc.option(fc.nat()),
        async (rows, limit, pick) => {
          const files = await filesCollection(rows);
          // from the start, or after any stored file (one the sweep took, whatever it is now)
          const chosen = pick === null ? undefined : rows[pick % rows.length];
          const after = chosen && { created_at: chosen.created_at, id: chosen._id };
          expect(await page(files, limit, after)).toEqual(expected(rows, limit, after));
          await files.drop();
        },
      ),
      { numRuns: 40 },
    );
  });

  it('should take each unscanned file once, in order, paging by the last one taken', async () => {
    await fc.assert(
      fc.asyncProperty(rowsArbitrary, fc.integer({ min: 1, max: 4 }), async (rows, limit) => {
        const files = await filesCollection(rows);
        const taken: string[] = [];
        let after: After | undefined;
        for (;;) {
          const found = await files.find(unscannedAfter(after)).sort(ORDER).limit(limit).toArray();
          taken.push(...found.map((row) => row._id));
          if (found.length < limit) break;
          const last = found[found.length - 1];
          after = { created_at: last.created_at, id: last._id };
        }
        expect(taken).toEqual(expected(rows, rows.length));
        await files.drop();
      }),
      { numRuns: 25 },
    );
  });

  // the (status, scanned, created_at, _id) index is built on every store; MongoDB reads the sweep from
  // it, in its order (a run reads its batch, never the whole backlog). FerretDB answers the query in Go
  // (no pushdown for the files collection): its plan is not checked
  it('should build the sweep index, and read the sweep from it on MongoDB', async () => {
    const files = await filesCollection(
      Array.from({ length: 50 }, (_, index) => ({
        _id: `f${String(index).padStart(2, '0')}`,
        status: index % 3 ? 'ready' : 'deleting',
        scanned: index % 2 === 0,
        created_at: new Date(BASE + index * 60_000),
      })),
    );
    const built = (await files.indexes()).find(
      (index) => index.name === 'status_1_scanned_1_created_at_1__id_1',
    );
    expect(built?.key).toEqual({ status: 1, scanned: 1, created_at: 1, _id: 1 });
    if (store.ferret) return;
    for (const after of [undefined, { created_at: new Date(BASE + 10 * 60_000), id: 'f10' }]) {
      const explained = await files.find(unscannedAfter(after)).sort(ORDER).limit(5).explain();
      const plan = JSON.stringify(explained.queryPlanner.winningPlan);
      expect(plan).toContain('"status_1_scanned_1_created_at_1__id_1"');
      expect(plan).not.toContain('COLLSCAN');
      if (!after) expect(plan).not.toContain('"SORT"');
    }
  });
});
