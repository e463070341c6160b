// The two streaming workloads. Each client sends a user_message, reads the streamed reply and sends
// the next one as soon as the final frame (done:true) arrives, until the phase ends.
import { setTimeout as sleep } from 'node:timers/promises';
import type WebSocket from 'ws';
import { userMessage } from './clients';
import { tag, tokenIndex, type ChunkClock } from './fake-llm';
import type { ServerProcess } from './server-process';

const DELTA = '"done":false';
const FINAL = '"done":true';
const ERROR = '"type":"error"';
const TOKEN = /^c\d{5}t\d{3}:\d{3}\|$/;

export interface SaturationResult {
  framesPerSecond: number;
  repliesPerSecond: number;
  // share of one core used during the window
  serverCpu: number;
  benchCpu: number;
  errors: number;
}

// Counts delta frames per second over `windowMs`, after `warmupMs` of the same load. Frames are
// recognised by substring so the load generator spends as little CPU per frame as it can.
export async function saturate(
  sockets: WebSocket[],
  server: ServerProcess,
  options: { warmupMs: number; windowMs: number },
): Promise<SaturationResult> {
  let counting = false;
  let running = true;
  let frames = 0;
  let replies = 0;
  let errors = 0;
  let inFlight = 0;
  sockets.forEach((socket, index) => {
    let turn = 0;
    const sendNext = (): void => {
      if (!running) return;
      inFlight++;
      socket.send(userMessage(`s${index}-${turn++}`, 'go'));
    };
    socket.on('message', (data: Buffer) => {
      if (data.includes(DELTA)) {
        if (counting) frames++;
      } else if (data.includes(FINAL)) {
        if (counting) replies++;
        inFlight--;
        sendNext();
      } else if (data.includes(ERROR)) {
        errors++;
        inFlight--;
        setTimeout(sendNext, 100);
      }
    });
    sendNext();
  });
  await sleep(options.warmupMs);
  const serverBefore = await server.cpuSeconds();
  const benchBefore = process.cpuUsage();
  const started = performance.now();
  counting = true;
  await sleep(options.windowMs);
  counting = false;
  const seconds = (performance.now() - started) / 1000;
  const serverCpu = (await server.cpuSeconds()) - serverBefore;
  const bench = process.cpuUsage(benchBefore);
  running = false;
  await waitUntil(() => inFlight <= 0, 10_000);
  for (const socket of sockets) socket.removeAllListeners('message');
  return {
    framesPerSecond: frames / seconds,
    repliesPerSecond: replies / seconds,
    serverCpu: serverCpu / seconds,
    benchCpu: (bench.user + bench.system) / 1e6 / seconds,
    errors,
  };
}

export interface PacedResult {
  // fake write → client receipt, ms, for chunks after the first
  chunkMs: number[];
  // same for the first chunk of each reply: the time-to-first-token the relay adds
  firstChunkMs: number[];
  // user_message sent → first delta received, ms (includes the server's work before the LLM call)
  sendToFirstDeltaMs: number[];
  chunksLost: number;
  errors: number;
}

// Replies paced by the fake; every chunk is matched to its write time through its token. A client
// waits `thinkMs` after each reply, as a person would; clients start spread over `spreadMs` so
// chunks do not arrive in lockstep; turn 0 only warms up.
export async function paced(
  sockets: WebSocket[],
  clock: ChunkClock,
  options: { durationMs: number; spreadMs: number; thinkMs: number },
): Promise<PacedResult> {
  const received = new Map<string, number>();
  const sendToFirst: number[] = [];
  let running = true;
  let inFlight = 0;
  let errors = 0;
  clock.written.clear();
  clock.active = true;
  sockets.forEach((socket, index) => {
    let turn = 0;
    let sentAt = 0;
    let first = true;
    const sendNext = (): void => {
      if (!running) return;
      inFlight++;
      first = true;
      sentAt = performance.now();
      const text = tag(index, turn++);
      socket.send(userMessage(text, text));
    };
    socket.on('message', (data: Buffer) => {
      const at = performance.now();
      const frame = JSON.parse(data.toString()) as {
        type: string;
        metadata?: { delta?: unknown; done?: unknown };
      };
      if (
        frame.type === 'ai_response' &&
        frame.metadata?.done === false &&
        typeof frame.metadata.delta === 'string'
      ) {
        received.set(frame.metadata.delta, at);
        if (first && turn > 1) sendToFirst.push(at - sentAt);
        first = false;
      } else if (frame.type === 'ai_response' && frame.metadata?.done === true) {
        inFlight--;
        setTimeout(sendNext, options.thinkMs);
      } else if (frame.type === 'error') {
        errors++;
        inFlight--;
        setTimeout(sendNext, 100);
      }
    });
    setTimeout(sendNext, (options.spreadMs * index) / sockets.length);
  });
  await sleep(options.durationMs);
  running = false;
  await waitUntil(() => inFlight <= 0, 10_000);
  clock.active = false;
  for (const socket of sockets) socket.removeAllListeners('message');

  const result: PacedResult = {
    chunkMs: [],
    firstChunkMs: [],
    sendToFirstDeltaMs: sendToFirst,
    chunksLost: 0,
    errors,
  };
  for (const [token, writtenAt] of clock.written) {
    // other LLM calls (chatbox asks for a session title after the first message) are not relayed
    if (!TOKEN.test(token)) continue;
    // turn 000 of every client is warm-up (new LLM connections, cold code paths)
    if (token.endsWith('t000', token.indexOf(':'))) continue;
    const at = received.get(token);
    if (at === undefined) {
      result.chunksLost++;
      continue;
    }
    (tokenIndex(token) === 0 ? result.firstChunkMs : result.chunkMs).push(at - writtenAt);
  }
  return result;
}

// One user_message per socket; resolves when every reply is complete (bounded).
export async function replyOnce(sockets: WebSocket[], timeoutMs = 30_000): Promise<void> {
  let pending = sockets.length;
  sockets.forEach((socket, index) => {
    const onMessage = (data: Buffer): void => {
      if (!data.includes(FINAL) && !data.includes(ERROR)) return;
      pending--;
      socket.off('message', onMessage);
    };
    socket.on('message', onMessage);
    socket.send(userMessage(`w${index}`, 'hello'));
  });
  await waitUntil(() => pending <= 0, timeoutMs);
}

async function waitUntil(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done() && Date.now() < deadline) await sleep(20);
}
