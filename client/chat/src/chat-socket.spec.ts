import { ChatSocket } from './chat-socket';

// A WebSocket the test drives by hand: what the client sends is recorded, frames are fed in.
class FakeWebSocket {
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

  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }

  close(code = 1000): void {
    this.readyState = 3;
    this.onclose?.({ code });
  }

  open(): void {
    this.readyState = FakeWebSocket.OPEN;
    this.onopen?.();
  }

  frame(value: Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify(value) });
  }
}

const globals = globalThis as unknown as Record<string, unknown>;

describe(ChatSocket.name, () => {
  beforeEach(() => {
    FakeWebSocket.all = [];
    globals.window = { addEventListener: () => undefined, location: { href: 'https://app.example/chat/' } };
    globals.navigator = { onLine: true };
    globals.WebSocket = FakeWebSocket;
  });
  afterEach(() => {
    delete globals.window;
    delete globals.navigator;
    delete globals.WebSocket;
  });

  const open = () => {
    const socket = new ChatSocket({
      token: () => 'token',
      resumeFrom: () => null,
      onFrame: () => undefined,
      onState: () => undefined,
      onUnauthorized: () => undefined,
      onSessionGone: () => undefined,
    });
    socket.connect();
    const first = FakeWebSocket.all.at(-1) as FakeWebSocket;
    return { socket, first };
  };
  const connected = (ws: FakeWebSocket) => {
    ws.open();
    ws.frame({ type: 'connection_status', session_id: 's2', seq: 0 });
  };

  it("should keep the rooms' unsent messages when the chat switches session, and send them on the next connection", () => {
    const { socket, first } = open();
    // sent while the socket is still connecting: kept for the connection
    expect(socket.send({ type: 'chat', room_id: 'r1', content: 'hi room', client_id: 'room-1' })).toBe(false);
    expect(socket.send({ type: 'user_message', content: 'hi ai', client_id: 'ai-1' })).toBe(false);
    // the user opens another conversation: the AI chat's unsent turn belonged to the one left
    socket.clearUnacked();
    connected(first);
    expect(first.sent.map((frame) => frame.client_id)).toEqual(['room-1']);
  });

  it("should send a refused message again as it was first sent, on the user's Retry", () => {
    const { socket, first } = open();
    connected(first);
    const upload = { type: 'file_upload', client_id: 'file-1', content: '', metadata: { file_id: 'f-9' } };
    socket.send(upload);
    first.frame({
      type: 'error',
      client_id: 'file-1',
      error: { code: 'RATE_LIMITED', message: 'slow down' },
    });
    expect(socket.pendingCount).toBe(0);
    expect(socket.retry('file-1')).toBe(true);
    expect(first.sent.at(-1)).toEqual(upload);
    // kept again until its ack, and not kept twice for a Retry
    expect(socket.pendingCount).toBe(1);
    expect(socket.retry('file-1')).toBe(false);
  });

  it('should close a socket still connecting when it connects again', () => {
    const { socket, first } = open();
    // "Retry now" before the first socket opened
    socket.connect();
    expect(FakeWebSocket.all).toHaveLength(2);
    expect(first.readyState).toBe(3);
    // the closed one's close does not count as the link's
    connected(FakeWebSocket.all[1]);
    expect(socket.state.kind).toBe('connected');
  });

  it('should send an edit and a reply choice again after a reconnect until they are acked', () => {
    const { socket, first } = open();
    connected(first);
    socket.send({ type: 'edit_message', id: 'm1', content: 'better', client_id: 'edit-1' });
    socket.send({ type: 'reply_select', id: 'r1', client_id: 'pick-1' });
    first.frame({ type: 'ack', client_id: 'pick-1' });
    first.close(1006);
    socket.reconnectNow();
    const second = FakeWebSocket.all.at(-1) as FakeWebSocket;
    expect(second).not.toBe(first);
    connected(second);
    expect(second.sent.map((frame) => frame.client_id)).toEqual(['edit-1']);
  });
});
