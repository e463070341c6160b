// `npm run bench:rooms` (scripts/bench-rooms.sh): people chatting in rooms (issue 14), chatbox
// (dist/main.js, as deployed) and a bare `ws` broadcast (bench/rooms-bare-server.ts) in one run,
// each a child process measured from outside, under the same client load. Phases (bench/README.md,
// "Rooms"): steady traffic with memory per connection, fan-out to one big room, the rate limit,
// two instances (cross-instance delivery and the seq check) and history reads on a seeded store.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TEST_JWT_SECRET } from '../test/helpers/env';
import { userToken } from '../test/helpers/tokens';
import { closeAll, openMany } from './clients';
import { summarizeProfile } from './cpu-profile';
import { renderRooms, type RoomsResults, type Latency } from './report-rooms';
import { seedStore, type SeededStore } from './rooms-seed';
import { chatFrame, coverage, joinAll, messageId, paced, Recorder, type Member } from './rooms-load';
import { imageEnv, podNote } from './pod-memory';
import { cpuSecondsOf, freePort, ServerProcess, type ServerSpec } from './server-process';
import { percentile } from './stats';

// compiled into .data/bench-rooms/build/bench/
const ROOT = resolve(__dirname, '..', '..', '..', '..');
const DATA = join(ROOT, '.data', 'bench-rooms');
const HOST = '127.0.0.1';

function whole(name: string, fallback: number): number {
  const raw = process.env[name];
  return raw && /^\d+$/.test(raw) ? Number(raw) : fallback;
}

const PHASES = new Set(
  (process.env.BENCH_ROOMS_PHASES ?? 'steady,fanout,rate,cross,history')
    .split(',')
    .map((phase) => phase.trim()),
);

export const config = {
  connections: whole('BENCH_ROOMS_CONNECTIONS', 1000),
  roomSize: whole('BENCH_ROOMS_ROOM_SIZE', 10),
  perMinute: whole('BENCH_ROOMS_PER_MINUTE', 10_000),
  seconds: whole('BENCH_ROOMS_SECONDS', 60),
  warmupSeconds: whole('BENCH_ROOMS_WARMUP_SECONDS', 5),
  crossSeconds: whole('BENCH_ROOMS_CROSS_SECONDS', 30),
  fanoutMembers: whole('BENCH_ROOMS_FANOUT_MEMBERS', 1000),
  fanoutSenders: whole('BENCH_ROOMS_FANOUT_SENDERS', 60),
  fanoutSeconds: whole('BENCH_ROOMS_FANOUT_SECONDS', 10),
  rateLimit: whole('BENCH_ROOMS_RATE_LIMIT', 10),
  rateUsers: whole('BENCH_ROOMS_RATE_USERS', 5),
  seedRooms: whole('BENCH_ROOMS_SEED_ROOMS', 1000),
  seedMessages: whole('BENCH_ROOMS_MESSAGES', 1_000_000),
  reads: whole('BENCH_ROOMS_READS', 200),
  readConcurrency: whole('BENCH_ROOMS_READ_CONCURRENCY', 4),
  readSeconds: whole('BENCH_ROOMS_READ_SECONDS', 120),
  connectConcurrency: 100,
};

const FERRETDB_URL = process.env.BENCH_FERRETDB_URL ?? process.env.TEST_MONGODB_URL ?? '';
const FERRETDB_PID = whole('BENCH_FERRETDB_PID', 0) || undefined;
const MONGODB_URL = process.env.BENCH_MONGODB_URL ?? '';
const REDIS_URL = process.env.BENCH_REDIS_URL ?? process.env.TEST_REDIS_URL ?? '';
// the live phases' store: FerretDB, or MongoDB with BENCH_ROOMS_LIVE_STORE=mongodb
const LIVE_ON_MONGODB = process.env.BENCH_ROOMS_LIVE_STORE === 'mongodb';
const QUIET_SECONDS = whole('BENCH_ROOMS_QUIET_SECONDS', 10);
// For its first 30 s on Redis an instance takes the store's lock beside Redis's for every locked
// write (docs/protocol.md, "The session lock": another instance may still be on the store's alone),
// two more store commands each: a deployment's steady state begins after it.
const LOCK_RECOVERY_SECONDS = 32;

