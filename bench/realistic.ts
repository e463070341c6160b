// The realistic profile (the default of `npm run bench`): one user per socket, many users starting a
// turn at the same instant, sessions with history, long sessions. Every phase runs the same way
// against chatbox and the bare relay; chatbox's store commands are read from its /metrics.
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type WebSocket from 'ws';
import { userToken } from '../test/helpers/tokens';
import { closeAll, openMany, userMessage } from './clients';
import { pacedScript, saturationScript, tag, TAG_WIDTH, tokenIndex, type BenchFake } from './fake-llm';
import { profiled } from './phases';
import { coresDuring, type ServerProcess } from './server-process';
import { summarize, type Summary } from './stats';
import { saturate, type SaturationResult } from './workloads';
import { prose } from './prose';

export interface RealisticConfig {
  idleConnections: number;
  // the idle sockets' memory is read again this long after, still without a forced GC
  idleQuietSeconds: number;
  connectConcurrency: number;
  // users starting a turn at the same instant, one burst per entry
  burstUsers: number[];
  burstChunks: number;
  burstDelayMs: number;
  // each burst runs this many times, pooled
  burstRounds: number;
  // turns each user of the history burst has before it is measured
  historyTurns: number;
  historyUsers: number;
  saturationStreams: number;
  saturationChunks: number;
  saturationWindowMs: number;
  // the long-session curve: the cost of a turn and of a connect at these turn counts (chatbox only)
  longTurns: number[];
  // when set, the bursts run under the V8 profiler and profiles go here
  profileDir?: string;
}

export interface IdleResult {
  opened: number;
  failures: number;
  perSecond: number;
  latency: Summary;
  rssPerConnectionGc: number;
  rssPerConnectionNoGc: number;
  // of it, V8's young generation growing back after the forced GC before the phase (per process)
  youngPerConnectionNoGc: number;
  // the same, after the sockets sat idle for `quietSeconds` more (what a pod of idle sockets holds
  // once V8's own memory reducer has had its chance), still without a forced GC
  rssPerConnectionQuiet: number;
  youngPerConnectionQuiet: number;
  quietSeconds: number;
  heapPerConnection: number;
  storeCommandsPerConnect: number;
  // CPU per connect of the server and of its store (0 without a store process), while the sockets open
  serverCpuPerConnectMs: number;
  databaseCpuPerConnectMs: number;
}

export interface BurstResult {
  users: number;
  history: number;
  // bursts pooled in the figures below
  rounds: number;
  sendToFirstDelta: Summary;
  chunk: Summary;
  // the chunks the model wrote after its turn's ack reached the client: chatbox holds a reply's
  // frames until the store has the user's message (docs/protocol.md, "Early start"), so the chunks
  // written before that wait for the store; these wait for the relay alone
  chunkAfterAck: Summary;
  // until every reply was complete at its client
  serverCpuPerTurnMs: number;
  // and with the work the turns left behind them (titles, renames, the search index), once the
  // server is idle again
  serverCpuPerTurnSettledMs: number;
  databaseCpuPerTurnMs: number;
  storeCommandsPerTurn: number;
  // the server's main-thread GC pauses per turn, and its full GCs in all the rounds
  gcPauseMsPerTurn: number;
  fullGcs: number;
  errors: number;
  lost: number;
  // turns with no final frame within a minute
  unfinished: number;
}

export interface LongPoint {
  turns: number;
  sendToAck: Summary;
  sendToFirstDelta: Summary;
  connect: Summary;
}

export interface RealisticResults {
  idle: IdleResult;
  bursts: BurstResult[];
  saturation: SaturationResult & { databaseCpu: number; serverCpuPerFrameUs: number };
  long: LongPoint[];
}

// a relayed chunk of the paced script (bench/fake-llm.ts)
const TOKEN = /^c\d{5}t\d{3}:\d{3}\|$/;
const run = Date.now().toString(36);
let users = 0;

function newUsers(server: ServerProcess, count: number): string[] {
  return Array.from({ length: count }, () =>
    userToken(`r-${server.spec.name.replace(/\W+/g, '')}-${run}-${users++}`),
  );
}

function log(server: ServerProcess, text: string): void {
  console.log(`[bench] ${server.spec.name}: ${text}`);
}

// chatbox's store commands so far (0 for a server without the metric)
export async function storeCommands(server: ServerProcess): Promise<number> {
  try {
    const response = await fetch(`http://${server.spec.host}:${server.spec.port}/metrics`);
    if (!response.ok) return 0;
    let total = 0;
    for (const line of (await response.text()).split('\n'))
      if (line.startsWith('chatbox_store_commands_total{'))
        total += Number(line.slice(line.lastIndexOf(' ') + 1));
    return total;
  } catch {
    return 0;
  }
}

