// `npm run bench:admin`: the admin list and metrics over 100k seeded sessions, through AdminService
// (what the HTTP handlers call) and, beside it, the same queries sent raw with the MongoDB driver,
// so the database's own share is visible. Starts its own FerretDB unless BENCH_MONGODB_URL is set.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { MongooseModule } from '@nestjs/mongoose';
import { Test } from '@nestjs/testing';
import {
  MongoClient,
  type CreateIndexesOptions,
  type Db,
  type Document,
  type IndexSpecification,
} from 'mongodb';
import { SETTINGS } from '../src/config/settings';
import { AdminModule } from '../src/modules/admin/admin.module';
import { AdminService } from '../src/modules/admin/admin.service';
import { SessionSchema } from '../src/modules/sessions/schemas/session.schema';
import { concurrency } from '../src/modules/admin/concurrency';
import {
  toListQuery,
  toMetricsPeriod,
  type AdminSessionsQueryDto,
} from '../src/modules/admin/dto/admin-query.dto';
import { testSettings } from '../test/helpers/env';
import { seedSessions, userIdOf } from './admin-seed';

// compiled into .data/bench-admin/build/bench/
const ROOT = resolve(__dirname, '..', '..', '..', '..');
const DATA = join(ROOT, '.data', 'bench-admin');
const DAY = 86_400_000;
const TARGET_P95_MS = 50;

function whole(name: string, fallback: number): number {
  const raw = process.env[name];
  return raw && /^\d+$/.test(raw) ? Number(raw) : fallback;
}

const SESSIONS = whole('BENCH_ADMIN_SESSIONS', 100_000);
// messages per session (0: none, as before session 29; the metrics read each message's type)
const MESSAGES = whole('BENCH_ADMIN_MESSAGES', 0);
// FerretDB scans for every query but an _id lookup: at 100k sessions a run takes minutes, hence few runs
const RUNS = whole('BENCH_ADMIN_RUNS', 3);
const WARMUP = whole('BENCH_ADMIN_WARMUP', 0);
const log = (line: string) => console.log(line);

interface Case {
  name: string;
  service: () => Promise<unknown>;
  raw: () => Promise<unknown>;
  // a list's page: its plan is printed
  filter?: Document;
  sort?: Record<string, 1 | -1>;
}

async function time(run: () => Promise<unknown>): Promise<{ p50: number; p95: number; max: number }> {
  for (let warm = 0; warm < WARMUP; warm++) await run();
  const samples: number[] = [];
  for (let k = 0; k < RUNS; k++) {
    const started = performance.now();
    await run();
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  const at = (p: number) => samples[Math.min(samples.length - 1, Math.ceil((p / 100) * samples.length) - 1)];
  return { p50: at(50), p95: at(95), max: samples[samples.length - 1] };
}

// the period and each twelfth of it, as the dashboard asked for them before buckets=12
function twelfths(period: { from: Date; to: Date }): Array<{ from: Date; to: Date }> {
  const span = period.to.getTime() - period.from.getTime();
  const edge = (index: number) => new Date(period.from.getTime() + (span * index) / 12);
  return [period, ...Array.from({ length: 12 }, (_, index) => ({ from: edge(index), to: edge(index + 1) }))];
}

function freePort(): Promise<number> {
  return new Promise((resolvePort) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolvePort(port));
    });
  });
}

const NOT_CONSOLE = { console: { $ne: true } };
const NEWEST: Record<string, 1 | -1> = { start_time: -1, _id: -1 };

// The queries AdminRepository sends, written against the bare driver: a page, and the total as the
// `count` of every session matching less the dashboards' sessions matching.
function rawList(db: Db, filter: Document, sort = NEWEST, skip = 0) {
  const sessions = db.collection('sessions');
  const count = async (query: Document) =>
    ((await db.command({ count: 'sessions', query })) as { n: number }).n;
  return Promise.all([
    sessions
      .find({ ...filter, ...NOT_CONSOLE }, { projection: { messages: 0 } })
      .sort(sort)
      .skip(skip)
      .limit(20)
      .toArray(),
    Promise.all([count(filter), count({ ...filter, console: true })]).then(
      ([all, consoles]) => all - consoles,
    ),
  ]);
}

