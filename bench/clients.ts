// Load generator: many real WebSocket clients in this process. Source addresses rotate over
// 127.0.0.2–127.0.0.9 so thousands of sockets (and their TIME_WAITs) never exhaust ephemeral ports.
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';

const SOURCE_ADDRESSES = 8;
let opened = 0;

function nextSourceAddress(): string {
  return `127.0.0.${2 + (opened++ % SOURCE_ADDRESSES)}`;
}

export interface OpenResult {
  sockets: WebSocket[];
  // ms from the TCP connect to the first frame (connection_status), per opened socket
  latencies: number[];
  failures: number;
  firstError?: string;
  elapsedMs: number;
}

// Opens one authenticated socket; resolves once the server's first frame arrived.
function openOne(
  url: string,
  token: string,
  timeoutMs: number,
  lean: boolean,
): Promise<{ socket: WebSocket; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = new WebSocket(`${url}?token=${encodeURIComponent(token)}`, {
      localAddress: nextSourceAddress(),
      perMessageDeflate: false,
      handshakeTimeout: timeoutMs,
      // the rooms bench's receivers read a few bytes of each frame: no UTF-8 check of the rest
      skipUTF8Validation: lean,
    });
    const timer = setTimeout(() => fail(new Error('no first frame in time')), timeoutMs);
    const fail = (error: Error): void => {
      clearTimeout(timer);
      socket.removeAllListeners();
      socket.on('error', () => undefined);
      socket.terminate();
      reject(error);
    };
    socket.once('message', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      socket.removeAllListeners('unexpected-response');
      socket.on('error', () => undefined);
      resolve({ socket, ms: performance.now() - started });
    });
    socket.once('unexpected-response', (_request, response) =>
      fail(new Error(`upgrade refused: HTTP ${response.statusCode}`)),
    );
    socket.once('error', (error) => fail(error));
    socket.once('close', (code) => fail(new Error(`closed (${code}) before the first frame`)));
  });
}

// Opens one socket per token with at most `concurrency` handshakes in flight.
export async function openMany(
  url: string,
  tokens: string[],
  concurrency: number,
  timeoutMs = 30_000,
  lean = false,
): Promise<OpenResult> {
  const result: OpenResult = { sockets: [], latencies: [], failures: 0, elapsedMs: 0 };
  let next = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (next < tokens.length) {
      const token = tokens[next++];
      try {
        const { socket, ms } = await openOne(url, token, timeoutMs, lean);
        result.sockets.push(socket);
        result.latencies.push(ms);
      } catch (error) {
        result.failures++;
        result.firstError ??= error instanceof Error ? error.message : String(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, tokens.length) }, worker));
  result.elapsedMs = performance.now() - started;
  return result;
}

// Closes with the normal handshake and waits (bounded) until every socket is closed.
export async function closeAll(sockets: WebSocket[], timeoutMs = 20_000): Promise<void> {
  const closed = sockets.map(
    (socket) =>
      new Promise<void>((resolve) => {
        if (socket.readyState === WebSocket.CLOSED) return resolve();
        socket.once('close', () => resolve());
        socket.close();
      }),
  );
  await Promise.race([Promise.all(closed), sleep(timeoutMs)]);
  for (const socket of sockets) if (socket.readyState !== WebSocket.CLOSED) socket.terminate();
}

export function userMessage(clientId: string, content: string): string {
  return JSON.stringify({ type: 'user_message', client_id: clientId, content });
}