// the phases BENCH_PHASES names (e.g. `history` or `bursts,history`), all by default
export function benchPhases(): Set<string> {
  return new Set((process.env.BENCH_PHASES ?? 'idle,bursts,history,saturation,long').split(','));
}

export async function measureRealistic(
  server: ServerProcess,
  url: string,
  llm: BenchFake,
  config: RealisticConfig,
  // only these phases run, after the warm-up (short A/B runs of one path); the skipped ones report zeros
  only: Set<string> = benchPhases(),
): Promise<RealisticResults> {
  const idle = only.has('idle')
    ? await idlePhase(server, url, llm, config)
    : await warmOnly(server, url, llm, config);
  const bursts: BurstResult[] = [];
  if (only.has('bursts'))
    for (const count of config.burstUsers) bursts.push(await burstPhase(server, url, llm, config, count, 0));
  if (config.historyTurns > 0 && only.has('history'))
    bursts.push(await burstPhase(server, url, llm, config, config.historyUsers, config.historyTurns));
  const saturation = only.has('saturation')
    ? await saturationPhase(server, url, llm, config)
    : { ...zeroSaturation(), databaseCpu: 0, serverCpuPerFrameUs: 0 };
  const long =
    only.has('long') && (await storeCommands(server)) > 0 ? await longPhase(server, url, llm, config) : [];
  return { idle, bursts, saturation, long };
}

function zeroSaturation(): SaturationResult {
  return { framesPerSecond: 0, repliesPerSecond: 0, serverCpu: 0, benchCpu: 0, errors: 0 };
}

// the idle phase's warm-up alone (BENCH_PHASES without `idle`)
async function warmOnly(
  server: ServerProcess,
  url: string,
  llm: BenchFake,
  config: RealisticConfig,
): Promise<IdleResult> {
  await warmUp(server, url, llm, config);
  const none = summarize([]);
  return {
    opened: 0,
    failures: 0,
    perSecond: 0,
    latency: none,
    rssPerConnectionGc: 0,
    rssPerConnectionNoGc: 0,
    youngPerConnectionNoGc: 0,
    rssPerConnectionQuiet: 0,
    youngPerConnectionQuiet: 0,
    quietSeconds: 0,
    heapPerConnection: 0,
    storeCommandsPerConnect: 0,
    serverCpuPerConnectMs: 0,
    databaseCpuPerConnectMs: 0,
  };
}

async function warmUp(
  server: ServerProcess,
  url: string,
  llm: BenchFake,
  config: RealisticConfig,
): Promise<void> {
  log(server, 'warming up the connect path');
  llm.fake.script = saturationScript(5);
  const warm = await openMany(url, newUsers(server, 300), config.connectConcurrency);
  // and the turn path: a server in service has answered many turns before any burst (its JIT has
  // compiled them); two turns each on 100 of these users, a new session's first and a second one
  log(server, 'warming up the turn path');
  for (const round of ['w0', 'w1']) await oneTurnEach(warm.sockets.slice(0, 100), round);
  await closeAll(warm.sockets);
  await server.settle();
}

