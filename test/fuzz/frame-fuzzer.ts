import fc from 'fast-check';
import WebSocket from 'ws';
import { hostileFrame } from './adversarial';

export interface FuzzCounts {
  sent: number;
  errorFrames: number;
  // sockets the server ended (a bad auth_refresh closes by contract); the fuzzer reconnects
  closedByServer: number;
  // frames on one socket answered by more than one error frame (must stay 0)
  excessErrors: number;
}

// Sends `total` hostile frames over `sockets` parallel connections. Each is followed by a probe
// (stop_generation with its own client_id), which the server answers with exactly one frame that
// echoes that id; frames are handled in order, so the error frames between two probe answers are
// the hostile frame's own. Reconnects when the server closes a socket.
export async function fuzzServer(options: {
  url: (socketIndex: number) => string;
  total: number;
  sockets: number;
  seed?: number;
}): Promise<FuzzCounts> {
  const frames = fc.sample(hostileFrame, { numRuns: options.total, seed: options.seed });
  const counts: FuzzCounts = { sent: 0, errorFrames: 0, closedByServer: 0, excessErrors: 0 };
  const perSocket = Math.ceil(frames.length / options.sockets);
  await Promise.all(
    Array.from({ length: options.sockets }, (_, index) =>
      drive(options.url(index), frames.slice(index * perSocket, (index + 1) * perSocket), counts),
    ),
  );
  return counts;
}

async function drive(url: string, frames: string[], counts: FuzzCounts): Promise<void> {
  let next = 0;
  while (next < frames.length) {
    const socket = await open(url);
    let errors = 0;
    let probeAnswered: (() => void) | undefined;
    let probeId = '';
    socket.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as { type: string; client_id?: string };
      if (frame.client_id === probeId && probeId !== '') return probeAnswered?.();
      if (frame.type === 'error') {
        counts.errorFrames++;
        errors++;
      }
    });
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    // the first frame the server sends is connection_status: the socket is bound
    await Promise.race([new Promise<void>((resolve) => socket.once('message', () => resolve())), closed]);
    while (next < frames.length && socket.readyState === WebSocket.OPEN) {
      errors = 0;
      probeId = `probe-${Math.random().toString(36).slice(2)}`;
      const answered = new Promise<void>((resolve) => (probeAnswered = resolve));
      socket.send(frames[next++]);
      counts.sent++;
      socket.send(JSON.stringify({ type: 'stop_generation', client_id: probeId }));
      await Promise.race([answered, closed, delay(5000)]);
      if (errors > 1) counts.excessErrors++;
    }
    if (socket.readyState !== WebSocket.OPEN) counts.closedByServer++;
    socket.terminate();
  }
}

function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.once('open', () => resolve(socket));
    socket.once('error', reject);
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
