import fc from 'fast-check';
import { DomainException } from '../../common/errors/domain.exception';
import type { AdminRepository, AdminSessionRow, DurationSource } from './admin.repository';
import { AdminService, MAX_DURATION_ROWS_HELD, percentile } from './admin.service';
import { toListQuery, type SessionFilter } from './dto/admin-query.dto';
import { compareByDuration } from './duration-order';
import { toPeriodRow } from './admin-period';

const NOW = new Date('2024-06-01T12:00:00.000Z');
const MINUTE = 60_000;

function sessionRow(overrides: Partial<AdminSessionRow> = {}): AdminSessionRow {
  return {
    _id: 'id',
    user_id: 'user',
    name: 'chat',
    model_id: 'demo',
    is_active: true,
    start_time: new Date(NOW.getTime() - MINUTE),
    end_time: null,
    duration_ms: null,
    last_activity: NOW,
    last_message_at: null,
    message_count: 0,
    total_tokens: 0,
    response_count: 0,
    response_ms_total: 0,
    max_response_ms: 0,
    help_requested: false,
    help_requested_at: null,
    admin_assisted: false,
    assisting_admin_id: null,
    assisting_admin_name: null,
    ...overrides,
  };
}

// The repository's contract for sort=duration over an in-memory table: each source in the list's
// order, with the database's skip and limit; every read is recorded.
function fakeRepository(rows: AdminSessionRow[], counts?: Record<DurationSource, number>) {
  const reads: Array<{ source: DurationSource; skip: number; limit: number }> = [];
  const inSource = (source: DurationSource) =>
    rows.filter((row) => (source === 'stored') === (row.duration_ms !== null));
  const repository = {
    reads,
    countByDurationSource: (filter: SessionFilter) => {
      expect(filter).toBeDefined();
      return Promise.resolve(counts ?? { stored: inSource('stored').length, live: inSource('live').length });
    },
    listByDuration: (
      _filter: SessionFilter,
      source: DurationSource,
      order: 'asc' | 'desc',
      skip: number,
      limit: number,
    ) => {
      reads.push({ source, skip, limit });
      return Promise.resolve(
        [...inSource(source)].sort(compareByDuration(order, NOW)).slice(skip, skip + limit),
      );
    },
  };
  return repository;
}

const serviceOver = (repository: ReturnType<typeof fakeRepository>) =>
  new AdminService(repository as unknown as AdminRepository);

