// Every measurement against one server, one phase after the other: warm-up, idle memory and connect
// rate, paced latency, saturation last (its long replies make chatbox's session documents large, and
// FerretDB/SQLite decodes every document for most queries, so anything after it would pay for that).
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { userToken } from '../test/helpers/tokens';
import { closeAll, openMany } from './clients';
import { summarizeProfile } from './cpu-profile';
import { pacedScript, saturationScript, type BenchFake } from './fake-llm';
import { coresDuring, type LoopDelay, type MemorySample, type ServerProcess } from './server-process';
import { summarize, type Summary } from './stats';
import { paced, replyOnce, saturate, type PacedResult, type SaturationResult } from './workloads';

export interface BenchConfig {
  idleConnections: number;
  idleUsers: number;
  connectConcurrency: number;
  saturationClients: number;
  saturationChunks: number;
  saturationWarmupMs: number;
  saturationWindowMs: number;
  pacedClients: number;
  pacedChunks: number;
  pacedDelayMs: number;
  pacedThinkMs: number;
  pacedDurationMs: number;
  // when set, the saturation phase runs under the V8 profiler (which slows it) and profiles go here
  profileDir?: string;
}

export interface ServerResults {
  // 1-minute load average when this server's run began: other work on the machine skews every number
  loadAtStart: number;
  connect: { opened: number; failures: number; firstError?: string; perSecond: number; latency: Summary };
  memory: { before: MemorySample; after: MemorySample; rssPerConnection: number; heapPerConnection: number };
  saturation: SaturationResult & { databaseCpu: number };
  latency: {
    chunk: Summary;
    firstChunk: Summary;
    sendToFirstDelta: Summary;
    chunksLost: number;
    errors: number;
    loopDelay: LoopDelay;
    // cores the database used over the phase
    databaseCpu: number;
  };
}

// `count` tokens for `users` distinct users, round robin, so each user's devices connect spread out.
function tokensFor(server: string, phase: string, count: number, users = count): string[] {
  const run = Date.now().toString(36);
  const tokens = Array.from({ length: users }, (_, index) =>
    userToken(`bench-${server}-${phase}-${run}-${index}`),
  );
  return Array.from({ length: count }, (_, index) => tokens[index % users]);
}

function log(server: ServerProcess, text: string): void {
  console.log(`[bench] ${server.spec.name}: ${text}`);
}

interface Phase {
  server: ServerProcess;
  url: string;
  llm: BenchFake;
  config: BenchConfig;
}

export type RelayResults = Omit<ServerResults, 'connect' | 'memory'>;

export async function measure(
  server: ServerProcess,
  url: string,
  llm: BenchFake,
  config: BenchConfig,
): Promise<ServerResults> {
  const loadAtStart = loadavg()[0];
  const { connect, memory } = await idle({ server, url, llm, config });
  return { ...(await measureRelay(server, url, llm, config)), loadAtStart, connect, memory };
}

// The latency and saturation phases alone (the persistence-off variant needs no idle phase).
export async function measureRelay(
  server: ServerProcess,
  url: string,
  llm: BenchFake,
  config: BenchConfig,
): Promise<RelayResults> {
  const phase: Phase = { server, url, llm, config };
  const loadAtStart = loadavg()[0];
  const latency = await latencyPhase(phase);
  const saturation = await saturationPhase(phase);
  return { loadAtStart, latency, saturation };
}