// How the store answers a list's page: MongoDB's winning plan (its index names), or the SQL plan of
// FerretDB's build (docs/protocol.md, "The store").
async function plan(db: Db, filter: Document, sort = NEWEST): Promise<string> {
  const explained = (await db.command({
    explain: { find: 'sessions', filter: { ...filter, ...NOT_CONSOLE }, sort, limit: 20 },
  })) as Document;
  const sql = explained.queryPlanner?.Plan as string[] | undefined;
  if (Array.isArray(sql))
    return sql.map((line) => line.replace(/^.*detail=/, '').replace(/sessions_[0-9a-f]+_?/g, '')).join('; ');
  const stages: string[] = [];
  const walk = (stage: Document | undefined) => {
    if (!stage) return;
    stages.push(stage.indexName ? `${stage.stage} ${stage.indexName}` : String(stage.stage));
    walk(stage.inputStage as Document | undefined);
  };
  walk(explained.queryPlanner?.winningPlan as Document | undefined);
  return stages.join(' ← ');
}

async function rawMetrics(db: Db, from: Date, to: Date, now: Date) {
  const sessions = db.collection('sessions');
  const [started, before] = await Promise.all([
    sessions
      .find(
        { start_time: { $gte: from, $lte: to }, ...NOT_CONSOLE },
        {
          projection: {
            _id: 0,
            start_time: 1,
            end_time: 1,
            is_active: 1,
            total_tokens: 1,
            response_count: 1,
          },
        },
      )
      .toArray(),
    sessions
      .find(
        {
          start_time: { $lt: from },
          $or: [{ end_time: { $gte: from } }, { is_active: true }],
          ...NOT_CONSOLE,
        },
        { projection: { _id: 0, start_time: 1, end_time: 1, is_active: 1 } },
      )
      .toArray(),
    db.command({ count: 'sessions', query: { is_active: true, ...NOT_CONSOLE } }),
  ]);
  const intervals = [...started, ...before].map((row) => ({
    start: (row.start_time as Date).getTime(),
    end: row.is_active ? now.getTime() : (row.end_time as Date).getTime(),
  }));
  return concurrency(intervals, from.getTime(), to.getTime());
}

