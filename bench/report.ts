// Turns both servers' results into the table (with the issue's targets) and the notes under it.
import { availableParallelism } from 'node:os';
import type { BenchConfig, RelayResults, ServerResults } from './phases';
import { format, table, type Row } from './stats';

const KIB = 1024;
const MIB = 1024 * 1024;

function ratio(chatbox: number, bare: number): string {
  return bare > 0 && Number.isFinite(chatbox / bare) ? `${format(chatbox / bare, 2)}×` : 'n/a';
}

function signed(value: number): string {
  return `${value >= 0 ? '+' : '−'}${format(Math.abs(value), 2)}`;
}

function verdict(ok: boolean): string {
  return ok ? 'pass' : 'FAIL';
}

export function buildRows(chatbox: ServerResults, bare: ServerResults): Row[] {
  const memory = (results: ServerResults): number => results.memory.rssPerConnection / KIB;
  const heap = (results: ServerResults): number => results.memory.heapPerConnection / KIB;
  const frames = (results: ServerResults): number => results.saturation.framesPerSecond;
  const framesPerCpu = (results: ServerResults): number =>
    results.saturation.framesPerSecond / Math.max(results.saturation.serverCpu, 1e-9);
  const memoryOk = memory(chatbox) <= 1.5 * memory(bare) && memory(chatbox) <= 32;
  const p99Added = chatbox.latency.chunk.p99 - bare.latency.chunk.p99;
  const rows: Row[] = [
    {
      metric: 'memory per idle connection, RSS after GC (KiB)',
      chatbox: format(memory(chatbox)),
      bare: format(memory(bare)),
      ratio: ratio(memory(chatbox), memory(bare)),
      target: '≤ 1.5× bare and ≤ 32 KiB',
      verdict: verdict(memoryOk),
    },
    {
      metric: '  of which V8 heap + external (KiB)',
      chatbox: format(heap(chatbox)),
      bare: format(heap(bare)),
      ratio: ratio(heap(chatbox), heap(bare)),
      target: '',
      verdict: '',
    },
    {
      metric: 'connect + auth rate (connections/s)',
      chatbox: format(chatbox.connect.perSecond, 0),
      bare: format(bare.connect.perSecond, 0),
      ratio: ratio(chatbox.connect.perSecond, bare.connect.perSecond),
      target: '',
      verdict: '',
    },
    {
      metric: '  connect → connection_status p50 / p99 (ms)',
      chatbox: `${format(chatbox.connect.latency.p50)} / ${format(chatbox.connect.latency.p99)}`,
      bare: `${format(bare.connect.latency.p50)} / ${format(bare.connect.latency.p99)}`,
      ratio: '',
      target: '',
      verdict: '',
    },
    {
      metric: 'relay frames/s at saturation',
      chatbox: format(frames(chatbox), 0),
      bare: format(frames(bare), 0),
      ratio: ratio(frames(chatbox), frames(bare)),
      target: '≥ 0.70× bare',
      verdict: verdict(frames(chatbox) >= 0.7 * frames(bare)),
    },
    {
      metric: '  server CPU during saturation (cores)',
      chatbox: format(chatbox.saturation.serverCpu, 2),
      bare: format(bare.saturation.serverCpu, 2),
      ratio: '',
      target: '',
      verdict: '',
    },
    {
      metric: '  database CPU during saturation (cores)',
      chatbox: format(chatbox.saturation.databaseCpu, 2),
      bare: '–',
      ratio: '',
      target: '',
      verdict: '',
    },
    {
      metric: '  frames per server CPU-second',
      chatbox: format(framesPerCpu(chatbox), 0),
      bare: format(framesPerCpu(bare), 0),
      ratio: ratio(framesPerCpu(chatbox), framesPerCpu(bare)),
      target: '',
      verdict: '',
    },
    {
      metric: 'chunk → client latency p50 (ms)',
      chatbox: format(chatbox.latency.chunk.p50, 2),
      bare: format(bare.latency.chunk.p50, 2),
      ratio: `${signed(chatbox.latency.chunk.p50 - bare.latency.chunk.p50)} ms`,
      target: '',
      verdict: '',
    },
    {
      metric: 'chunk → client latency p99 (ms)',
      chatbox: format(chatbox.latency.chunk.p99, 2),
      bare: format(bare.latency.chunk.p99, 2),
      ratio: `${signed(p99Added)} ms`,
      target: '≤ bare + 5 ms',
      verdict: verdict(p99Added <= 5),
    },
    {
      metric: 'added TTFT p50 / p99 (ms), DB writes on',
      chatbox: `${format(chatbox.latency.firstChunk.p50, 2)} / ${format(chatbox.latency.firstChunk.p99, 2)}`,
      bare: `${format(bare.latency.firstChunk.p50, 2)} / ${format(bare.latency.firstChunk.p99, 2)}`,
      ratio: `${signed(chatbox.latency.firstChunk.p99 - bare.latency.firstChunk.p99)} ms p99`,
      target: '',
      verdict: '',
    },
    {
      metric: '  server event loop blocked p99 / max (ms)',
      chatbox: `${format(chatbox.latency.loopDelay.p99, 1)} / ${format(chatbox.latency.loopDelay.max, 1)}`,
      bare: `${format(bare.latency.loopDelay.p99, 1)} / ${format(bare.latency.loopDelay.max, 1)}`,
      ratio: '',
      target: '',
      verdict: '',
    },
    {
      metric: '  database CPU during latency run (cores)',
      chatbox: format(chatbox.latency.databaseCpu, 2),
      bare: '–',
      ratio: '',
      target: '',
      verdict: '',
    },
    {
      metric: '  send → first delta p50 / p99 (ms)',
      chatbox: `${format(chatbox.latency.sendToFirstDelta.p50, 1)} / ${format(chatbox.latency.sendToFirstDelta.p99, 1)}`,
      bare: `${format(bare.latency.sendToFirstDelta.p50, 1)} / ${format(bare.latency.sendToFirstDelta.p99, 1)}`,
      ratio: '',
      target: '',
      verdict: '',
    },
  ];
  return rows;
}