async function idle({ server, url, llm, config }: Phase): Promise<Pick<ServerResults, 'connect' | 'memory'>> {
  // Warm-up on the idle users themselves: each gets its session and one short reply, then a burst
  // of connects and disconnects runs the connect path hot.
  log(server, 'warming up');
  const tokens = tokensFor(server.spec.name, 'idle', config.idleConnections, config.idleUsers);
  llm.fake.script = saturationScript(20);
  const first = await openMany(url, tokens.slice(0, config.idleUsers), 32);
  await replyOnce(first.sockets);
  await closeAll(first.sockets);
  const burst = await openMany(url, tokens.slice(0, 500), config.connectConcurrency);
  await closeAll(burst.sockets);
  llm.fake.reset();
  await server.settle();
  const before = await server.memoryAfterGc();

  log(server, `opening ${config.idleConnections} idle connections of ${config.idleUsers} users`);
  const opened = await openMany(url, tokens, config.connectConcurrency);
  await server.settle();
  const after = await server.memoryAfterGc();
  const live = Math.max(1, opened.sockets.length);
  log(server, 'closing idle connections');
  await closeAll(opened.sockets);
  await server.settle();
  return {
    connect: {
      opened: opened.sockets.length,
      failures: opened.failures,
      firstError: opened.firstError,
      perSecond: opened.sockets.length / (opened.elapsedMs / 1000),
      latency: summarize(opened.latencies),
    },
    memory: {
      before,
      after,
      rssPerConnection: (after.rssBytes - before.rssBytes) / live,
      heapPerConnection:
        (after.heapUsedBytes + after.externalBytes - before.heapUsedBytes - before.externalBytes) / live,
    },
  };
}

async function latencyPhase({ server, url, llm, config }: Phase): Promise<ServerResults['latency']> {
  log(
    server,
    `latency: ${config.pacedClients} clients, ${config.pacedChunks} chunks every ${config.pacedDelayMs} ms, ` +
      `${config.pacedThinkMs} ms between turns`,
  );
  llm.fake.script = pacedScript(config.pacedChunks, config.pacedDelayMs);
  const clients = await openMany(url, tokensFor(server.spec.name, 'lat', config.pacedClients), 64);
  const options = {
    durationMs: config.pacedDurationMs,
    spreadMs: config.pacedChunks * config.pacedDelayMs + config.pacedThinkMs,
    thinkMs: config.pacedThinkMs,
  };
  const run = (): Promise<{ result: PacedResult; delay: LoopDelay }> =>
    server.loopDelay(() => paced(clients.sockets, llm.clock, options));
  const measured = await coresDuring(server.spec.databasePid, () => profiled(server, config, 'latency', run));
  const { result: timing, delay } = measured.result;
  await closeAll(clients.sockets);
  llm.fake.reset();
  await server.settle();
  return {
    chunk: summarize(timing.chunkMs),
    firstChunk: summarize(timing.firstChunkMs),
    sendToFirstDelta: summarize(timing.sendToFirstDeltaMs),
    chunksLost: timing.chunksLost,
    errors: timing.errors,
    loopDelay: delay,
    databaseCpu: measured.cores,
  };
}

async function saturationPhase({ server, url, llm, config }: Phase): Promise<ServerResults['saturation']> {
  log(
    server,
    `saturation: ${config.saturationClients} clients, ${config.saturationChunks} chunks per reply, no pacing`,
  );
  llm.fake.script = saturationScript(config.saturationChunks);
  const clients = await openMany(url, tokensFor(server.spec.name, 'sat', config.saturationClients), 64);
  const window = { warmupMs: config.saturationWarmupMs, windowMs: config.saturationWindowMs };
  const measured = await coresDuring(server.spec.databasePid, () =>
    profiled(server, config, 'saturation', () => saturate(clients.sockets, server, window)),
  );
  const saturation = { ...measured.result, databaseCpu: measured.cores };
  await closeAll(clients.sockets);
  llm.fake.reset();
  return saturation;
}

// Runs `work` under the V8 profiler when profiling is on (it slows the server), saving the profile
// and printing where the time went.
export async function profiled<T>(
  server: ServerProcess,
  config: BenchConfig,
  phase: string,
  work: () => Promise<T>,
): Promise<T> {
  if (!config.profileDir) return work();
  const { result, profile, allocations } = await server.profile(work);
  const file = join(config.profileDir, `${server.spec.name.replace(/\W+/g, '-')}-${phase}.cpuprofile`);
  writeFileSync(file, JSON.stringify(profile));
  writeFileSync(file.replace(/\.cpuprofile$/, '.heapprofile'), JSON.stringify(allocations));
  log(server, `CPU profile of the ${phase} phase: ${file}\n${summarizeProfile(profile)}`);
  return result;
}