async function main(): Promise<void> {
  let baseUrl = process.env.BENCH_MONGODB_URL;
  let stopFerret: (() => void) | undefined;
  if (!baseUrl) {
    const dir = join(DATA, 'ferretdb');
    if (process.env.BENCH_ADMIN_REUSE !== '1') rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const port = await freePort();
    execFileSync('bash', [join(ROOT, 'scripts', 'ferretdb.sh'), 'start', String(port), dir], {
      stdio: 'inherit',
    });
    stopFerret = () =>
      execFileSync('bash', [join(ROOT, 'scripts', 'ferretdb.sh'), 'stop', dir], { stdio: 'inherit' });
    baseUrl = `mongodb://127.0.0.1:${port}`;
  }
  const uri = `${baseUrl.replace(/\/+$/, '')}/bench_admin${MESSAGES > 0 ? `_m${MESSAGES}` : ''}`;
  const client = await MongoClient.connect(uri);
  const db = client.db();
  const now = Date.now();
  await seedSessions(db.collection<Document & { _id: string }>('sessions'), SESSIONS, now, log, MESSAGES);

  const settings = testSettings({ MONGODB_URI: uri });
  const module = await Test.createTestingModule({
    imports: [
      {
        module: class SettingsHolder {},
        global: true,
        providers: [{ provide: SETTINGS, useValue: settings }],
        exports: [SETTINGS],
      },
      MongooseModule.forRoot(uri),
      AdminModule,
    ],
  }).compile();
  await module.init();
  const admin = module.get(AdminService);
  const indexStarted = performance.now();
  // the sessions collection's own indexes, one at a time: FerretDB 1.24 panics on a createIndexes of
  // several indexes that all exist
  for (const [keys, options] of SessionSchema.indexes())
    await db.collection('sessions').createIndex(keys as IndexSpecification, options as CreateIndexesOptions);
  log(`[bench:admin] indexes ready in ${((performance.now() - indexStarted) / 1000).toFixed(1)} s`);

  const user = userIdOf(7);
  const day = { from: new Date(now - 3 * DAY), to: new Date(now - 2 * DAY) };
  const list = (query: AdminSessionsQueryDto) => () => admin.list(toListQuery(query));
  const month = toMetricsPeriod({
    from: new Date(now - 30 * DAY).toISOString(),
    to: new Date(now).toISOString(),
  });
  const cases: Case[] = [
    {
      name: 'reference: one session by _id',
      service: () => db.collection('sessions').findOne({ _id: 'bench-0000007' } as Document),
      raw: () => db.collection('sessions').findOne({ _id: 'bench-0000007' } as Document),
    },
    {
      name: 'list, default sort (newest first), page 1 of 20',
      service: list({}),
      raw: () => rawList(db, {}),
      filter: {},
    },
    {
      name: 'list, filter by user',
      service: list({ user_id: user }),
      raw: () => rawList(db, { user_id: user }),
      filter: { user_id: user },
    },
    {
      name: 'list, filter by date range (1 day)',
      service: list({ from: day.from.toISOString(), to: day.to.toISOString() }),
      raw: () => rawList(db, { start_time: { $gte: day.from, $lte: day.to } }),
      filter: { start_time: { $gte: day.from, $lte: day.to } },
    },
    {
      name: 'list, status=active',
      service: list({ status: 'active' }),
      raw: () => rawList(db, { is_active: true }),
      filter: { is_active: true },
    },
    {
      name: 'list, admin_assisted=true',
      service: list({ admin_assisted: 'true' }),
      raw: () => rawList(db, { admin_assisted: true }),
      filter: { admin_assisted: true },
    },
    {
      name: 'list, help_requested=true, oldest first',
      service: list({ help_requested: 'true', order: 'asc' }),
      raw: () => rawList(db, { help_requested: true }, { start_time: 1, _id: 1 }),
      filter: { help_requested: true },
      sort: { start_time: 1, _id: 1 },
    },
    {
      name: 'list, sort=last_activity, page 50',
      service: list({ sort: 'last_activity', page: 50 }),
      raw: () => rawList(db, {}, { last_activity: -1, _id: -1 }, 49 * 20),
      sort: { last_activity: -1, _id: -1 },
    },
    {
      name: 'list, sort=user_id',
      service: list({ sort: 'user_id', order: 'asc' }),
      raw: () => rawList(db, {}, { user_id: 1, _id: 1 }),
      sort: { user_id: 1, _id: 1 },
    },
    {
      name: 'list, sort=duration (ended by duration_ms, active by start_time)',
      service: list({ sort: 'duration' }),
      raw: () =>
        Promise.all([
          rawList(db, { duration_ms: { $ne: null } }, { duration_ms: -1, _id: -1 }),
          rawList(db, { duration_ms: null }, { is_active: -1, start_time: 1, _id: -1 }),
        ]),
      filter: { duration_ms: { $ne: null } },
      sort: { duration_ms: -1, _id: -1 },
    },
    {
      name: 'metrics, 30 days',
      service: () => admin.metrics(month.from, month.to),
      raw: () => rawMetrics(db, month.from, month.to, new Date()),
    },
    // the dashboard's metrics panel, one refresh: since session 29 one call with buckets=12; before,
    // thirteen calls at once (the period and each twelfth of it)
    {
      name: 'dashboard refresh, 30 days: one call, buckets=12',
      service: () => admin.metrics(month.from, month.to, new Date(), { buckets: 12 }),
      raw: () => rawMetrics(db, month.from, month.to, new Date()),
    },
    {
      name: 'dashboard refresh, 30 days: 13 calls at once (before session 29)',
      service: () => Promise.all(twelfths(month).map((slice) => admin.metrics(slice.from, slice.to))),
      raw: () =>
        Promise.all(twelfths(month).map((slice) => rawMetrics(db, slice.from, slice.to, new Date()))),
    },
  ];

  const rows: string[] = [
    `Admin API over ${SESSIONS.toLocaleString('en-US')} sessions of ${MESSAGES} messages (FerretDB 1.24, SQLite), ${RUNS} runs each, ms; RSS: this process's peak growth while the service ran`,
    '',
    '| query | p50 | p95 | max | RSS peak MB | raw DB p50 | raw DB p95 | p95 target | verdict |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---|',
  ];
  const plans: string[] = ['', 'Plans of the list pages:'];
  for (const item of cases) {
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 50);
    const service = await time(item.service);
    clearInterval(sampler);
    const raw = await time(item.raw);
    const verdict =
      service.p95 <= TARGET_P95_MS
        ? 'met'
        : raw.p95 > TARGET_P95_MS
          ? 'missed: the database alone is over'
          : 'missed';
    rows.push(
      `| ${item.name} | ${service.p50.toFixed(1)} | ${service.p95.toFixed(1)} | ${service.max.toFixed(1)} | ${((rssPeak - rssBefore) / 1048576).toFixed(0)} | ${raw.p50.toFixed(1)} | ${raw.p95.toFixed(1)} | ${TARGET_P95_MS} | ${verdict} |`,
    );
    log(rows[rows.length - 1]);
    if (item.filter !== undefined || item.sort !== undefined)
      plans.push(`- ${item.name}: ${await plan(db, item.filter ?? {}, item.sort)}`);
  }
  rows.push(...plans);
  const sample = await admin.metrics(month.from, month.to);
  rows.push('', `metrics sample: ${JSON.stringify(sample)}`);
  console.log(`\n${rows.join('\n')}`);
  mkdirSync(DATA, { recursive: true });
  writeFileSync(join(DATA, 'last-run.md'), `${rows.join('\n')}\n`);
  await module.close();
  await client.close();
  stopFerret?.();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