async function pastLockRecovery(target: Target): Promise<void> {
  if (!target.chatbox) return;
  const wait =
    Math.max(...target.servers.map((one) => one.startedAt + LOCK_RECOVERY_SECONDS * 1000)) -
    performance.now();
  if (wait <= 0) return;
  log(`${target.name}: waiting ${(wait / 1000).toFixed(0)} s, past the lock's first 30 s on Redis`);
  await sleep(wait);
}
const run = randomBytes(3).toString('hex');

function log(text: string): void {
  console.log(`[rooms] ${text}`);
}

async function chatboxSpec(
  name: string,
  mongoUri: string,
  key: string,
  extra: Record<string, string> = {},
): Promise<ServerSpec> {
  const port = await freePort();
  return {
    name,
    script: join(ROOT, 'dist', 'main.js'),
    host: HOST,
    port,
    logFile: join(DATA, `${name.replace(/\W+/g, '-')}.log`),
    databasePid: LIVE_ON_MONGODB ? undefined : FERRETDB_PID,
    readyTimeoutMs: 300_000,
    env: {
      // every server runs with the Docker image's environment (allocator and Node settings)
      ...imageEnv(),
      MONGODB_URI: mongoUri,
      REDIS_URL,
      JWT_SECRET: TEST_JWT_SECRET,
      ENCRYPTION_KEY: key,
      PORT: String(port),
      HOST,
      LOG_LEVEL: 'warn',
      ALLOWED_ORIGINS: '',
      // rooms use no model; the setting is required
      LLM_PROVIDERS: JSON.stringify([
        {
          id: 'none',
          name: 'None',
          type: 'openai',
          model: 'none',
          endpoint: 'http://127.0.0.1:9/v1',
          api_key: 'k',
        },
      ]),
      ROOM_RATE_LIMIT_MESSAGES_PER_SECOND: String(config.rateLimit),
      HEARTBEAT_INTERVAL: '60s',
      // the bench measures sockets, not their bounds
      MAX_SOCKETS_PER_USER: '100000',
      MAX_SOCKETS: '1000000',
      CONNECT_RATE_PER_USER: '1000000',
      SHUTDOWN_GRACE: '1s',
      ...extra,
    },
  };
}

async function bareSpec(): Promise<ServerSpec> {
  const port = await freePort();
  return {
    name: 'bare ws',
    script: join(__dirname, 'rooms-bare-server.js'),
    host: HOST,
    port,
    logFile: join(DATA, 'bare.log'),
    env: { ...imageEnv(), PORT: String(port), HOST },
  };
}

// One or more server processes serving the same rooms.
interface Target {
  name: string;
  chatbox: boolean;
  servers: ServerProcess[];
}

const wsUrl = (server: ServerProcess): string => `ws://${server.spec.host}:${server.spec.port}/ws/chat`;
const apiUrl = (server: ServerProcess): string =>
  `http://${server.spec.host}:${server.spec.port}/api/v1/chat`;

