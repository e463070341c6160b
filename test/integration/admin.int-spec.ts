import { randomUUID } from 'node:crypto';
import { Test, type TestingModule } from '@nestjs/testing';
import { getModelToken } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { AdminModule } from '../../src/modules/admin/admin.module';
import { AdminService } from '../../src/modules/admin/admin.service';
import { concurrency } from '../../src/modules/admin/concurrency';
import { toListQuery, type AdminSessionsQueryDto } from '../../src/modules/admin/dto/admin-query.dto';
import { Session } from '../../src/modules/sessions/schemas/session.schema';
import { databaseModules } from '../helpers/nest';
import { testSettings } from '../helpers/env';

const T0 = Date.parse('2024-03-01T00:00:00.000Z');
const MINUTE = 60_000;

interface Seed {
  user: string;
  startMin: number;
  endMin?: number;
  tokens?: number;
  responses?: [count: number, totalMs: number, maxMs: number];
  assisted?: boolean;
  help?: [count: number, totalMs: number, maxMs: number];
}

// A small, fully known set of sessions: every filter, sort, page and metric is checked against it.
const SEEDS: Seed[] = [
  { user: 'alice', startMin: 0, endMin: 30, tokens: 100, responses: [2, 3000, 2000] },
  {
    user: 'alice',
    startMin: 10,
    endMin: 20,
    tokens: 50,
    responses: [1, 500, 500],
    assisted: true,
    help: [1, 40_000, 40_000],
  },
  { user: 'bob', startMin: 15, endMin: 45, tokens: 10, help: [0, 0, 0] },
  { user: 'carol', startMin: 40, endMin: 41, tokens: 0, responses: [1, 9000, 9000] },
  { user: 'bob', startMin: 50, tokens: 5, assisted: true, help: [1, 20_000, 20_000] },
  { user: 'dave', startMin: 2000, endMin: 2010, tokens: 999 },
  // started before the metrics period, still open at its start: concurrency only
  { user: 'erin', startMin: -30, endMin: 5, tokens: 7 },
];

