import type { IncomingHttpHeaders } from 'node:http';
import WebSocket from 'ws';
import type { Frame } from '../../src/protocol/frames';

// what the server sends, as the protocol module types it
export type { Frame };

// A real WebSocket client that records every frame and lets tests wait for the next matching one.
export class TestClient {
  readonly frames: Frame[] = [];
  readonly raw: string[] = [];
  private cursor = 0;
  private waiters: Array<() => void> = [];
  // performance.now() when each frame arrived (timing tests: first delta vs final frame)
  private readonly arrivals = new WeakMap<Frame, number>();
  closeCode?: number;
  readonly closed: Promise<number>;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const text = data.toString();
      const frame = JSON.parse(text) as Frame;
      this.arrivals.set(frame, performance.now());
      this.raw.push(text);
      this.frames.push(frame);
      this.waiters.splice(0).forEach((wake) => wake());
    });
    this.closed = new Promise((resolve) =>
      socket.on('close', (code) => {
        this.closeCode = code;
        this.waiters.splice(0).forEach((wake) => wake());
        resolve(code);
      }),
    );
  }

  static connect(
    url: string,
    // `ca`: trust this certificate for wss:// (never rejectUnauthorized: false)
    // `protocols`: offered in Sec-WebSocket-Protocol, as a browser's `new WebSocket(url, protocols)`
    // (the upgrade fails unless the server selects one of them)
    options: { headers?: Record<string, string>; autoPong?: boolean; ca?: Buffer; protocols?: string[] } = {},
  ): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, options.protocols ?? [], {
        headers: options.headers,
        autoPong: options.autoPong ?? true,
        ca: options.ca,
      });
      const client = new TestClient(socket);
      socket.once('open', () => resolve(client));
      socket.once('unexpected-response', (_request, response) =>
        reject(new UpgradeRefused(response.statusCode ?? 0, response.headers)),
      );
      socket.once('error', reject);
    });
  }

  send(frame: Record<string, unknown>): void {
    this.socket.send(JSON.stringify(frame));
  }

  // Next frame (after the ones already consumed) that matches; earlier non-matching frames are skipped.
  async next(match: (frame: Frame) => boolean = () => true, timeoutMs = 5000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.cursor < this.frames.length) {
        const frame = this.frames[this.cursor++];
        if (match(frame)) return frame;
      }
      if (this.closeCode !== undefined) throw new Error(`socket closed (${this.closeCode}) while waiting`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for a frame; got: ${this.raw.slice(-5).join(' | ')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  receivedAt(frame: Frame): number {
    const at = this.arrivals.get(frame);
    if (at === undefined) throw new Error('not a frame this client received');
    return at;
  }

  nextOfType(type: string, timeoutMs?: number): Promise<Frame> {
    return this.next((frame) => frame.type === type, timeoutMs);
  }

  // Waits for the final ai_response (done:true), returning it and the deltas before it.
  async reply(timeoutMs = 10_000): Promise<{ final: Frame; deltas: string }> {
    let deltas = '';
    for (;;) {
      const frame = await this.next(
        (candidate) => candidate.type === 'ai_response' || candidate.type === 'error',
        timeoutMs,
      );
      if (frame.type === 'error') throw new Error(`error frame: ${JSON.stringify(frame.error)}`);
      if (frame.metadata?.done === true) return { final: frame, deltas };
      deltas += String(frame.metadata?.delta ?? '');
    }
  }

  close(): Promise<number> {
    if (this.closeCode === undefined) this.socket.close();
    return this.closed;
  }
}

export class UpgradeRefused extends Error {
  constructor(
    readonly status: number,
    readonly headers: IncomingHttpHeaders = {},
  ) {
    super(`upgrade refused with HTTP ${status}`);
  }
}

// A /chat/ws socket of an instance on `port`, once it is told its session (`query`: `&session_id=…`)
export async function sessionSocket(
  port: number,
  token: string,
  query = '',
): Promise<{ client: TestClient; sessionId: string }> {
  const client = await TestClient.connect(`ws://127.0.0.1:${port}/chat/ws?token=${token}${query}`);
  const status = await client.nextOfType('connection_status');
  return { client, sessionId: String(status.session_id) };
}
