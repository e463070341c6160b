// Every measurement against one server, in an order that keeps them apart: warm up, idle memory and
// connect rate, then saturation, then paced latency. The server is alone on the machine meanwhile.
import { userToken } from '../test/helpers/tokens';
import { closeAll, openMany } from './clients';
import { pacedScript, saturationScript, type BenchFake } from './fake-llm';
import type { MemorySample, ServerProcess } from './server-process';
import { summarize, type Summary } from './stats';
import { paced, saturate, type SaturationResult } from './workloads';

export interface BenchConfig {
  idleConnections: number;
  connectConcurrency: number;
  saturationClients: number;
  saturationChunks: number;
  saturationWarmupMs: number;
  saturationWindowMs: number;
  pacedClients: number;
  pacedChunks: number;
  pacedDelayMs: number;
  pacedDurationMs: number;
}

export interface ServerResults {
  connect: { opened: number; failures: number; firstError?: string; perSecond: number; latency: Summary };
  memory: { before: MemorySample; after: MemorySample; rssPerConnection: number; heapPerConnection: number };
  saturation: SaturationResult;
  latency: {
    chunk: Summary;
    firstChunk: Summary;
    sendToFirstDelta: Summary;
    chunksLost: number;
    errors: number;
  };
}

function tokensFor(server: string, phase: string, count: number): string[] {
  const run = Date.now().toString(36);
  return Array.from({ length: count }, (_, index) => userToken(`bench-${server}-${phase}-${run}-${index}`));
}

function log(server: ServerProcess, text: string): void {
  console.log(`[bench] ${server.spec.name}: ${text}`);
}

export async function measure(
  server: ServerProcess,
  url: string,
  llm: BenchFake,
  config: BenchConfig,
): Promise<ServerResults> {
  const name = server.spec.name;

  log(server, 'warming up');
  llm.fake.script = saturationScript(config.saturationChunks);
  const warm = await openMany(url, tokensFor(name, 'warm', 32), 32);
  await saturate(warm.sockets, server, { warmupMs: 1500, windowMs: 500 });
  await closeAll(warm.sockets);
  llm.fake.reset();
  await server.settle();
  const before = await server.memoryAfterGc();

  log(server, `opening ${config.idleConnections} idle connections`);
  const idleTokens = tokensFor(name, 'idle', config.idleConnections);
  const idle = await openMany(url, idleTokens, config.connectConcurrency);
  await server.settle();
  const after = await server.memoryAfterGc();
  const live = Math.max(1, idle.sockets.length);
  const connect = {
    opened: idle.sockets.length,
    failures: idle.failures,
    firstError: idle.firstError,
    perSecond: idle.sockets.length / (idle.elapsedMs / 1000),
    latency: summarize(idle.latencies),
  };
  const memory = {
    before,
    after,
    rssPerConnection: (after.rssBytes - before.rssBytes) / live,
    heapPerConnection:
      (after.heapUsedBytes + after.externalBytes - before.heapUsedBytes - before.externalBytes) / live,
  };
  log(server, 'closing idle connections');
  await closeAll(idle.sockets);
  await server.settle();

  log(
    server,
    `saturation: ${config.saturationClients} clients, ${config.saturationChunks} chunks per reply, no pacing`,
  );
  llm.fake.script = saturationScript(config.saturationChunks);
  const busy = await openMany(url, tokensFor(name, 'sat', config.saturationClients), 64);
  const saturation = await saturate(busy.sockets, server, {
    warmupMs: config.saturationWarmupMs,
    windowMs: config.saturationWindowMs,
  });
  await closeAll(busy.sockets);
  llm.fake.reset();
  await server.settle();

  log(
    server,
    `latency: ${config.pacedClients} clients, ${config.pacedChunks} chunks every ${config.pacedDelayMs} ms`,
  );
  llm.fake.script = pacedScript(config.pacedChunks, config.pacedDelayMs);
  const steady = await openMany(url, tokensFor(name, 'lat', config.pacedClients), 64);
  const timing = await paced(steady.sockets, llm.clock, {
    durationMs: config.pacedDurationMs,
    spreadMs: config.pacedChunks * config.pacedDelayMs,
  });
  await closeAll(steady.sockets);
  llm.fake.reset();

  return {
    connect,
    memory,
    saturation,
    latency: {
      chunk: summarize(timing.chunkMs),
      firstChunk: summarize(timing.firstChunkMs),
      sendToFirstDelta: summarize(timing.sendToFirstDeltaMs),
      chunksLost: timing.chunksLost,
      errors: timing.errors,
    },
  };
}
