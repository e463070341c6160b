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
  // probes the server never answered on a socket it kept open (must stay 0)
  unanswered: number;
  // the error frames by code, and the acks (frames that got past every check)
  codes: Record<string, number>;
  acks: number;
}

// The frame after each hostile one: answered by exactly one frame that echoes `id`.
export type Probe = (id: string) => string;
const STOP_PROBE: Probe = (id) => JSON.stringify({ type: 'stop_generation', client_id: id });

// Sends `total` hostile frames over `sockets` parallel connections. Each is followed by a probe
// (stop_generation with its own client_id), which the server answers with exactly one frame that
// echoes that id; frames are handled in order, so the error frames between two probe answers are
// the hostile frame's own. Reconnects when the server closes a socket.
export async function fuzzServer(options: {
  url: (socketIndex: number) => string;
  total: number;
  sockets: number;
  seed?: number;
  // what is sent (hostile AI chat frames unless said) and the probe after each (stop_generation)
  frames?: fc.Arbitrary<string>;
  probe?: Probe;
}): Promise<FuzzCounts> {
  const frames = fc.sample(options.frames ?? hostileFrame, { numRuns: options.total, seed: options.seed });
  const probe = options.probe ?? STOP_PROBE;
  const counts: FuzzCounts = {
    sent: 0,
    errorFrames: 0,
    closedByServer: 0,
    excessErrors: 0,
    unanswered: 0,
    codes: {},
    acks: 0,
  };
  const perSocket = Math.ceil(frames.length / options.sockets);
  await Promise.all(
    Array.from({ length: options.sockets }, (_, index) =>
      drive(options.url(index), frames.slice(index * perSocket, (index + 1) * perSocket), probe, counts),
    ),
  );
  return counts;
}

async function drive(url: string, frames: string[], probe: Probe, counts: FuzzCounts): Promise<void> {
  let next = 0;
  while (next < frames.length) {
    const { socket, bound } = await open(url);
    let errors = 0;
    let probeAnswered: (() => void) | undefined;
    let probeId = '';
    socket.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as {
        type: string;
        client_id?: string;
        error?: { code?: string };
      };
      if (frame.client_id === probeId && probeId !== '') return probeAnswered?.();
      if (frame.type === 'ack') counts.acks++;
      if (frame.type === 'error') {
        counts.errorFrames++;
        const code = String(frame.error?.code);
        counts.codes[code] = (counts.codes[code] ?? 0) + 1;
        errors++;
      }
    });
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await Promise.race([bound, closed]);
    while (next < frames.length && socket.readyState === WebSocket.OPEN) {
      errors = 0;
      probeId = `probe-${Math.random().toString(36).slice(2)}`;
      const answered = new Promise<void>((resolve) => (probeAnswered = resolve));
      socket.send(frames[next++]);
      counts.sent++;
      socket.send(probe(probeId));
      const outcome = await Promise.race([
        answered.then(() => 'answered'),
        closed.then(() => 'closed'),
        delay(5000).then(() => 'late'),
      ]);
      if (outcome === 'late' && socket.readyState === WebSocket.OPEN) counts.unanswered++;
      if (errors > 1) counts.excessErrors++;
    }
    if (socket.readyState !== WebSocket.OPEN) counts.closedByServer++;
    socket.terminate();
  }
}

// `bound`: the first frame the server sends (connection_status) has come, or the socket closed. Both
// are listened for from the start: the upgrade's answer and that frame can come in one read, and ws
// then emits it before a listener added once `open` resolved is there (a reconnected socket of the
// fuzzer waited for it forever).
function open(url: string): Promise<{ socket: WebSocket; bound: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    const bound = new Promise<void>((done) => {
      socket.once('message', () => done());
      socket.once('close', () => done());
    });
    socket.once('open', () => resolve({ socket, bound }));
    socket.once('error', reject);
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
