// `npm run bench`: chatbox and a bare `ws` relay, one after the other, against the same fake LLM,
// measured the same way. Prints the table; writes it to .data/bench/last-run.md as well.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { TEST_JWT_SECRET } from '../test/helpers/env';
import { startBenchFake, type BenchFake } from './fake-llm';
import { measure, measureRelay, type BenchConfig, type RelayResults, type ServerResults } from './phases';
import { benchPhases, measureRealistic, type RealisticConfig, type RealisticResults } from './realistic';
import { render, renderPersistence } from './report';
import { imageEnv } from './pod-memory';
import { renderRealistic } from './report-realistic';
import { freePort, ServerProcess, type ServerSpec } from './server-process';

// this file runs compiled from .data/bench/build/bench/
const ROOT = resolve(__dirname, '..', '..', '..', '..');
const DATA = join(ROOT, '.data', 'bench');
const HOST = '127.0.0.1';

function whole(name: string, fallback: number): number {
  const raw = process.env[name];
  return raw && /^\d+$/.test(raw) ? Number(raw) : fallback;
}

const config: BenchConfig = {
  idleConnections: whole('BENCH_IDLE_CONNECTIONS', 5000),
  // FerretDB/SQLite answers chatbox's per-connect lookup by user with a scan of every session
  // document, so 5000 distinct users would make this phase quadratic in the DB: few users, many devices
  idleUsers: whole('BENCH_IDLE_USERS', 20),
  connectConcurrency: 200,
  // long replies and few sessions: the relay, not chatbox's per-turn database work, sets the pace
  saturationClients: 16,
  saturationChunks: 1000,
  saturationWarmupMs: 2000,
  saturationWindowMs: whole('BENCH_WINDOW_SECONDS', 8) * 1000,
  // people reading replies: ~6 turns/s in all, within what FerretDB/SQLite stores without queueing
  pacedClients: 24,
  pacedChunks: 40,
  pacedDelayMs: 20,
  pacedThinkMs: 3000,
  pacedDurationMs: whole('BENCH_LATENCY_SECONDS', 20) * 1000,
  profileDir: process.env.BENCH_PROFILE === '1' ? DATA : undefined,
};

function list(name: string, fallback: number[]): number[] {
  const raw = process.env[name];
  return raw && /^\d+(,\d+)*$/.test(raw) ? raw.split(',').map(Number) : fallback;
}

// `BENCH_WORKLOAD=devices` runs the earlier profile (few users, many devices each) instead.
const WORKLOAD = process.env.BENCH_WORKLOAD === 'devices' ? 'devices' : 'realistic';

const realistic: RealisticConfig = {
  idleConnections: whole('BENCH_IDLE_CONNECTIONS', 3000),
  idleQuietSeconds: whole('BENCH_IDLE_QUIET_SECONDS', 20),
  connectConcurrency: 200,
  burstUsers: list('BENCH_BURST_USERS', [50, 200]),
  burstRounds: whole('BENCH_BURST_ROUNDS', 3),
  burstChunks: 40,
  burstDelayMs: 20,
  historyTurns: whole('BENCH_HISTORY_TURNS', 20),
  historyUsers: 50,
  saturationStreams: 50,
  saturationChunks: 1000,
  saturationWindowMs: whole('BENCH_WINDOW_SECONDS', 8) * 1000,
  longTurns: list('BENCH_LONG_TURNS', [10, 100, 250, 500]),
  profileDir: process.env.BENCH_PROFILE === '1' ? DATA : undefined,
};

const PERSISTENCE_OFF_PHASES = new Set(['idle', 'bursts', 'history']);

// persistence off: the same app with sessions kept in memory (bench/chatbox-memory.ts)
async function chatboxSpec(llm: BenchFake, mongoUrl: string, persistence = true): Promise<ServerSpec> {
  const port = await freePort();
  return {
    name: persistence ? 'chatbox' : 'chatbox, persistence off',
    script: persistence ? join(ROOT, 'dist', 'main.js') : join(__dirname, 'chatbox-memory.js'),
    host: HOST,
    port,
    logFile: join(DATA, persistence ? 'chatbox.log' : 'chatbox-memory.log'),
    databasePid: whole('BENCH_DATABASE_PID', 0) || undefined,
    env: {
      // every server runs with the Docker image's environment (allocator and Node settings)
      ...imageEnv(),
      // BENCH_STORE_POOL: the driver's connections to the store (its default, 100, when unset)
      MONGODB_URI:
        `${mongoUrl.replace(/\/+$/, '')}/bench_${randomBytes(4).toString('hex')}` +
        (process.env.BENCH_STORE_POOL ? `?maxPoolSize=${process.env.BENCH_STORE_POOL}` : ''),
      JWT_SECRET: TEST_JWT_SECRET,
      ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      PORT: String(port),
      HOST,
      LOG_LEVEL: 'warn',
      ALLOWED_ORIGINS: '',
      LLM_PROVIDERS: JSON.stringify([
        {
          id: 'fake',
          name: 'Fake',
          type: 'openai',
          model: 'bench-model',
          endpoint: llm.fake.url,
          api_key: 'k',
          // BENCH_TITLES=0: no title request after a new session's first exchange (to weigh its cost)
          titles: process.env.BENCH_TITLES !== '0',
        },
      ]),
      RATE_LIMIT_MESSAGES_PER_SECOND: '100000',
      HEARTBEAT_INTERVAL: '60s',
      // the earlier profile opens 250 sockets per user; the bench measures sockets, not their bounds
      MAX_SOCKETS_PER_USER: '100000',
      MAX_SOCKETS: '1000000',
      CONNECT_RATE_PER_USER: '1000000',
      SHUTDOWN_GRACE: '1s',
    },
  };
}