describe(AdminService.name, () => {
  const timedRow = fc.record({
    ageMs: fc.integer({ min: -MINUTE, max: 100 * MINUTE }),
    storedMs: fc.option(fc.integer({ min: 0, max: 100 * MINUTE }), { nil: null }),
    active: fc.boolean(),
  });

  it('should page sort=duration exactly as one sort of the returned durations when sources interleave', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(timedRow, { maxLength: 40 }),
        fc.integer({ min: 1, max: 7 }),
        fc.constantFrom<'asc' | 'desc'>('asc', 'desc'),
        async (timed, limit, order) => {
          const rows = timed.map((entry, index) =>
            sessionRow({
              _id: `id-${String(index).padStart(2, '0')}`,
              start_time: new Date(NOW.getTime() - entry.ageMs),
              // an ended session stores its duration; a live one stores none
              is_active: entry.storedMs === null ? entry.active : false,
              duration_ms: entry.storedMs,
            }),
          );
          const expected = [...rows].sort(compareByDuration(order, NOW)).map((row) => row._id);
          const service = serviceOver(fakeRepository(rows));
          const seen: string[] = [];
          const pages = Math.ceil(rows.length / limit) + 1;
          for (let page = 1; page <= pages; page++) {
            const result = await service.list(toListQuery({ sort: 'duration', order, page, limit }), NOW);
            expect(result).toMatchObject({ total: rows.length, page, limit });
            const durations = result.items.map((item) => item.duration_ms ?? -Infinity);
            expect(durations).toEqual([...durations].sort((a, b) => (order === 'asc' ? a - b : b - a)));
            seen.push(...result.items.map((item) => item.id));
          }
          expect(seen).toEqual(expected);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('should read the smaller source up to the page end and skip the larger one in the database', async () => {
    const rows = [
      ...Array.from({ length: 50 }, (_, index) =>
        sessionRow({ _id: `e${index}`, is_active: false, duration_ms: index * MINUTE }),
      ),
      ...Array.from({ length: 3 }, (_, index) => sessionRow({ _id: `a${index}` })),
    ];
    const repository = fakeRepository(rows);
    await serviceOver(repository).list(toListQuery({ sort: 'duration', page: 5, limit: 10 }), NOW);
    expect(repository.reads).toEqual(
      expect.arrayContaining([
        { source: 'live', skip: 0, limit: 3 },
        { source: 'stored', skip: 37, limit: 13 },
      ]),
    );
  });

  // docs/protocol.md, "Admin list pages"
  it('should read a list as of `as_of` (never later than now), durations too, and answer the time it was read as of', async () => {
    const filters: SessionFilter[] = [];
    const repository = {
      list: (query: { filter: SessionFilter }) => {
        filters.push(query.filter);
        return Promise.resolve({
          rows: [sessionRow({ start_time: new Date(NOW.getTime() - 10 * MINUTE) })],
          total: 1,
        });
      },
    };
    const service = new AdminService(repository as unknown as AdminRepository);
    const first = await service.list(toListQuery({ page: 1, limit: 5 }), NOW);
    expect(first).toMatchObject({ as_of: NOW.toISOString(), items: [{ duration_ms: 10 * MINUTE }] });
    expect(filters[0].asOf).toBeUndefined();
    const earlier = new Date(NOW.getTime() - 4 * MINUTE);
    const later = new Date(NOW.getTime() + 5 * MINUTE);
    const second = await service.list(toListQuery({ page: 2, limit: 5, as_of: earlier.toISOString() }), NOW);
    expect(second).toMatchObject({ as_of: earlier.toISOString(), items: [{ duration_ms: 6 * MINUTE }] });
    expect(filters[1].asOf).toEqual(earlier);
    // a time still to come is now
    const future = await service.list(toListQuery({ page: 2, limit: 5, as_of: later.toISOString() }), NOW);
    expect(future.as_of).toBe(NOW.toISOString());
    expect(filters[2].asOf).toEqual(NOW);
  });

  it('should refuse a page deeper than the rows it may hold when both sources are large', async () => {
    const huge = MAX_DURATION_ROWS_HELD + 1;
    const repository = fakeRepository([], { stored: huge, live: huge });
    const deep = toListQuery({ sort: 'duration', page: MAX_DURATION_ROWS_HELD / 100 + 1, limit: 100 });
    await expect(serviceOver(repository).list(deep, NOW)).rejects.toBeInstanceOf(DomainException);
    expect(repository.reads).toEqual([]);
    const deepest = toListQuery({ sort: 'duration', page: MAX_DURATION_ROWS_HELD / 100, limit: 100 });
    await expect(serviceOver(repository).list(deepest, NOW)).resolves.toMatchObject({ total: 2 * huge });
  });
});

// docs/protocol.md, "Resumed sessions" (metrics audit of session 42)
describe('AdminService.metrics of a resumed session', () => {
  const at = (minutes: number) => new Date(NOW.getTime() + minutes * MINUTE);

  it('should count a resumed session closed over its gaps, and an old document as one period', async () => {
    // s1 open 0–10, closed 10–20 (s2 open then), open again 20–30 and from 40 on
    const s1 = toPeriodRow({
      start_time: at(0),
      is_active: true,
      end_time: null,
      resumed_at: at(40),
      open_periods: [
        { start: at(0), end: at(10) },
        { start: at(20), end: at(30) },
      ],
    });
    const s2 = toPeriodRow({ start_time: at(10), is_active: false, end_time: at(20) });
    // written before the resume fields: open from its start to its end
    const old = toPeriodRow({ start_time: at(-5), is_active: false, end_time: at(45) });
    const repository = {
      period: () => Promise.resolve({ started: [s1, s2], before: [old] }),
      activeCount: () => Promise.resolve(1),
    } as unknown as AdminRepository;
    const service = new AdminService(repository);
    const gap = await service.metrics(at(11), at(19), at(50));
    expect({ max: gap.max_concurrent, avg: gap.avg_concurrent }).toEqual({ max: 2, avg: 2 });
    const closed = await service.metrics(at(31), at(39), at(50));
    expect({ max: closed.max_concurrent, avg: closed.avg_concurrent }).toEqual({ max: 1, avg: 1 });
    const open = await service.metrics(at(41), at(44), at(50));
    expect({ max: open.max_concurrent, avg: open.avg_concurrent }).toEqual({ max: 2, avg: 2 });
    // buckets read the same periods
    const sliced = await service.metrics(at(0), at(40), at(50), { buckets: 4 });
    expect(sliced.buckets!.map((bucket) => bucket.avg_concurrent)).toEqual([2, 2, 2, 1]);
  });
});

describe('percentile', () => {
  it('should pick the nearest-rank observed value, and 0 when there is none', () => {
    expect(percentile([], 50)).toBe(0);
    expect(percentile([7], 90)).toBe(7);
    expect(percentile([40, 10, 30, 20], 50)).toBe(20);
    expect(percentile([40, 10, 30, 20], 90)).toBe(40);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90)).toBe(9);
  });
});