export function render(chatbox: ServerResults, bare: ServerResults, config: BenchConfig): string {
  const lines = [table(buildRows(chatbox, bare)), ''];
  const describe = (name: string, results: ServerResults): string =>
    `${name}: ${results.connect.opened} idle sockets opened (${results.connect.failures} failed${
      results.connect.firstError ? `, first: ${results.connect.firstError}` : ''
    }); RSS ${format(results.memory.before.rssBytes / MIB)} → ${format(results.memory.after.rssBytes / MIB)} MiB; ` +
    `saturation ${format(results.saturation.repliesPerSecond)} replies/s, load generator ${format(
      results.saturation.benchCpu,
      2,
    )} cores, ${results.saturation.errors} error frames; latency samples ${results.latency.chunk.count} chunks / ${
      results.latency.firstChunk.count
    } first chunks, ${results.latency.chunksLost} lost, ${results.latency.errors} error frames`;
  lines.push(describe('chatbox', chatbox), describe('bare ws', bare), '');
  lines.push(
    `Machine load average (1 min) when each run began: chatbox ${format(chatbox.loadAtStart, 2)}, bare ws ${format(
      bare.loadAtStart,
      2,
    )} (2 cores; anything else running skews the numbers).`,
  );
  lines.push(
    `Setup: ${config.idleConnections} idle connections of ${config.idleUsers} users (round robin) opened ` +
      `${config.connectConcurrency} at a time; saturation with ` +
      `${config.saturationClients} clients, ${config.saturationChunks}-chunk replies, no pacing, ` +
      `${config.saturationWindowMs / 1000} s window; latency with ${config.pacedClients} clients, ` +
      `${config.pacedChunks} chunks every ${config.pacedDelayMs} ms, ${config.pacedThinkMs} ms between turns, ` +
      `${config.pacedDurationMs / 1000} s.`,
    'Memory is the RSS growth of the server process between two points, each after two forced full GCs ' +
      '(inspector HeapProfiler.collectGarbage) and a quiet CPU; RSS also counts memory the allocator keeps after ' +
      'a GC, so it is an upper bound on what a connection costs.',
    'Latency is measured in this process: the fake LLM runs here, so its write time and the client receipt ' +
      'share one clock. TTFT is the first delta receipt minus the fake writing the first chunk.',
    `The load generator and fake LLM share the machine's ${availableCores()} cores with the server: frames/s is the ` +
      'rate the pair reaches, not the server alone; frames per server CPU-second is the fairer comparison.',
  );
  return lines.join('\n');
}