async function bareSpec(llm: BenchFake): Promise<ServerSpec> {
  const port = await freePort();
  return {
    name: 'bare ws',
    script: join(__dirname, 'baseline-server.js'),
    host: HOST,
    port,
    logFile: join(DATA, 'bare.log'),
    env: {
      ...imageEnv(),
      PORT: String(port),
      HOST,
      JWT_SECRET: TEST_JWT_SECRET,
      LLM_ENDPOINT: llm.fake.url,
      LLM_MODEL: 'bench-model',
      HEARTBEAT_MS: '60000',
    },
  };
}

async function bench<T>(
  spec: ServerSpec,
  llm: BenchFake,
  running: Set<ServerProcess>,
  how: (server: ServerProcess, url: string, llm: BenchFake, config: BenchConfig) => Promise<T>,
): Promise<T> {
  console.log(`[bench] starting ${spec.name} on ${spec.host}:${spec.port}`);
  const server = await ServerProcess.start(spec);
  running.add(server);
  try {
    return await how(server, `ws://${spec.host}:${spec.port}/chat/ws`, llm, config);
  } finally {
    await server.stop();
    running.delete(server);
  }
}

async function main(): Promise<void> {
  const mongoUrl = process.env.BENCH_MONGODB_URL;
  if (!mongoUrl)
    throw new Error('BENCH_MONGODB_URL is required (scripts/bench.sh starts FerretDB and sets it)');
  mkdirSync(DATA, { recursive: true });
  const started = Date.now();
  const llm = await startBenchFake();
  const running = new Set<ServerProcess>();
  const stopAll = (): Promise<unknown> => Promise.all([...running].map((server) => server.stop(2000)));
  const interrupted = (): void => {
    void stopAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    if (WORKLOAD === 'realistic') {
      const how = (server: ServerProcess, url: string, fake: BenchFake): Promise<RealisticResults> =>
        measureRealistic(server, url, fake, realistic);
      const bare = await bench(await bareSpec(llm), llm, running, how);
      const chatbox = await bench(await chatboxSpec(llm, mongoUrl), llm, running, how);
      // the same chatbox with its sessions kept in memory, on the phases whose end-to-end ratios the
      // store can bound (connects, bursts): what is chatbox's own and what is the store's
      // (BENCH_PERSISTENCE_OFF=0 skips it)
      const offPhases = new Set([...benchPhases()].filter((phase) => PERSISTENCE_OFF_PHASES.has(phase)));
      const off =
        process.env.BENCH_PERSISTENCE_OFF === '0' || offPhases.size === 0
          ? undefined
          : await bench(await chatboxSpec(llm, mongoUrl, false), llm, running, (server, url, fake) =>
              measureRealistic(server, url, fake, realistic, offPhases),
            );
      const output = renderRealistic(chatbox, bare, realistic, off);
      console.log(`\n${output}\n\n[bench] done in ${Math.round((Date.now() - started) / 1000)} s`);
      writeFileSync(join(DATA, 'last-run.md'), `${output}\n`);
      writeFileSync(join(DATA, 'last-run.json'), JSON.stringify({ realistic, chatbox, bare, off }, null, 2));
      return;
    }
    const bare: ServerResults = await bench(await bareSpec(llm), llm, running, measure);
    const chatbox: ServerResults = await bench(await chatboxSpec(llm, mongoUrl), llm, running, measure);
    const memory: RelayResults = await bench(
      await chatboxSpec(llm, mongoUrl, false),
      llm,
      running,
      measureRelay,
    );
    const output = `${render(chatbox, bare, config)}\n\n${renderPersistence(chatbox, memory, bare)}`;
    console.log(`\n${output}\n\n[bench] done in ${Math.round((Date.now() - started) / 1000)} s`);
    writeFileSync(join(DATA, 'last-run.md'), `${output}\n`);
    writeFileSync(join(DATA, 'last-run.json'), JSON.stringify({ config, chatbox, bare, memory }, null, 2));
  } finally {
    await stopAll();
    await llm.fake.close();
  }
}

main().catch((error: unknown) => {
  console.error('[bench] failed:', error);
  process.exitCode = 1;
});
