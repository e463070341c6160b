// `npm run bench:lock`: what the session lock costs per write. The same appends through
// SessionsService on FerretDB with each lock: in-process (one instance), Redis (several), and the
// store's own lock (several, while Redis is away). Sequential writes to one session (the lock's
// latency) and 20 sessions written at once (throughput). Needs TEST_MONGODB_URL and TEST_REDIS_URL
// (scripts/bench-lock.sh starts both).
import 'reflect-metadata';
import { Test } from '@nestjs/testing';
import { createConnection } from 'mongoose';
import { InProcessLock } from '../src/infra/lock/in-process.lock';
import { WriteLock } from '../src/infra/lock/write.lock';
import { SESSION_LOCK, type KeyLock } from '../src/infra/lock/lock';
import { RedisLock } from '../src/infra/lock/redis.lock';
import { StoreLock } from '../src/infra/lock/store.lock';
import { SessionsModule } from '../src/modules/sessions/sessions.module';
import { SessionsService } from '../src/modules/sessions/sessions.service';
import { databaseModules } from '../test/helpers/nest';
import { testSettings } from '../test/helpers/env';

const SEQUENTIAL = Number(process.env.BENCH_LOCK_WRITES ?? 300);
const SESSIONS = 20;
const PER_SESSION = Number(process.env.BENCH_LOCK_PER_SESSION ?? 15);

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function measure(name: string, makeLock: () => KeyLock): Promise<void> {
  const settings = testSettings();
  // the lock as LockModule provides it in the app
  const lock = new WriteLock(makeLock(), () => Promise.resolve());
  const module = await Test.createTestingModule({
    imports: [
      ...databaseModules(settings),
      {
        module: class LockHolder {},
        global: true,
        providers: [{ provide: SESSION_LOCK, useValue: lock }],
        exports: [SESSION_LOCK],
      },
      SessionsModule,
    ],
  }).compile();
  await module.init();
  const sessions = module.get(SessionsService);
  const message = (index: number) => ({
    type: 'user_message' as const,
    sender: 'user' as const,
    client_id: `c${index}`,
    content: `message ${index} `.repeat(20),
    timestamp: new Date(),
  });
  // one session, one write after the other: the lock's own latency is on every write
  const { session } = await sessions.open(`bench-${name}-seq`, undefined, 'demo');
  const latencies: number[] = [];
  for (let index = 0; index < SEQUENTIAL; index++) {
    const started = performance.now();
    await sessions.append(session.id, message(index));
    latencies.push(performance.now() - started);
  }
  // 20 sessions at once, each written in order
  const opened = await Promise.all(
    Array.from({ length: SESSIONS }, (_, index) =>
      sessions.open(`bench-${name}-${index}`, undefined, 'demo'),
    ),
  );
  const started = performance.now();
  await Promise.all(
    opened.map(async ({ session: each }) => {
      for (let index = 0; index < PER_SESSION; index++) await sessions.append(each.id, message(index));
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `${name.padEnd(10)} sequential: p50 ${percentile(latencies, 50).toFixed(2)} ms, p99 ${percentile(latencies, 99).toFixed(2)} ms per write` +
      ` | ${SESSIONS} sessions at once: ${((SESSIONS * PER_SESSION) / seconds).toFixed(0)} writes/s`,
  );
  await module.close();
  await lock.close();
}

// the lock alone: take and give back, with nothing inside
async function bare(name: string, lock: KeyLock): Promise<void> {
  const latencies: number[] = [];
  for (let index = 0; index < 1000; index++) {
    const started = performance.now();
    await lock.run(`bare-${index % 10}`, () => Promise.resolve());
    latencies.push(performance.now() - started);
  }
  console.log(
    `${name.padEnd(10)} lock alone: p50 ${percentile(latencies, 50).toFixed(3)} ms, p99 ${percentile(latencies, 99).toFixed(3)} ms`,
  );
  await lock.close();
}

async function main(): Promise<void> {
  const redis = process.env.TEST_REDIS_URL;
  if (!redis || !process.env.TEST_MONGODB_URL)
    throw new Error('TEST_MONGODB_URL and TEST_REDIS_URL are needed');
  const connection = await createConnection(`${process.env.TEST_MONGODB_URL}/bench_locks`).asPromise();
  for (let run = 1; run <= 3; run++) {
    console.log(`run ${run}`);
    await bare('in-process', new InProcessLock());
    await bare('redis', new RedisLock(redis));
    await bare(
      'store',
      new RedisLock('redis://127.0.0.1:1', new StoreLock(connection), undefined, { lazyConnect: true }),
    );
    await measure('in-process', () => new InProcessLock());
    await measure('redis', () => new RedisLock(redis));
    await measure(
      'store',
      () => new RedisLock('redis://127.0.0.1:1', new StoreLock(connection), undefined, { lazyConnect: true }),
    );
  }
  await connection.close();
}

void main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