async function idlePhase(
  server: ServerProcess,
  url: string,
  llm: BenchFake,
  config: RealisticConfig,
): Promise<IdleResult> {
  await warmUp(server, url, llm, config);
  const before = await server.memoryAfterGc();
  await heapSnapshot(server, 'idle-before');
  const rssBefore = await server.rssBytes();
  const commandsBefore = await storeCommands(server);
  log(server, `opening ${config.idleConnections} idle connections, one user each`);
  const serverBefore = await server.cpuSeconds();
  const profileConfig = { profileDir: config.profileDir } as Parameters<typeof profiled>[1];
  const measured = await coresDuring(server.spec.databasePid, () =>
    profiled(server, profileConfig, 'idle-connects', async () => {
      const started = performance.now();
      const result = await openMany(url, newUsers(server, config.idleConnections), config.connectConcurrency);
      return { result, seconds: (performance.now() - started) / 1000 };
    }),
  );
  const opened = measured.result.result;
  const serverCpuMs = ((await server.cpuSeconds()) - serverBefore) * 1000;
  await server.settle();
  const live = Math.max(1, opened.sockets.length);
  const commands = (await storeCommands(server)) - commandsBefore;
  const noGc = await server.memoryNow();
  const rssNoGc = noGc.rssBytes;
  await new Promise((resolve) => setTimeout(resolve, config.idleQuietSeconds * 1000));
  const quiet = await server.memoryNow();
  const after = await server.memoryAfterGc();
  await heapSnapshot(server, 'idle-after');
  await closeAll(opened.sockets);
  await server.settle();
  return {
    opened: opened.sockets.length,
    failures: opened.failures,
    perSecond: opened.sockets.length / (opened.elapsedMs / 1000),
    latency: summarize(opened.latencies),
    rssPerConnectionGc: (after.rssBytes - before.rssBytes) / live,
    rssPerConnectionNoGc: (rssNoGc - rssBefore) / live,
    youngPerConnectionNoGc: (noGc.youngResidentBytes - before.youngResidentBytes) / live,
    rssPerConnectionQuiet: (quiet.rssBytes - rssBefore) / live,
    youngPerConnectionQuiet: (quiet.youngResidentBytes - before.youngResidentBytes) / live,
    quietSeconds: config.idleQuietSeconds,
    heapPerConnection:
      (after.heapUsedBytes + after.externalBytes - before.heapUsedBytes - before.externalBytes) / live,
    storeCommandsPerConnect: commands / live,
    serverCpuPerConnectMs: serverCpuMs / live,
    databaseCpuPerConnectMs: (measured.cores * measured.result.seconds * 1000) / live,
  };
}

// BENCH_HEAP_SNAPSHOT=1: the live heap (what every full GC marks) before the idle sockets open, after,
// and before each burst, with a heap snapshot of each beside the server's log
async function heapSnapshot(server: ServerProcess, name: string): Promise<void> {
  if (process.env.BENCH_HEAP_SNAPSHOT !== '1') return;
  const live = await server.memoryAfterGc();
  const file = join(
    dirname(server.spec.logFile),
    `${server.spec.name.replace(/\W/g, '')}-${name}.heapsnapshot`,
  );
  const mib = (bytes: number): string => (bytes / 1048576).toFixed(1);
  log(
    server,
    `live heap ${mib(live.heapUsedBytes)} MiB, external ${mib(live.externalBytes)} MiB: ${await server.heapSnapshot(file)}`,
  );
}

// `count` users each send one message at the same instant; with `history`, each has that many
// turns already before the measured one, of prose as the long phase's are (a question of ~150
// characters, a reply of ~700): the stored sessions and their search tokens grow as a real
// conversation's do (until session 13 they were one-line turns of a few characters).
// The burst runs `config.burstRounds` times (new users each round for new sessions; the same users'
// next turn with history), and the rounds are pooled: one burst of 50 turns is ~0.4 s of server CPU,
// and a GC or the machine's other work moved its per-turn figure by a fifth between runs.
async function burstPhase(
  server: ServerProcess,
  url: string,
  llm: BenchFake,
  config: RealisticConfig,
  count: number,
  history: number,
): Promise<BurstResult> {
  // `count` new users' sockets, with `history` turns each already
  const open = async (): Promise<WebSocket[]> => {
    const opened = await openMany(url, newUsers(server, count), config.connectConcurrency);
    if (opened.failures > 0)
      log(server, `${opened.failures} of ${count} connects failed (first: ${opened.firstError ?? '?'})`);
    if (history > 0) {
      log(server, `giving ${count} users ${history} turns each`);
      let reply = 0;
      llm.fake.script = { reply: () => prose(++reply * 7919, 700), chunkSize: 28, delayMs: 0 };
      for (let turn = 0; turn < history; turn++)
        await oneTurnEach(opened.sockets, `h${turn}`, 60_000, (index) =>
          prose((turn * count + index + 1) * 104729, 150),
        );
    }
    return opened.sockets;
  };
  const pooled: Round[] = [];
  let clients: WebSocket[] | undefined;
  for (let round = 1; round <= config.burstRounds; round++) {
    if (!clients || history === 0) {
      if (clients) await closeAll(clients);
      clients = await open();
    }
    pooled.push(await burstRound(server, llm, config, clients, history, round));
  }
  if (clients) await closeAll(clients);
  llm.fake.reset();
  await server.settle();
  const total = <K extends keyof Round>(key: K): number =>
    pooled.reduce((sum, item) => sum + (item[key] as number), 0);
  const turns = Math.max(1, total('turns'));
  return {
    users: count,
    history,
    rounds: pooled.length,
    sendToFirstDelta: summarize(pooled.flatMap((item) => item.firstDelta)),
    chunk: summarize(pooled.flatMap((item) => item.chunk)),
    chunkAfterAck: summarize(pooled.flatMap((item) => item.chunkAfterAck)),
    serverCpuPerTurnMs: total('cpuMs') / turns,
    serverCpuPerTurnSettledMs: total('settledCpuMs') / turns,
    databaseCpuPerTurnMs: total('databaseCpuMs') / turns,
    storeCommandsPerTurn: total('commands') / turns,
    gcPauseMsPerTurn: total('gcMs') / turns,
    fullGcs: total('fullGcs'),
    errors: total('errors'),
    lost: total('lost'),
    unfinished: total('unfinished'),
  };
}