async function api<T>(
  server: ServerProcess,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const response = await fetch(`${apiUrl(server)}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  });
  if (!response.ok) throw new Error(`${method} ${path}: HTTP ${response.status}`);
  return (await response.json()) as T;
}

async function pool<T>(items: T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await work(items[next++]);
    }),
  );
}

interface MemberPlan {
  user: string;
  token: string;
  instance: number;
  room: string;
}

// Rooms of `size` members; member i of a room on instance i mod `instances` (so with two instances
// every room has members on both). Rooms are created by their first member (chatbox: REST).
async function planRooms(
  target: Target,
  prefix: string,
  count: number,
  size: number,
  instances: number,
): Promise<MemberPlan[]> {
  const plans: MemberPlan[] = [];
  for (let room = 0; room < count; room++)
    for (let member = 0; member < size; member++) {
      const user = `${prefix}-${run}-u${room * size + member}`;
      plans.push({
        user,
        token: userToken(user),
        instance: member % instances,
        room: `${prefix}-${run}-r${room}`,
      });
    }
  if (!target.chatbox) return plans;
  const ids = new Map<string, string>();
  const owners = plans.filter((_, index) => index % size === 0);
  await pool(owners, 10, async (owner) => {
    const room = await api<{ id: string }>(target.servers[0], owner.token, 'POST', '/rooms', {
      name: owner.room,
      kind: 'public',
    });
    ids.set(owner.room, room.id);
  });
  for (const plan of plans) plan.room = ids.get(plan.room) as string;
  return plans;
}

async function openMembers(target: Target, plans: MemberPlan[], recorder: Recorder, probe?: number) {
  const members: Member[] = new Array<Member>(plans.length);
  let failures = 0;
  await pool(
    plans.map((plan, index) => ({ plan, index })),
    config.connectConcurrency,
    async ({ plan, index }) => {
      const opened = await openMany(wsUrl(target.servers[plan.instance]), [plan.token], 1, 30_000, true);
      if (opened.sockets.length === 0) {
        failures++;
        return;
      }
      members[index] = {
        index,
        user: plan.user,
        token: plan.token,
        socket: opened.sockets[0],
        instance: plan.instance,
        room: plan.room,
        joinSeq: 0,
        lastChat: 0,
        outOfOrder: 0,
        seqs: [],
      };
      recorder.attach(members[index], index === probe);
    },
  );
  if (failures > 0) throw new Error(`${target.name}: ${failures} sockets failed to open`);
  return members;
}

// every other sample from `first`, rounded, for a log line
function ms(samples: number[], first: number): string {
  return samples
    .filter((_, index) => index % 2 === first)
    .map((value) => value.toFixed(0))
    .join(' ');
}

function latency(samples: number[]): Latency {
  const sorted = Array.from(Float64Array.from(samples).sort());
  return {
    count: sorted.length,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.length > 0 ? sorted[sorted.length - 1] : Number.NaN,
  };
}

// CPU seconds of the servers, the store and this process (the load generator) while `work` runs.
async function measured<T>(target: Target, work: () => Promise<T>) {
  const cpu = async () =>
    Promise.all(target.servers.map((server) => server.cpuSeconds())).then((all) =>
      all.reduce((a, b) => a + b, 0),
    );
  const databasePid = target.chatbox ? target.servers[0].spec.databasePid : undefined;
  const serverBefore = await cpu();
  const databaseBefore = databasePid ? await cpuSecondsOf(databasePid) : 0;
  const ownBefore = process.cpuUsage();
  const started = performance.now();
  const result = await work();
  const seconds = (performance.now() - started) / 1000;
  const own = process.cpuUsage(ownBefore);
  return {
    result,
    seconds,
    serverCores: ((await cpu()) - serverBefore) / seconds,
    databaseCores: databasePid ? ((await cpuSecondsOf(databasePid)) - databaseBefore) / seconds : Number.NaN,
    loadCores: (own.user + own.system) / 1e6 / seconds,
  };
}

// every room's stored seqs are 1..head, once each (read back through the REST history, paged)
async function storeCheck(target: Target, members: Member[]): Promise<{ rooms: number; bad: number }> {
  const byRoom = new Map<string, Member>();
  for (const member of members) if (!byRoom.has(member.room)) byRoom.set(member.room, member);
  let bad = 0;
  await pool([...byRoom.values()], 8, async (member) => {
    const seqs: number[] = [];
    let before: number | null | undefined;
    for (;;) {
      const query = before === undefined ? '' : `&before=${before}`;
      const page = await api<{ items: { seq: number }[]; next_before: number | null }>(
        target.servers[target.servers.length - 1],
        member.token,
        'GET',
        `/rooms/${member.room}/messages?limit=100${query}`,
      );
      seqs.unshift(...page.items.map((item) => item.seq));
      if (page.items.length === 0 || page.next_before === null || page.next_before <= 1) break;
      before = page.next_before;
    }
    if (!seqs.every((seq, index) => seq === index + 1)) bad++;
  });
  return { rooms: byRoom.size, bad };
}

export interface SteadyResult {
  instances: number;
  connections: number;
  rooms: number;
  sent: number;
  delivery: Latency;
  cross: Latency;
  ack: Latency;
  expected: number;
  errors: number;
  missing: number;
  doubled: number;
  outOfOrder: number;
  store?: { rooms: number; bad: number };
  serverCores: number;
  databaseCores: number;
  loadCores: number;
  memory?: {
    rssPerConnectionGc: number;
    rssPerConnectionNoGc: number;
    // of it, V8's young generation growing back after the forced GC before the joins (per process)
    youngPerConnectionNoGc: number;
    // the V8 heap and external memory per connection without a forced GC (garbage included), and
    // RSS again after `quietSeconds` more of quiet (BENCH_ROOMS_QUIET_SECONDS), still without one
    heapPerConnectionNoGc: number;
    rssPerConnectionQuiet: number;
    quietSeconds: number;
    heapPerConnection: number;
    rssTotal: number;
  };
  joinFailures: number;
}

// `config.connections` users in rooms of `config.roomSize`, each sending at its own pace
// (`config.perMinute` in all). With `memory`, RSS is read before the sockets open and after they
// joined (one instance).
async function steady(
  target: Target,
  label: string,
  seconds: number,
  memory: boolean,
): Promise<SteadyResult> {
  const instances = target.servers.length;
  const rooms = Math.max(1, Math.floor(config.connections / config.roomSize));
  log(`${target.name}: ${label}: ${rooms * config.roomSize} users in ${rooms} rooms of ${config.roomSize}`);
  const plans = await planRooms(target, `s${instances}`, rooms, config.roomSize, instances);
  const server = target.servers[0];
  await pastLockRecovery(target);
  let before: Awaited<ReturnType<ServerProcess['memoryAfterGc']>> | undefined;
  if (memory) {
    const warm = await openMany(
      wsUrl(server),
      Array.from({ length: 100 }, (_, index) => userToken(`warm-${run}-${index}`)),
      50,
    );
    await closeAll(warm.sockets);
    await server.settle();
    before = await server.memoryAfterGc();
  }
  const recorder = new Recorder();
  // BENCH_ROOMS_HEAP_SAMPLE=1: where the joins' memory was allocated, garbage included
  const stopSampling =
    memory && process.env.BENCH_ROOMS_HEAP_SAMPLE === '1' ? await server.sampleHeap() : undefined;
  const members = await openMembers(target, plans, recorder);
  const joinFailures = await joinAll(members, recorder, 20);
  await Promise.all(target.servers.map((one) => one.settle()));
  if (stopSampling) {
    const file = join(DATA, `${target.name.replace(/\W+/g, '-')}-joins.heapprofile`);
    await stopSampling(file);
    log(`${target.name}: heap sampled over the joins: ${file}`);
  }
  let memoryResult: SteadyResult['memory'];
  if (memory && before) {
    const now = await server.memoryNow();
    await sleep(QUIET_SECONDS * 1000);
    const quiet = await server.rssBytes();
    const after = await server.memoryAfterGc();
    memoryResult = {
      rssPerConnectionNoGc: (now.rssBytes - before.rssBytes) / members.length,
      youngPerConnectionNoGc: (now.youngResidentBytes - before.youngResidentBytes) / members.length,
      heapPerConnectionNoGc:
        (now.heapUsedBytes + now.externalBytes - before.heapUsedBytes - before.externalBytes) /
        members.length,
      rssPerConnectionQuiet: (quiet - before.rssBytes) / members.length,
      quietSeconds: QUIET_SECONDS,
      rssPerConnectionGc: (after.rssBytes - before.rssBytes) / members.length,
      heapPerConnection:
        (after.heapUsedBytes + after.externalBytes - before.heapUsedBytes - before.externalBytes) /
        members.length,
      rssTotal: after.rssBytes,
    };
  }
  log(`${target.name}: ${config.perMinute} messages/min for ${seconds} s`);
  // seqs received since the joins stay: later members' join messages are part of each room's 1..n
  const started = performance.now();
  recorder.windowStart = started + config.warmupSeconds * 1000;
  recorder.windowEnd = started + seconds * 1000;
  const load = await measured(target, async () => {
    const sent = await paced(members, config.perMinute / 60, seconds * 1000);
    // the last messages' deliveries
    await sleep(2000);
    return sent;
  });
  const covered = coverage(members);
  const store = target.chatbox ? await storeCheck(target, members) : undefined;
  await closeAll(members.map((member) => member.socket));
  await Promise.all(target.servers.map((one) => one.settle()));
  return {
    instances,
    connections: members.length,
    rooms,
    sent: load.result,
    delivery: latency(recorder.deliveries),
    cross: latency(recorder.crossDeliveries),
    ack: latency(recorder.acks),
    expected: recorder.acks.length * (config.roomSize - 1),
    errors: recorder.errorCount(),
    ...covered,
    store,
    serverCores: load.serverCores,
    databaseCores: load.databaseCores,
    loadCores: load.loadCores,
    memory: memoryResult,
    joinFailures,
  };
}

export interface FanoutResult {
  members: number;
  senders: number;
  messagesPerSecond: number;
  deliveriesPerSecond: number;
  deliveriesPerCpuSecond: number;
  serverCores: number;
  databaseCores: number;
  loadCores: number;
  outOfOrder: number;
  timeouts: number;
  // error frames to the senders (RATE_LIMITED if they ever outpace the limit)
  refused: number;
  // messages/s the senders would send if every message reached the probe at once
  ceiling: number;
}

// each fan-out sender stays under its rate limit
const SENDER_SHARE_OF_LIMIT = 0.5;

// One room of `config.fanoutMembers`; `config.fanoutSenders` of them each send a message, wait until
// the room's last member (the last in every fan-out loop) has it, and send the next, at most at
// half the rate limit each (at 80%, a smoke run still saw refusals: hits reach the
// fixed window bunched): the servers' fan-out, not the senders, sets the pace.
// BENCH_PROFILE=1: the first server's CPU profile of a phase's window (it slows the server, so the
// numbers of that run are not results), saved beside the data and summed up in the log
async function profileWindow(target: Target, phase: string, work: () => Promise<unknown>): Promise<void> {
  const { profile } = await target.servers[0].profile(work);
  const file = join(DATA, `${target.name.replace(/\W+/g, '-')}-${phase}.cpuprofile`);
  writeFileSync(file, JSON.stringify(profile));
  log(`${target.name}: CPU profile of the ${phase} window: ${file}\n${summarizeProfile(profile, 25)}`);
}

async function fanout(target: Target): Promise<FanoutResult> {
  const size = config.fanoutMembers;
  log(`${target.name}: fan-out: one room of ${size} members, ${config.fanoutSenders} senders`);
  const plans = await planRooms(target, 'f', 1, size, 1);
  if (target.chatbox)
    // members first (their join messages reach nobody yet), then the sockets subscribe
    await pool(plans.slice(1), 20, async (plan) => {
      await api(target.servers[0], plan.token, 'POST', `/rooms/${plan.room}/join`);
    });
  const recorder = new Recorder();
  const probe = size - 1;
  const members = await openMembers(target, plans, recorder, probe);
  for (const member of members) member.seqs = null;
  // one at a time, so the probe subscribes last
  await joinAll(members.slice(0, probe), recorder, 20);
  await joinAll([members[probe]], recorder, 1);
  await target.servers[0].settle();
  const senders = members.slice(0, Math.min(config.fanoutSenders, probe));
  const minGapMs = 1000 / (config.rateLimit * SENDER_SHARE_OF_LIMIT);
  let stop = false;
  let timeouts = 0;
  let refused = 0;
  let seen = 0;
  let windowOpen = false;
  const debugStart = performance.now();
  const loops = senders.map(async (sender) => {
    let lastSent = 0;
    for (let k = 0; !stop; k++) {
      const sentAt = performance.now();
      const clientId = messageId(sender, k);
      const arrived = recorder.wait(clientId, 10_000, true);
      // a refusal (the rate limit) never reaches the probe: stop waiting for it
      const refusal = recorder
        .wait(clientId, 10_000)
        .then((answer) => (answer.type === 'error' ? answer : arrived));
      sender.socket.send(chatFrame(sender.room, clientId, 80));
      const answer = await Promise.race([arrived, refusal]);
      if (answer.type === 'chat') {
        if (windowOpen) seen++;
      } else if (answer.code === 'TIMEOUT') timeouts++;
      else {
        refused++;
        if (process.env.BENCH_ROOMS_DEBUG)
          log(
            `refused: sender ${sender.index} k ${k} at ${(sentAt - debugStart).toFixed(0)} ms, gap ${(sentAt - lastSent).toFixed(0)} ms`,
          );
      }
      lastSent = sentAt;
      const wait = minGapMs - (performance.now() - sentAt);
      if (wait > 0) await sleep(wait);
    }
  });
  await sleep(2000);
  const deliveredBefore = recorder.delivered;
  windowOpen = true;
  const window = await measured(target, () =>
    process.env.BENCH_PROFILE === '1'
      ? profileWindow(target, 'fanout', () => sleep(config.fanoutSeconds * 1000))
      : sleep(config.fanoutSeconds * 1000),
  );
  windowOpen = false;
  const delivered = recorder.delivered - deliveredBefore;
  stop = true;
  await Promise.all(loops);
  const outOfOrder = members.reduce((sum, member) => sum + member.outOfOrder, 0);
  if (recorder.errors.size > 0)
    log(`${target.name}: fan-out error frames: ${JSON.stringify([...recorder.errors])}`);
  await closeAll(members.map((member) => member.socket));
  await target.servers[0].settle();
  const deliveriesPerSecond = delivered / window.seconds;
  return {
    members: size,
    senders: senders.length,
    messagesPerSecond: seen / window.seconds,
    deliveriesPerSecond,
    deliveriesPerCpuSecond: deliveriesPerSecond / Math.max(window.serverCores, 1e-9),
    serverCores: window.serverCores,
    databaseCores: window.databaseCores,
    loadCores: window.loadCores,
    outOfOrder,
    timeouts,
    refused,
    ceiling: senders.length * config.rateLimit * SENDER_SHARE_OF_LIMIT,
  };
}

export interface RateResult {
  users: number;
  limit: number;
  sent: number;
  acked: number;
  refused: number;
  withRetryAfter: number;
  recoverable: number;
  retryAfterMax: number;
  retriedOk: number;
  other: number;
}

// Each user sends twice the limit back to back, then, refused, waits the refusal's retry_after and
// sends once more: that one must be acked.
async function rate(target: Target): Promise<RateResult> {
  log(`${target.name}: rate limit: ${config.rateUsers} users send ${config.rateLimit * 2} messages at once`);
  const plans = await planRooms(target, 'rl', config.rateUsers, 1, 1);
  const recorder = new Recorder();
  const members = await openMembers(target, plans, recorder);
  const result: RateResult = {
    users: members.length,
    limit: config.rateLimit,
    sent: 0,
    acked: 0,
    refused: 0,
    withRetryAfter: 0,
    recoverable: 0,
    retryAfterMax: 0,
    retriedOk: 0,
    other: 0,
  };
  await Promise.all(
    members.map(async (member) => {
      const answers = Array.from({ length: config.rateLimit * 2 }, (_, k) => {
        const clientId = messageId(member, k);
        const answer = recorder.wait(clientId);
        member.socket.send(chatFrame(member.room, clientId, 40));
        result.sent++;
        return answer;
      });
      let retryAfter = 0;
      for (const answer of await Promise.all(answers)) {
        if (answer.type === 'ack') result.acked++;
        else if (answer.code === 'RATE_LIMITED') {
          result.refused++;
          if (typeof answer.retryAfter === 'number') {
            result.withRetryAfter++;
            retryAfter = Math.max(retryAfter, answer.retryAfter);
          }
          if (answer.recoverable === true) result.recoverable++;
        } else result.other++;
      }
      result.retryAfterMax = Math.max(result.retryAfterMax, retryAfter);
      await sleep(retryAfter);
      const clientId = messageId(member, 1000);
      const answer = recorder.wait(clientId);
      member.socket.send(chatFrame(member.room, clientId, 40));
      if ((await answer).type === 'ack') result.retriedOk++;
    }),
  );
  await closeAll(members.map((member) => member.socket));
  return result;
}

export interface HistoryResult {
  store: string;
  rooms: number;
  messages: number;
  seededMs: number;
  // asked for; `history.count` and `list.count` were done within the budget
  reads: number;
  history: Latency;
  list: Latency;
  failures: number;
  // while the reads ran (the store's only when it is the FerretDB this script started)
  serverCores: number;
  databaseCores: number;
}

// History pages (the newest 100) and room lists of seeded members, `config.readConcurrency` at a time.
async function history(store: string, baseUrl: string): Promise<HistoryResult> {
  const seeded: SeededStore = await seedStore(
    baseUrl,
    config.seedRooms,
    config.seedMessages,
    (text) => log(`${store}: ${text}`),
    process.env.BENCH_ROOMS_RESEED === '1',
  );
  const spec = await chatboxSpec(
    `chatbox-history-${store}`,
    `${baseUrl.replace(/\/+$/, '')}/${seeded.database}`,
    seeded.key,
    {
      // the seeded messages are up to 30 days old; the cache must outlive many runs
      ROOM_RETENTION: '3650d',
    },
  );
  spec.databasePid = store === 'FerretDB' ? FERRETDB_PID : undefined;
  log(`${store}: starting chatbox on the seeded store (the first start builds the retention index)`);
  const server = await ServerProcess.start(spec);
  const target: Target = { name: `chatbox (${store})`, chatbox: true, servers: [server] };
  let failures = 0;
  // a read that fails or times out counts with the time it took
  const timed = async (samples: number[], path: string, token: string, check: (body: unknown) => boolean) => {
    const started = performance.now();
    let ok = false;
    try {
      ok = check(await api<unknown>(server, token, 'GET', path));
    } catch {
      ok = false;
    }
    samples.push(performance.now() - started);
    if (!ok) failures++;
  };
  const tokens = new Map(seeded.users.map((user) => [user, userToken(user)]));
  const reads = Array.from({ length: config.reads }, (_, index) => {
    const room = seeded.rooms[(index * 7919) % seeded.rooms.length];
    const members = seeded.members.get(room) as string[];
    return { room, token: tokens.get(members[index % members.length]) as string };
  });
  const perRoom = Math.floor(config.seedMessages / config.seedRooms);
  const page = (body: unknown): boolean => {
    const items = (body as { items?: { content?: unknown }[] }).items ?? [];
    return items.length === Math.min(100, perRoom) && items.every((item) => typeof item.content === 'string');
  };
  const list = (body: unknown): boolean => Array.isArray(body) && body.length > 0;
  const warm: number[] = [];
  for (const read of reads.slice(0, 2)) {
    await timed(warm, `/rooms/${read.room}/messages?limit=100`, read.token, page);
    await timed(warm, '/rooms', read.token, list);
  }
  log(`${store}: warm-up reads: history ${ms(warm, 0)}, list ${ms(warm, 1)} ms, ${failures} failed`);
  failures = 0;
  // each kind of read stops at its time budget: a store that scans makes a million messages take hours
  const budgeted = async (
    samples: number[],
    path: (read: (typeof reads)[number]) => string,
    check: (body: unknown) => boolean,
  ) => {
    const deadline = performance.now() + config.readSeconds * 1000;
    await pool(reads, config.readConcurrency, async (read) => {
      if (performance.now() < deadline) await timed(samples, path(read), read.token, check);
    });
  };
  log(
    `${store}: ${config.reads} history reads, then ${config.reads} room lists (at most ${config.readSeconds} s each)`,
  );
  const historySamples: number[] = [];
  const listSamples: number[] = [];
  const reading = async () => {
    await budgeted(historySamples, (read) => `/rooms/${read.room}/messages?limit=100`, page);
    await budgeted(listSamples, () => '/rooms', list);
  };
  const cpu = await measured(target, () =>
    process.env.BENCH_PROFILE === '1' ? profileWindow(target, 'history', reading) : reading(),
  );
  await server.stop();
  return {
    store,
    rooms: config.seedRooms,
    messages: config.seedMessages,
    seededMs: seeded.seededMs,
    reads: config.reads,
    history: latency(historySamples),
    list: latency(listSamples),
    failures,
    serverCores: cpu.serverCores,
    databaseCores: cpu.databaseCores,
  };
}

async function main(): Promise<void> {
  mkdirSync(DATA, { recursive: true });
  if (!FERRETDB_URL && !MONGODB_URL) throw new Error('BENCH_FERRETDB_URL or BENCH_MONGODB_URL is required');
  if (!REDIS_URL)
    throw new Error(
      'BENCH_REDIS_URL is required (chatbox counts rate limits and crosses instances in Redis)',
    );
  const liveBase = LIVE_ON_MONGODB ? MONGODB_URL : FERRETDB_URL;
  const liveUri = `${liveBase.replace(/\/+$/, '')}/bench_rooms_live_${run}`;
  const results: RoomsResults = { config, history: [] };
  const wantLive = ['steady', 'fanout', 'rate', 'cross'].some((phase) => PHASES.has(phase));
  const startedAt = performance.now();

  if (wantLive && (PHASES.has('steady') || PHASES.has('fanout'))) {
    const bare = await ServerProcess.start(await bareSpec());
    const target: Target = { name: 'bare ws', chatbox: false, servers: [bare] };
    try {
      if (PHASES.has('steady'))
        results.bareSteady = await steady(target, 'steady traffic', config.seconds, true);
      if (PHASES.has('fanout')) results.bareFanout = await fanout(target);
    } finally {
      await bare.stop();
    }
  }

  if (wantLive) {
    const key = randomBytes(32).toString('base64');
    const first = await ServerProcess.start(await chatboxSpec('chatbox', liveUri, key));
    const target: Target = { name: 'chatbox', chatbox: true, servers: [first] };
    try {
      if (PHASES.has('steady'))
        results.chatboxSteady = await steady(target, 'steady traffic', config.seconds, true);
      if (PHASES.has('fanout')) results.chatboxFanout = await fanout(target);
      if (PHASES.has('rate')) results.rate = await rate(target);
      if (PHASES.has('cross')) {
        const second = await ServerProcess.start(await chatboxSpec('chatbox-2', liveUri, key));
        try {
          results.cross = await steady(
            { name: 'chatbox ×2', chatbox: true, servers: [first, second] },
            'two instances',
            config.crossSeconds,
            false,
          );
        } finally {
          await second.stop();
        }
      }
    } finally {
      await first.stop();
      await dropLive(liveUri);
    }
  }

  if (PHASES.has('history')) {
    if (FERRETDB_URL) results.history.push(await history('FerretDB', FERRETDB_URL));
    if (MONGODB_URL) results.history.push(await history('MongoDB', MONGODB_URL));
  }

  results.elapsedSeconds = (performance.now() - startedAt) / 1000;
  const report = `${podNote()}\n\n${renderRooms(results)}`;
  console.log(`\n${report}\n`);
  writeFileSync(join(DATA, 'last-run.md'), `${report}\n`);
  writeFileSync(join(DATA, 'last-run.json'), `${JSON.stringify(results, null, 2)}\n`);
  process.exit(0);
}

async function dropLive(uri: string): Promise<void> {
  const { default: mongoose } = await import('mongoose');
  const connection = await mongoose.createConnection(uri).asPromise();
  await connection.dropDatabase().catch(() => undefined);
  await connection.close();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
