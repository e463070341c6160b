import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { Test, type TestingModule } from '@nestjs/testing';
import { getModelToken } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { AdminModule } from '../../src/modules/admin/admin.module';
import { AdminService } from '../../src/modules/admin/admin.service';
import { toListQuery, type AdminSessionsQueryDto } from '../../src/modules/admin/dto/admin-query.dto';
import { Session } from '../../src/modules/sessions/schemas/session.schema';
import { databaseModules } from '../helpers/nest';
import { testSettings } from '../helpers/env';

const T0 = Date.parse('2024-03-01T00:00:00.000Z');
const MINUTE = 60_000;

// sort=duration orders by the duration_ms the list returns: the stored one of ended sessions and the
// live one (now − start_time) of active sessions, interleaved, in both orders and across pages.
describe('admin sort by duration against FerretDB', () => {
  let module: TestingModule;
  let service: AdminService;
  let model: Model<Session>;
  const now = new Date(T0 + 1000 * MINUTE);

  beforeAll(async () => {
    module = await Test.createTestingModule({
      imports: [...databaseModules(testSettings()), AdminModule],
    }).compile();
    await module.init();
    service = module.get(AdminService);
    model = module.get(getModelToken(Session.name));
    await model.createIndexes();
  });
  afterAll(() => module.close());

  interface DurationSeed {
    // minutes before `now` the session started
    ageMin: number;
    // minutes it lasted when it ended; undefined while it is active; -1: ended without a stored duration
    lastedMin?: number;
    help: boolean;
  }

  async function seed(seeds: DurationSeed[]): Promise<void> {
    await model.deleteMany({});
    await model.insertMany(
      seeds.map((entry, index) => {
        const start = new Date(now.getTime() - entry.ageMin * MINUTE);
        const ended = entry.lastedMin !== undefined;
        const lasted = entry.lastedMin as number;
        const duration = ended && lasted >= 0 ? lasted * MINUTE : null;
        return {
          _id: `s${String(index).padStart(3, '0')}-${randomUUID()}`,
          user_id: `user-${index % 3}`,
          name: 'chat',
          model_id: 'demo',
          is_active: !ended,
          start_time: start,
          end_time: ended ? new Date(start.getTime() + (duration ?? 0)) : null,
          duration_ms: duration,
          last_activity: ended ? new Date(start.getTime() + (duration ?? 0)) : now,
          help_requested: entry.help,
        };
      }),
    );
  }

  // Every page of the query, in order; each page's total, page and limit checked on the way.
  async function allPages(query: AdminSessionsQueryDto, limit: number) {
    const items: Array<{ id: string; duration_ms: number | null }> = [];
    let total = -1;
    for (let page = 1; ; page++) {
      const result = await service.list(toListQuery({ ...query, page, limit }), now);
      if (total === -1) total = result.total;
      expect(result).toMatchObject({ total, page, limit });
      items.push(...result.items);
      if (result.items.length < limit) break;
    }
    return { items, total };
  }

  function expectOrdered(
    items: Array<{ id: string; duration_ms: number | null }>,
    order: 'asc' | 'desc',
    expectedIds: string[],
  ) {
    const durations = items.map((item) => item.duration_ms ?? -Infinity);
    const sorted = [...durations].sort((a, b) => (order === 'asc' ? a - b : b - a));
    expect(durations).toEqual(sorted);
    expect(items.map((item) => item.id).sort()).toEqual([...expectedIds].sort());
  }

  it('should interleave active sessions by their live duration (the audit case)', async () => {
    // ended: 1, 20, 40 and 400 minutes; active: started 10, 30, 300 and 500 minutes ago
    await seed([
      { ageMin: 900, lastedMin: 1, help: false },
      { ageMin: 10, help: false },
      { ageMin: 800, lastedMin: 20, help: true },
      { ageMin: 30, help: true },
      { ageMin: 700, lastedMin: 40, help: false },
      { ageMin: 300, help: false },
      { ageMin: 600, lastedMin: 400, help: true },
      { ageMin: 500, help: false },
    ]);
    const minutes = async (order: 'asc' | 'desc', page: number) =>
      (await service.list(toListQuery({ sort: 'duration', order, page, limit: 3 }), now)).items.map(
        (item) => (item.duration_ms as number) / MINUTE,
      );
    expect([
      ...(await minutes('desc', 1)),
      ...(await minutes('desc', 2)),
      ...(await minutes('desc', 3)),
    ]).toEqual([500, 400, 300, 40, 30, 20, 10, 1]);
    expect([
      ...(await minutes('asc', 1)),
      ...(await minutes('asc', 2)),
      ...(await minutes('asc', 3)),
    ]).toEqual([1, 10, 20, 30, 40, 300, 400, 500]);
    const helped = await service.list(
      toListQuery({ sort: 'duration', order: 'desc', help_requested: 'true', page: 2, limit: 2 }),
      now,
    );
    expect(helped).toMatchObject({ total: 3, page: 2, limit: 2 });
    expect(helped.items.map((item) => (item.duration_ms as number) / MINUTE)).toEqual([20]);
    expect(
      (
        await service.list(toListQuery({ sort: 'duration', status: 'active', page: 2, limit: 3 }), now)
      ).items.map((item) => (item.duration_ms as number) / MINUTE),
    ).toEqual([10]);
  });

  it('should order every page by the returned duration_ms for random sessions, filters and page sizes', async () => {
    const session = fc.record({
      ageMin: fc.integer({ min: 0, max: 600 }),
      lastedMin: fc.option(
        fc.oneof(
          { arbitrary: fc.constant(-1), weight: 1 },
          { arbitrary: fc.integer({ min: 0, max: 600 }), weight: 6 },
        ),
        { nil: undefined },
      ),
      help: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(session, { minLength: 0, maxLength: 16, size: 'medium' }),
        fc.integer({ min: 1, max: 5 }),
        fc.constantFrom<'asc' | 'desc'>('asc', 'desc'),
        fc.constantFrom<AdminSessionsQueryDto>({}, { help_requested: 'true' }, { status: 'ended' }),
        async (seeds, limit, order, filter) => {
          await seed(seeds);
          const expected = (await model.find(toMongoFilterForTest(filter), { _id: 1 }).lean()).map((row) =>
            String(row._id),
          );
          const { items, total } = await allPages({ ...filter, sort: 'duration', order }, limit);
          expect(total).toBe(expected.length);
          expectOrdered(items, order, expected);
        },
      ),
      { numRuns: 20 },
    );
  });
});

function toMongoFilterForTest(query: AdminSessionsQueryDto): Record<string, unknown> {
  if (query.help_requested) return { help_requested: query.help_requested === 'true' };
  if (query.status) return { is_active: query.status === 'active' };
  return {};
}
