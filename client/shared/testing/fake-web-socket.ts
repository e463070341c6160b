// A WebSocket the client specs drive by hand: what the client sends is recorded, frames are fed in.
export class FakeWebSocket {
  static readonly OPEN = 1;
  static all: FakeWebSocket[] = [];
  // tokens the fake server refuses: their upgrade fails (a browser sees 1006, never an open)
  static refused = new Set<string>();
  readyState = 0;
  // the link went silent both ways without a close (nothing answers the liveness probes)
  silent = false;
  sent: Array<Record<string, unknown>> = [];
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: string }) => void) | null = null;
  onclose: ((event: { code: number }) => void) | null = null;

  constructor(
    readonly url: string,
    readonly protocols: string[] = [],
  ) {
    FakeWebSocket.all.push(this);
    if (FakeWebSocket.refused.has(this.token ?? '')) setTimeout(() => this.close(1006), 10);
  }

  // the token the socket offered, as the server reads it: a `bearer.` subprotocol, else `?token=`
  get token(): string | null {
    const offered = this.protocols.find((protocol) => protocol.startsWith('bearer.'));
    return offered ? offered.slice('bearer.'.length) : this.params.get('token');
  }

  static get last(): FakeWebSocket {
    return FakeWebSocket.all[FakeWebSocket.all.length - 1];
  }

  get params(): URLSearchParams {
    return new URL(this.url).searchParams;
  }

  send(data: string): void {
    // as a browser's: InvalidStateError while CONNECTING
    if (this.readyState === 0) throw new Error('InvalidStateError');
    const frame = JSON.parse(data) as Record<string, unknown>;
    this.sent.push(frame);
    // a live server answers the client's liveness probe at once (link-liveness.ts); a silent link not
    if (!this.silent && frame.type === 'auth_refresh' && String(frame.client_id).startsWith('probe:'))
      this.frame({ type: 'ack', client_id: frame.client_id });
  }

  close(code = 1000): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({ code });
  }

  open(): void {
    this.readyState = FakeWebSocket.OPEN;
    this.onopen?.();
  }

  // opens and sends the server's first frame: where the socket stands in the session
  status(sessionId: string, seq: number): void {
    this.open();
    this.frame({ type: 'connection_status', session_id: sessionId, seq, metadata: { status: 'connected' } });
  }

  // opens and says connection_status in an admin's console session
  connect(): void {
    this.open();
    this.frame({ type: 'connection_status', session_id: 'console', seq: 0 });
  }

  frame(value: Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify(value) });
  }

  sentOf(type: string): Array<Record<string, unknown>> {
    return this.sent.filter((frame) => frame.type === type);
  }
}

const globals = globalThis as unknown as Record<string, unknown>;

// window, navigator and WebSocket as ChatSocket needs them, in jest's node environment
export function installFakeBrowser(href = 'https://app.example/admin/'): void {
  FakeWebSocket.all = [];
  globals.window = { addEventListener: () => undefined, location: { href } };
  globals.navigator = { onLine: true };
  globals.WebSocket = FakeWebSocket;
}

export function removeFakeBrowser(): void {
  delete globals.window;
  delete globals.navigator;
  delete globals.WebSocket;
}
