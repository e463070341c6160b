// A WebSocket the admin specs drive by hand: what the client sends is recorded, frames are fed in.
export class FakeWebSocket {
  static readonly OPEN = 1;
  static all: FakeWebSocket[] = [];
  readyState = 0;
  sent: Array<Record<string, unknown>> = [];
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: string }) => void) | null = null;
  onclose: ((event: { code: number }) => void) | null = null;

  constructor(readonly url: string) {
    FakeWebSocket.all.push(this);
  }

  static get last(): FakeWebSocket {
    return FakeWebSocket.all[FakeWebSocket.all.length - 1];
  }

  send(data: string): void {
    if (this.readyState === 0) throw new Error('InvalidStateError');
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }

  close(code = 1000): void {
    this.readyState = 3;
    this.onclose?.({ code });
  }

  // opens and says connection_status, as the server's first frame
  connect(): void {
    this.readyState = FakeWebSocket.OPEN;
    this.onopen?.();
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
export function installFakeBrowser(): void {
  FakeWebSocket.all = [];
  globals.window = { addEventListener: () => undefined, location: { href: 'https://app.example/admin/' } };
  globals.navigator = { onLine: true };
  globals.WebSocket = FakeWebSocket;
}

export function removeFakeBrowser(): void {
  delete globals.window;
  delete globals.navigator;
  delete globals.WebSocket;
}
