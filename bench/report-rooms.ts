// The rooms benchmark's table: metric | bare ws | chatbox | ratio/added | target | pass/fail, with the
// issue's targets (issue 14), and a line per phase saying what ran.
import type { config } from './rooms-run';
import type { FanoutResult, HistoryResult, RateResult, SteadyResult } from './rooms-run';
import { format } from './stats';

export interface Latency {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export interface RoomsResults {
  config: typeof config;
  bareSteady?: SteadyResult;
  chatboxSteady?: SteadyResult;
  bareFanout?: FanoutResult;
  chatboxFanout?: FanoutResult;
  rate?: RateResult;
  cross?: SteadyResult;
  history: HistoryResult[];
  elapsedSeconds?: number;
}

type Cells = [metric: string, bare: string, chatbox: string, ratio: string, target: string, verdict: string];

const KIB = 1024;
const MIB = 1024 * 1024;
const DASH = '–';

function ms(value: number | undefined, digits = 1): string {
  return value === undefined ? DASH : format(value, digits);
}

function added(bare: number | undefined, chatbox: number | undefined): string {
  if (bare === undefined || chatbox === undefined || !Number.isFinite(bare) || !Number.isFinite(chatbox))
    return DASH;
  const difference = chatbox - bare;
  return `${difference >= 0 ? '+' : '−'}${format(Math.abs(difference), 1)} ms`;
}

function ratio(chatbox: number | undefined, bare: number | undefined): string {
  if (bare === undefined || chatbox === undefined || !(bare > 0) || !Number.isFinite(chatbox)) return DASH;
  return `${format(chatbox / bare, 2)}×`;
}

function verdict(ok: boolean | undefined): string {
  return ok === undefined ? DASH : ok ? 'pass' : 'FAIL';
}

function integer(value: number | undefined): string {
  return value === undefined ? DASH : format(value, 0);
}

function checks(result: SteadyResult | undefined): string {
  if (!result) return DASH;
  return `${result.missing} / ${result.doubled} / ${result.outOfOrder}`;
}

function lost(result: SteadyResult | undefined): string {
  if (!result) return DASH;
  return `${format(result.delivery.count, 0)} of ${format(result.expected, 0)}`;
}

export function renderRooms(results: RoomsResults): string {
  const { config } = results;
  const rows: Cells[] = [];
  const bare = results.bareSteady;
  const chatbox = results.chatboxSteady;
  if (bare || chatbox) {
    const shape = `${format((chatbox ?? bare)!.connections, 0)} connections, 1 instance, ${format(config.perMinute, 0)} msg/min, rooms of ${config.roomSize}`;
    rows.push([`**steady traffic** (${shape})`, '', '', '', '', '']);
    rows.push([
      'delivery p50 (ms)',
      ms(bare?.delivery.p50),
      ms(chatbox?.delivery.p50),
      added(bare?.delivery.p50, chatbox?.delivery.p50),
      '',
      '',
    ]);
    rows.push([
      'delivery p99 (ms)',
      ms(bare?.delivery.p99),
      ms(chatbox?.delivery.p99),
      added(bare?.delivery.p99, chatbox?.delivery.p99),
      '< 100 ms',
      verdict(chatbox ? chatbox.delivery.p99 < 100 : undefined),
    ]);
    rows.push(['  delivery max (ms)', ms(bare?.delivery.max), ms(chatbox?.delivery.max), '', '', '']);
    rows.push([
      '  send → ack p99 (ms)',
      ms(bare?.ack.p99),
      ms(chatbox?.ack.p99),
      added(bare?.ack.p99, chatbox?.ack.p99),
      '',
      '',
    ]);
    rows.push(['  messages sent', integer(bare?.sent), integer(chatbox?.sent), '', '', '']);
    rows.push([
      '  deliveries timed, of expected',
      lost(bare),
      lost(chatbox),
      '',
      'all',
      verdict(chatbox ? chatbox.delivery.count === chatbox.expected : undefined),
    ]);
    rows.push([
      '  per socket: missing / doubled / out of order',
      checks(bare),
      checks(chatbox),
      '',
      '0 / 0 / 0',
      verdict(chatbox ? chatbox.missing + chatbox.doubled + chatbox.outOfOrder === 0 : undefined),
    ]);
    rows.push([
      '  store: rooms whose seqs are not 1..n once',
      DASH,
      chatbox?.store ? `${chatbox.store.bad} of ${chatbox.store.rooms}` : DASH,
      '',
      '0',
      verdict(chatbox?.store ? chatbox.store.bad === 0 : undefined),
    ]);
    rows.push([
      '  error frames',
      integer(bare?.errors),
      integer(chatbox?.errors),
      '',
      '0',
      verdict(chatbox ? chatbox.errors === 0 : undefined),
    ]);
    rows.push([
      '  server CPU (cores)',
      ms(bare?.serverCores, 2),
      ms(chatbox?.serverCores, 2),
      ratio(chatbox?.serverCores, bare?.serverCores),
      '',
      '',
    ]);
    rows.push(['  database CPU (cores)', DASH, ms(chatbox?.databaseCores, 2), '', '', '']);
    rows.push([
      '  load generator CPU (cores)',
      ms(bare?.loadCores, 2),
      ms(chatbox?.loadCores, 2),
      '',
      '',
      '',
    ]);
    const bm = bare?.memory;
    const cm = chatbox?.memory;
    rows.push([`**memory per idle connection** (joined to its room)`, '', '', '', '', '']);
    type PerSocket = Exclude<typeof bm, undefined>;
    // a row per KiB per socket, chatbox's against the bare server's (gated where a target is given)
    const kib = (label: string, of: (memory: PerSocket) => number, gated = false) => {
      const b = bm && of(bm);
      const c = cm && of(cm);
      rows.push([
        label,
        ms(b !== undefined ? b / KIB : undefined),
        ms(c !== undefined ? c / KIB : undefined),
        ratio(c, b),
        gated ? '≤ 1.5×' : '',
        gated ? verdict(c !== undefined && b !== undefined ? c <= 1.5 * b : undefined) : '',
      ]);
    };
    kib('RSS after forced GC (KiB)', (memory) => memory.rssPerConnectionGc, true);
    kib('RSS without forced GC (KiB)', (memory) => memory.rssPerConnectionNoGc, true);
    // the young generation is the process's, not the sockets': at most two semi-spaces
    kib(
      "    of it V8's young generation (per process, ≤ 2 semi-spaces; KiB)",
      (memory) => memory.youngPerConnectionNoGc,
    );
    kib(
      '    RSS without forced GC, young generation apart (KiB)',
      (memory) => memory.rssPerConnectionNoGc - memory.youngPerConnectionNoGc,
    );
    kib('  V8 heap + external without forced GC (KiB)', (memory) => memory.heapPerConnectionNoGc);
    kib(
      `  RSS without forced GC, ${(cm ?? bm)?.quietSeconds ?? DASH} s later (KiB)`,
      (memory) => memory.rssPerConnectionQuiet,
    );
    kib('  V8 heap + external after GC (KiB)', (memory) => memory.heapPerConnection);
    rows.push([
      'growth per 1,000 connections, no GC (MiB)',
      ms(bm && (bm.rssPerConnectionNoGc * 1000) / MIB),
      ms(cm && (cm.rssPerConnectionNoGc * 1000) / MIB),
      '',
      '≪ 512 MiB',
      verdict(cm ? (cm.rssPerConnectionNoGc * 1000) / MIB < 512 : undefined),
    ]);
    rows.push([
      '  process RSS with them, after GC (MiB)',
      ms(bm && bm.rssTotal / MIB),
      ms(cm && cm.rssTotal / MIB),
      '',
      '',
      '',
    ]);
  }
  const bf = results.bareFanout;
  const cf = results.chatboxFanout;
  if (bf || cf) {
    rows.push([
      `**fan-out** (one room of ${format((cf ?? bf)!.members, 0)}, ${(cf ?? bf)!.senders} senders, 1 instance)`,
      '',
      '',
      '',
      '',
      '',
    ]);
    rows.push([
      'deliveries/s',
      integer(bf?.deliveriesPerSecond),
      integer(cf?.deliveriesPerSecond),
      ratio(cf?.deliveriesPerSecond, bf?.deliveriesPerSecond),
      '≥ 0.70×',
      verdict(cf && bf ? cf.deliveriesPerSecond >= 0.7 * bf.deliveriesPerSecond : undefined),
    ]);
    rows.push([
      '  deliveries per server CPU-second',
      integer(bf?.deliveriesPerCpuSecond),
      integer(cf?.deliveriesPerCpuSecond),
      ratio(cf?.deliveriesPerCpuSecond, bf?.deliveriesPerCpuSecond),
      '',
      '',
    ]);
    rows.push([
      "  messages/s (senders' ceiling)",
      ms(bf?.messagesPerSecond),
      ms(cf?.messagesPerSecond),
      '',
      `< ${format((cf ?? bf)!.ceiling, 0)}`,
      verdict(cf && bf ? Math.max(cf.messagesPerSecond, bf.messagesPerSecond) < 0.9 * cf.ceiling : undefined),
    ]);
    rows.push(['  server CPU (cores)', ms(bf?.serverCores, 2), ms(cf?.serverCores, 2), '', '', '']);
    rows.push(['  database CPU (cores)', DASH, ms(cf?.databaseCores, 2), '', '', '']);
    rows.push([
      '  load generator CPU (cores)',
      ms(bf?.loadCores, 2),
      ms(cf?.loadCores, 2),
      '',
      '< 0.9',
      verdict(cf && bf ? Math.max(cf.loadCores, bf.loadCores) < 0.9 : undefined),
    ]);
    rows.push([
      '  out of order / not seen in 10 s / refused',
      bf ? `${bf.outOfOrder} / ${bf.timeouts} / ${bf.refused}` : DASH,
      cf ? `${cf.outOfOrder} / ${cf.timeouts} / ${cf.refused}` : DASH,
      '',
      '0 / 0 / 0',
      verdict(cf ? cf.outOfOrder + cf.timeouts + cf.refused === 0 : undefined),
    ]);
  }
  const rate = results.rate;
  if (rate) {
    rows.push([
      `**rate limit** (${rate.limit}/s per user; ${rate.users} users send ${rate.limit * 2} at once)`,
      '',
      '',
      '',
      '',
      '',
    ]);
    rows.push([
      'acked / refused (RATE_LIMITED) / other',
      DASH,
      `${rate.acked} / ${rate.refused} / ${rate.other}`,
      '',
      `refused > 0, other 0`,
      verdict(rate.refused > 0 && rate.other === 0),
    ]);
    rows.push([
      '  refusals with retry_after, recoverable',
      DASH,
      `${rate.withRetryAfter}, ${rate.recoverable} of ${rate.refused}`,
      '',
      'all',
      verdict(rate.withRetryAfter === rate.refused && rate.recoverable === rate.refused),
    ]);
    rows.push([
      '  retry after retry_after acked',
      DASH,
      `${rate.retriedOk} of ${rate.users} (waited ≤ ${rate.retryAfterMax} ms)`,
      '',
      'all',
      verdict(rate.retriedOk === rate.users),
    ]);
  }
  const cross = results.cross;
  if (cross) {
    rows.push([
      `**two instances** (${format(cross.connections, 0)} connections split, every room on both, Redis bus)`,
      '',
      '',
      '',
      '',
      '',
    ]);
    rows.push([
      'delivery p50 / p99 (ms)',
      DASH,
      `${ms(cross.delivery.p50)} / ${ms(cross.delivery.p99)}`,
      '',
      '',
      '',
    ]);
    rows.push([
      '  across instances p50 / p99 (ms)',
      DASH,
      `${ms(cross.cross.p50)} / ${ms(cross.cross.p99)}`,
      '',
      '< 100 ms',
      verdict(cross.cross.p99 < 100),
    ]);
    rows.push([
      '  deliveries timed, of expected',
      DASH,
      lost(cross),
      '',
      'all',
      verdict(cross.delivery.count === cross.expected),
    ]);
    rows.push([
      '  per socket: missing / doubled / out of order',
      DASH,
      checks(cross),
      '',
      '0 / 0 / 0',
      verdict(cross.missing + cross.doubled + cross.outOfOrder === 0),
    ]);
    rows.push([
      '  store: rooms whose seqs are not 1..n once',
      DASH,
      cross.store ? `${cross.store.bad} of ${cross.store.rooms}` : DASH,
      '',
      '0',
      verdict(cross.store ? cross.store.bad === 0 : undefined),
    ]);
    rows.push(['  error frames', DASH, integer(cross.errors), '', '0', verdict(cross.errors === 0)]);
    rows.push([
      '  servers / database / load generator CPU (cores)',
      DASH,
      `${ms(cross.serverCores, 2)} / ${ms(cross.databaseCores, 2)} / ${ms(cross.loadCores, 2)}`,
      '',
      '',
      '',
    ]);
  }
  for (const read of results.history) {
    rows.push([
      `**history and room list** (${read.store}: ${format(read.rooms, 0)} rooms, ${format(read.messages, 0)} messages)`,
      '',
      '',
      '',
      '',
      '',
    ]);
    rows.push([
      'history, newest 100: p50 / p95 (ms)',
      DASH,
      `${ms(read.history.p50)} / ${ms(read.history.p95)}`,
      '',
      'p95 < 50 ms',
      verdict(read.history.p95 < 50),
    ]);
    rows.push([
      'room list: p50 / p95 (ms)',
      DASH,
      `${ms(read.list.p50)} / ${ms(read.list.p95)}`,
      '',
      'p95 < 50 ms',
      verdict(read.list.p95 < 50),
    ]);
    rows.push([
      '  max history / list (ms); failed reads',
      DASH,
      `${ms(read.history.max)} / ${ms(read.list.max)}; ${read.failures}`,
      '',
      '0 failed',
      verdict(read.failures === 0),
    ]);
    rows.push([
      '  reads done within the budget: history / list',
      DASH,
      `${read.history.count} / ${read.list.count} of ${read.reads}`,
      '',
      'all',
      verdict(read.history.count === read.reads && read.list.count === read.reads),
    ]);
    rows.push([
      '  seeding (s; 0 = reused from an earlier run)',
      DASH,
      format(read.seededMs / 1000, 1),
      '',
      '',
      '',
    ]);
  }
  return table(rows);
}

function table(rows: Cells[]): string {
  const header: Cells = ['metric', 'bare ws', 'chatbox', 'ratio / added', 'target', 'pass/fail'];
  const all = [header, ...rows];
  const widths = header.map((_, column) => Math.max(4, ...all.map((row) => row[column].length)));
  const line = (row: Cells): string =>
    `| ${row.map((cell, column) => cell.padEnd(widths[column])).join(' | ')} |`;
  const rule = `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}
