// `npm run bench:admin`: the admin list and metrics over 100k seeded sessions, through AdminService
// (what the HTTP handlers call) and, beside it, the same queries sent raw with the MongoDB driver,
// so the database's own share is visible. Starts its own FerretDB unless BENCH_MONGODB_URL is set.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { MongooseModule } from '@nestjs/mongoose';
import { Test } from '@nestjs/testing';
import { MongoClient, type Db, type Document } from 'mongodb';
import { SETTINGS } from '../src/config/settings';
import { AdminModule } from '../src/modules/admin/admin.module';
import { AdminService } from '../src/modules/admin/admin.service';
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
// FerretDB scans for every query but an _id lookup: at 100k sessions a run takes minutes, hence few runs
const RUNS = whole('BENCH_ADMIN_RUNS', 3);
const WARMUP = whole('BENCH_ADMIN_WARMUP', 0);
const log = (line: string) => console.log(line);

interface Case {
  name: string;
  service: () => Promise<unknown>;
  raw: () => Promise<unknown>;
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

function freePort(): Promise<number> {
  return new Promise((resolvePort) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolvePort(port));
    });
  });
}

// The queries AdminRepository sends, written against the bare driver.
function rawList(db: Db, filter: Document) {
  const sessions = db.collection('sessions');
  return Promise.all([
    sessions
      .find(filter, { projection: { messages: 0 } })
      .sort({ start_time: -1, _id: -1 })
      .limit(20)
      .toArray(),
    sessions.countDocuments(filter),
  ]);
}

async function rawMetrics(db: Db, from: Date, to: Date, now: Date) {
  const sessions = db.collection('sessions');
  const [started, before] = await Promise.all([
    sessions
      .find(
        { start_time: { $gte: from, $lte: to } },
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
        { start_time: { $lt: from }, $or: [{ end_time: { $gte: from } }, { is_active: true }] },
        { projection: { _id: 0, start_time: 1, end_time: 1, is_active: 1 } },
      )
      .toArray(),
    sessions.countDocuments({ is_active: true }),
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
  const uri = `${baseUrl.replace(/\/+$/, '')}/bench_admin`;
  const client = await MongoClient.connect(uri);
  const db = client.db();
  const now = Date.now();
  await seedSessions(db.collection<Document & { _id: string }>('sessions'), SESSIONS, now, log);

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
  // one at a time: FerretDB 1.24 panics on a createIndexes of several indexes that all exist
  const keys: Array<Record<string, 1 | -1>> = [
    { user_id: 1, start_time: -1 },
    { start_time: -1 },
    { last_activity: -1 },
    { duration_ms: -1 },
    { is_active: 1, start_time: -1 },
    { admin_assisted: 1, start_time: -1 },
    { help_requested: 1, start_time: -1 },
    { end_time: 1 },
  ];
  for (const key of keys) await db.collection('sessions').createIndex(key);
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
    },
    {
      name: 'list, filter by user',
      service: list({ user_id: user }),
      raw: () => rawList(db, { user_id: user }),
    },
    {
      name: 'list, filter by date range (1 day)',
      service: list({ from: day.from.toISOString(), to: day.to.toISOString() }),
      raw: () => rawList(db, { start_time: { $gte: day.from, $lte: day.to } }),
    },
    {
      name: 'metrics, 30 days',
      service: () => admin.metrics(month.from, month.to),
      raw: () => rawMetrics(db, month.from, month.to, new Date()),
    },
  ];

  const rows: string[] = [
    `Admin API over ${SESSIONS.toLocaleString('en-US')} sessions (FerretDB 1.24, SQLite), ${RUNS} runs each, ms`,
    '',
    '| query | p50 | p95 | max | raw DB p50 | raw DB p95 | p95 target | verdict |',
    '|---|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const item of cases) {
    const service = await time(item.service);
    const raw = await time(item.raw);
    const verdict =
      service.p95 <= TARGET_P95_MS
        ? 'met'
        : raw.p95 > TARGET_P95_MS
          ? 'missed: the database alone is over'
          : 'missed';
    rows.push(
      `| ${item.name} | ${service.p50.toFixed(1)} | ${service.p95.toFixed(1)} | ${service.max.toFixed(1)} | ${raw.p50.toFixed(1)} | ${raw.p95.toFixed(1)} | ${TARGET_P95_MS} | ${verdict} |`,
    );
    log(rows[rows.length - 1]);
  }
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