// Issue 3's question: what does storing sessions cost the relay? The same app with its sessions
// repository in memory (persistence off) beside the real one, and the bare relay for scale.
export function renderPersistence(on: RelayResults, off: RelayResults, bare: RelayResults): string {
  const frames = (results: RelayResults): number => results.saturation.framesPerSecond;
  const perCpu = (results: RelayResults): number =>
    results.saturation.framesPerSecond / Math.max(results.saturation.serverCpu, 1e-9);
  const ttft = (results: RelayResults): string =>
    `${format(results.latency.firstChunk.p50, 2)} / ${format(results.latency.firstChunk.p99, 2)}`;
  const added = (results: RelayResults, key: 'p50' | 'p99'): number =>
    results.latency.firstChunk[key] - bare.latency.firstChunk[key];
  const rows: Row[] = [
    {
      metric: 'relay frames/s at saturation',
      chatbox: format(frames(on), 0),
      bare: format(frames(off), 0),
      ratio: ratio(frames(on), frames(off)),
      target: '≥ 0.90× off',
      verdict: verdict(frames(on) >= 0.9 * frames(off)),
    },
    {
      metric: '  same, against the bare relay',
      chatbox: ratio(frames(on), frames(bare)),
      bare: ratio(frames(off), frames(bare)),
      ratio: '',
      target: '≥ 0.70× bare',
      verdict: `${verdict(frames(on) >= 0.7 * frames(bare))} / ${verdict(frames(off) >= 0.7 * frames(bare))}`,
    },
    {
      metric: '  frames per server CPU-second',
      chatbox: format(perCpu(on), 0),
      bare: format(perCpu(off), 0),
      ratio: ratio(perCpu(on), perCpu(off)),
      target: '',
      verdict: '',
    },
    {
      metric: '  database CPU during saturation (cores)',
      chatbox: format(on.saturation.databaseCpu, 2),
      bare: format(off.saturation.databaseCpu, 2),
      ratio: '',
      target: '',
      verdict: '',
    },
    {
      metric: 'TTFT chunk → client p50 / p99 (ms)',
      chatbox: ttft(on),
      bare: ttft(off),
      ratio: '',
      target: '',
      verdict: '',
    },
    {
      metric: '  added over bare, p50 (ms)',
      chatbox: signed(added(on, 'p50')),
      bare: signed(added(off, 'p50')),
      ratio: '',
      target: '≤ 2 ms (on)',
      verdict: verdict(added(on, 'p50') <= 2),
    },
    {
      metric: 'chunk → client latency p99 (ms)',
      chatbox: format(on.latency.chunk.p99, 2),
      bare: format(off.latency.chunk.p99, 2),
      ratio: `${signed(on.latency.chunk.p99 - off.latency.chunk.p99)} ms`,
      target: '',
      verdict: '',
    },
    {
      metric: '  added over bare (ms)',
      chatbox: signed(on.latency.chunk.p99 - bare.latency.chunk.p99),
      bare: signed(off.latency.chunk.p99 - bare.latency.chunk.p99),
      ratio: '',
      target: '≤ 5 ms',
      verdict: `${verdict(on.latency.chunk.p99 - bare.latency.chunk.p99 <= 5)} / ${verdict(
        off.latency.chunk.p99 - bare.latency.chunk.p99 <= 5,
      )}`,
    },
    {
      metric: 'send → first delta p50 / p99 (ms)',
      chatbox: `${format(on.latency.sendToFirstDelta.p50, 1)} / ${format(on.latency.sendToFirstDelta.p99, 1)}`,
      bare: `${format(off.latency.sendToFirstDelta.p50, 1)} / ${format(off.latency.sendToFirstDelta.p99, 1)}`,
      ratio: '',
      target: '',
      verdict: '',
    },
  ];
  return [
    'Persistence on vs off: chatbox as shipped ("on") and the same app with its sessions repository in memory ("off", bench/chatbox-memory.ts).',
    '',
    table(rows, { chatbox: 'on', bare: 'off', ratio: 'on/off' }),
    '',
    `Load average when each run began: on ${format(on.loadAtStart, 2)}, off ${format(off.loadAtStart, 2)}.`,
  ].join('\n');
}

function availableCores(): number {
  return availableParallelism();
}