interface Round {
  // the sockets that sent (a failed connect sends nothing)
  turns: number;
  firstDelta: number[];
  chunk: number[];
  chunkAfterAck: number[];
  cpuMs: number;
  settledCpuMs: number;
  databaseCpuMs: number;
  commands: number;
  gcMs: number;
  fullGcs: number;
  errors: number;
  lost: number;
  unfinished: number;
}

// Every socket sends one message at the same instant (the reply's chunks carry the socket's tag for
// `round`); the server's CPU until the last reply is complete, and until it is idle again.
async function burstRound(
  server: ServerProcess,
  llm: BenchFake,
  config: RealisticConfig,
  sockets: WebSocket[],
  history: number,
  round: number,
): Promise<Round> {
  const count = sockets.length;
  await server.settle();
  await heapSnapshot(server, `burst-${count}-${history}-${round}`);
  log(
    server,
    `${count} users${history ? ` with ${history} turns` : ''} start a turn at once (round ${round})`,
  );
  llm.fake.script = pacedScript(config.burstChunks, config.burstDelayMs);
  llm.clock.written.clear();
  llm.clock.active = true;
  const received = new Map<string, number>();
  // when each socket's ack came, by the tag its reply's chunks carry
  const acked = new Map<string, number>();
  const firstDelta: number[] = [];
  let errors = 0;
  let unfinished = 0;
  const commandsBefore = await storeCommands(server);
  const gcBefore = await server.gcPauses();
  const serverBefore = await server.cpuSeconds();
  // profiled in the first round only
  const phase = `burst-${count}${history ? `-history-${history}` : ''}`;
  const profileConfig = { profileDir: round === 1 ? config.profileDir : undefined } as Parameters<
    typeof profiled
  >[1];
  const measured = await coresDuring(server.spec.databasePid, () =>
    profiled(server, profileConfig, phase, async () => {
      const started = performance.now();
      await Promise.all(
        sockets.map(
          (socket, index) =>
            new Promise<void>((resolve) => {
              let first = true;
              const timer = setTimeout(() => {
                unfinished++;
                finish();
              }, 60_000);
              function finish(): void {
                clearTimeout(timer);
                socket.removeListener('message', onMessage);
                resolve();
              }
              function onMessage(data: Buffer): void {
                const at = performance.now();
                const frame = JSON.parse(data.toString()) as {
                  type: string;
                  metadata?: { delta?: unknown; done?: unknown };
                };
                if (frame.type === 'ai_response' && typeof frame.metadata?.delta === 'string') {
                  received.set(frame.metadata.delta, at);
                  if (first) firstDelta.push(at - started);
                  first = false;
                } else if (frame.type === 'ack') acked.set(tag(index, round), at);
                else if (frame.type === 'ai_response' && frame.metadata?.done === true) finish();
                else if (frame.type === 'error') {
                  errors++;
                  finish();
                }
              }
              socket.on('message', onMessage);
              const text = tag(index, round);
              socket.send(userMessage(`${text}-${history}`, text));
            }),
        ),
      );
      return performance.now() - started;
    }),
  );
  const cpuMs = ((await server.cpuSeconds()) - serverBefore) * 1000;
  llm.clock.active = false;
  await server.settle(250);
  const settledCpuMs = ((await server.cpuSeconds()) - serverBefore) * 1000;
  const gcAfter = await server.gcPauses();
  const commands = (await storeCommands(server)) - commandsBefore;
  const chunk: number[] = [];
  const chunkAfterAck: number[] = [];
  let lost = 0;
  for (const [token, writtenAt] of llm.clock.written) {
    // the title chatbox asks for after a first exchange is not relayed
    if (!TOKEN.test(token)) continue;
    const at = received.get(token);
    if (at === undefined) lost++;
    else if (tokenIndex(token) > 0) {
      chunk.push(at - writtenAt);
      if (writtenAt >= (acked.get(token.slice(0, TAG_WIDTH)) ?? Infinity)) chunkAfterAck.push(at - writtenAt);
    }
  }
  return {
    turns: count,
    firstDelta,
    chunk,
    chunkAfterAck,
    cpuMs,
    settledCpuMs,
    databaseCpuMs: measured.cores * measured.result,
    commands,
    gcMs: gcAfter.ms - gcBefore.ms,
    fullGcs: gcAfter.full - gcBefore.full,
    errors,
    lost,
    unfinished,
  };
}