describe('admin queries against FerretDB', () => {
  let module: TestingModule;
  let service: AdminService;
  let model: Model<Session>;
  const ids: string[] = [];
  const now = new Date(T0 + 60 * MINUTE);

  beforeAll(async () => {
    const settings = testSettings();
    module = await Test.createTestingModule({
      imports: [...databaseModules(settings), AdminModule],
    }).compile();
    await module.init();
    service = module.get(AdminService);
    model = module.get(getModelToken(Session.name));
    await model.createIndexes();
    await model.insertMany(
      SEEDS.map((seed) => {
        const id = randomUUID();
        ids.push(id);
        const start = new Date(T0 + seed.startMin * MINUTE);
        const end = seed.endMin === undefined ? null : new Date(T0 + seed.endMin * MINUTE);
        const [responses, responseMs, maxMs] = seed.responses ?? [0, 0, 0];
        const [helpCount, helpMs, helpMax] = seed.help ?? [0, 0, 0];
        return {
          _id: id,
          user_id: seed.user,
          name: `${seed.user} chat`,
          model_id: 'demo',
          is_active: end === null,
          start_time: start,
          end_time: end,
          duration_ms: end ? end.getTime() - start.getTime() : null,
          last_activity: end ?? now,
          total_tokens: seed.tokens ?? 0,
          response_count: responses,
          response_ms_total: responseMs,
          max_response_ms: maxMs,
          admin_assisted: seed.assisted === true,
          assisting_admin_name: seed.assisted ? 'Ada' : null,
          help_requested: seed.help !== undefined,
          help_response_count: helpCount,
          help_response_ms_total: helpMs,
          help_response_ms_max: helpMax,
        };
      }),
    );
    // admin dashboards' own sessions (issue 15): in no list, total or figure below, whatever matches
    await model.insertMany(
      [true, false].map((active, index) => ({
        _id: `console-${index}`,
        user_id: 'bob',
        name: 'dashboard',
        model_id: 'demo',
        console: true,
        is_active: active,
        start_time: new Date(T0 + 12 * MINUTE),
        end_time: active ? null : new Date(T0 + 13 * MINUTE),
        duration_ms: active ? null : MINUTE,
        last_activity: new Date(T0 + 13 * MINUTE),
        admin_assisted: true,
        help_requested: true,
      })),
    );
  });
  afterAll(() => module.close());

  const list = (query: AdminSessionsQueryDto) => service.list(toListQuery(query), now);
  const users = async (query: AdminSessionsQueryDto) => (await list(query)).items.map((item) => item.user_id);

  it('should have an index for every filter and sort', async () => {
    const keys = (await model.listIndexes()).map((index) => JSON.stringify(index.key));
    expect(keys).toEqual(
      expect.arrayContaining([
        '{"user_id":1,"start_time":-1}',
        '{"start_time":-1}',
        '{"last_activity":-1}',
        '{"duration_ms":-1}',
        '{"is_active":1,"start_time":-1}',
        '{"admin_assisted":1,"start_time":-1}',
        '{"help_requested":1,"start_time":-1}',
      ]),
    );
  });

  it('should list newest first by default with the admin fields', async () => {
    const page = await list({});
    expect(page).toMatchObject({ total: 7, page: 1, limit: 20 });
    expect(page.items.map((item) => item.user_id)).toEqual([
      'dave',
      'bob',
      'carol',
      'bob',
      'alice',
      'alice',
      'erin',
    ]);
    const first = page.items.find((item) => item.id === ids[0]);
    expect(first).toMatchObject({
      user_id: 'alice',
      start_time: new Date(T0).toISOString(),
      end_time: new Date(T0 + 30 * MINUTE).toISOString(),
      duration_ms: 30 * MINUTE,
      total_tokens: 100,
      avg_response_ms: 1500,
      max_response_ms: 2000,
      is_active: false,
    });
    // an active session's duration so far
    expect(page.items.find((item) => item.id === ids[4])?.duration_ms).toBe(10 * MINUTE);
  });

  it('should filter by user, status, admin_assisted, help_requested and start time', async () => {
    expect(await users({ user_id: 'alice' })).toEqual(['alice', 'alice']);
    expect(await users({ status: 'active' })).toEqual(['bob']);
    expect((await list({ status: 'ended' })).total).toBe(6);
    expect(await users({ admin_assisted: 'true' })).toEqual(['bob', 'alice']);
    expect((await list({ admin_assisted: 'false' })).total).toBe(5);
    expect(await users({ help_requested: 'true' })).toEqual(['bob', 'bob', 'alice']);
    const from = new Date(T0 + 10 * MINUTE).toISOString();
    const to = new Date(T0 + 40 * MINUTE).toISOString();
    expect(await users({ from, to })).toEqual(['carol', 'bob', 'alice']);
    expect(await users({ user_id: 'bob', status: 'ended', from })).toEqual(['bob']);
  });

  it('should sort by each field in both orders', async () => {
    expect(await users({ sort: 'user_id', order: 'asc' })).toEqual([
      'alice',
      'alice',
      'bob',
      'bob',
      'carol',
      'dave',
      'erin',
    ]);
    const byDuration = (await list({ sort: 'duration', order: 'desc' })).items.map((item) => item.id);
    expect(byDuration[0]).toBe(ids[6]);
    expect(byDuration.slice(1, 3).sort()).toEqual([ids[0], ids[2]].sort());
    expect(byDuration.indexOf(ids[3])).toBeGreaterThan(byDuration.indexOf(ids[5]));
    expect(await users({ sort: 'start_time', order: 'asc' })).toEqual([
      'erin',
      'alice',
      'alice',
      'bob',
      'carol',
      'bob',
      'dave',
    ]);
    expect((await list({ sort: 'last_activity', order: 'desc' })).items[0].user_id).toBe('dave');
  });

  it('should page without overlap or gaps', async () => {
    const seen: string[] = [];
    for (let page = 1; page <= 4; page++) {
      const result = await list({ sort: 'user_id', order: 'asc', page, limit: 2 });
      expect(result).toMatchObject({ total: 7, page, limit: 2 });
      expect(result.items).toHaveLength(page < 4 ? 2 : 1);
      seen.push(...result.items.map((item) => item.id));
    }
    expect(new Set(seen).size).toBe(7);
    expect((await list({ page: 5, limit: 2 })).items).toEqual([]);
  });

  it('should compute the metrics of a period exactly', async () => {
    const from = new Date(T0);
    const to = new Date(T0 + 60 * MINUTE);
    const metrics = await service.metrics(from, to, now);
    const expected = concurrency(
      [
        [-30, 5],
        [0, 30],
        [10, 20],
        [15, 45],
        [40, 41],
        [50, 60],
      ].map(([start, end]) => ({ start: T0 + start * MINUTE, end: T0 + end * MINUTE })),
      from.getTime(),
      to.getTime(),
    );
    expect(metrics).toMatchObject({
      total_sessions: 5,
      active_sessions: 1,
      max_concurrent: 3,
      total_tokens: 165,
      avg_response_ms: Math.round(12_500 / 4),
      max_response_ms: 9000,
      admin_assisted_count: 2,
      help_requests: 3,
      help_answered: 2,
      avg_help_response_ms: 30_000,
      max_help_response_ms: 40_000,
    });
    // 5 (the session from before) + 30 + 10 + 30 + 1 + 10 session-minutes over 60 minutes
    expect(metrics.avg_concurrent).toBeCloseTo(86 / 60, 3);
    expect(metrics.avg_concurrent).toBeCloseTo(expected.avg, 3);
  });

  // The dashboard's charts: the figures per slice of the period from one read (it made one call per
  // slice, thirteen reads of every session of the period per refresh). Each slice says what a call
  // for that slice alone says.
  it('should give per-slice metrics equal to a call for each slice', async () => {
    const from = new Date(T0 - 20 * MINUTE);
    const to = new Date(T0 + 70 * MINUTE);
    const sliced = await service.metrics(from, to, now, { buckets: 6 });
    expect(sliced.total_sessions).toBe((await service.metrics(from, to, now)).total_sessions);
    expect(sliced.buckets).toHaveLength(6);
    for (const [index, bucket] of (sliced.buckets ?? []).entries()) {
      const sliceFrom = new Date(from.getTime() + (index * (to.getTime() - from.getTime())) / 6);
      const sliceTo = new Date(from.getTime() + ((index + 1) * (to.getTime() - from.getTime())) / 6);
      expect(bucket).toEqual(await service.metrics(sliceFrom, sliceTo, now));
    }
    expect((sliced.buckets ?? []).reduce((sum, bucket) => sum + bucket.total_sessions, 0)).toBeGreaterThan(0);
  });
});