// One turn on every socket at once; resolves when every reply is complete (bounded).
function oneTurnEach(
  sockets: WebSocket[],
  prefix: string,
  timeoutMs = 60_000,
  text = (index: number) => `${prefix} question ${index}`,
): Promise<number[]> {
  return Promise.all(
    sockets.map(
      (socket, index) =>
        new Promise<number>((resolve) => {
          const started = performance.now();
          let acked = Number.NaN;
          const timer = setTimeout(done, timeoutMs);
          function done(): void {
            clearTimeout(timer);
            socket.removeListener('message', onMessage);
            resolve(acked);
          }
          function onMessage(data: Buffer): void {
            if (data.includes('"type":"ack"') && Number.isNaN(acked)) acked = performance.now() - started;
            if (data.includes('"done":true') || data.includes('"type":"error"')) done();
          }
          socket.on('message', onMessage);
          socket.send(userMessage(`${prefix}-${index}`, text(index)));
        }),
    ),
  );
}

async function saturationPhase(
  server: ServerProcess,
  url: string,
  llm: BenchFake,
  config: RealisticConfig,
): Promise<RealisticResults['saturation']> {
  log(server, `saturation: ${config.saturationStreams} users streaming long replies back to back`);
  llm.fake.script = saturationScript(config.saturationChunks);
  const clients = await openMany(url, newUsers(server, config.saturationStreams), config.connectConcurrency);
  const measured = await coresDuring(server.spec.databasePid, () =>
    saturate(clients.sockets, server, { warmupMs: 2000, windowMs: config.saturationWindowMs }),
  );
  await closeAll(clients.sockets);
  llm.fake.reset();
  await server.settle();
  const result = measured.result;
  return {
    ...result,
    databaseCpu: measured.cores,
    serverCpuPerFrameUs: (result.serverCpu / Math.max(result.framesPerSecond, 1e-9)) * 1e6,
  };
}

// One user's session grows turn by turn; at each point of the curve, five turns and five connects
// are timed. The turns are prose, a question of ~150 characters and a reply of ~700 drawn from a
// vocabulary of a few thousand words, as a real conversation's are: the stored document grows as
// real text makes it grow (its search index too), not as a reply of one repeated word would.
async function longPhase(
  server: ServerProcess,
  url: string,
  llm: BenchFake,
  config: RealisticConfig,
): Promise<LongPoint[]> {
  const [token] = newUsers(server, 1);
  let turn = 0;
  llm.fake.script = { reply: () => prose(turn++ * 7919, 700), chunkSize: 28, delayMs: 0 };
  const ask = (index: number) => prose((turns + index) * 104729 + 1, 150);
  let socket = (await openMany(url, [token], 1)).sockets[0];
  const points: LongPoint[] = [];
  let turns = 0;
  for (const target of config.longTurns) {
    log(server, `long session: growing to ${target} turns`);
    while (turns < target - 5) {
      await oneTurnEach([socket], `l${turns}`, 60_000, ask);
      turns++;
    }
    const sendToAck: number[] = [];
    const firstDelta: number[] = [];
    for (let index = 0; index < 5; index++) {
      const started = performance.now();
      let first = Number.NaN;
      const onDelta = (data: Buffer): void => {
        if (Number.isNaN(first) && data.includes('"done":false')) first = performance.now() - started;
      };
      socket.on('message', onDelta);
      const [acked] = await oneTurnEach([socket], `m${turns}`, 60_000, ask);
      socket.removeListener('message', onDelta);
      sendToAck.push(acked);
      firstDelta.push(first);
      turns++;
    }
    const connects: number[] = [];
    for (let index = 0; index < 5; index++) {
      await closeAll([socket]);
      const opened = await openMany(url, [token], 1);
      socket = opened.sockets[0];
      connects.push(opened.latencies[0]);
    }
    points.push({
      turns,
      sendToAck: summarize(sendToAck),
      sendToFirstDelta: summarize(firstDelta),
      connect: summarize(connects),
    });
  }
  await closeAll([socket]);
  llm.fake.reset();
  await sleep(100);
  return points;
}
