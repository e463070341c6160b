import { ChatClient } from './chat-client';

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

  get params(): URLSearchParams {
    return new URL(this.url).searchParams;
  }

  send(data: string): void {
    // as a browser's: InvalidStateError while CONNECTING
    if (this.readyState === 0) throw new Error('InvalidStateError');
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }

  close(code = 1000): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({ code });
  }

  frame(value: Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify(value) });
  }

  // opens and sends the server's first frame: where the socket stands in the session
  status(sessionId: string, seq: number): void {
    this.readyState = FakeWebSocket.OPEN;
    this.onopen?.();
    this.frame({ type: 'connection_status', session_id: sessionId, seq, metadata: { status: 'connected' } });
  }
}

class MemoryStorage {
  items = new Map<string, string>();
  get length(): number {
    return this.items.size;
  }
  key(index: number): string | null {
    return [...this.items.keys()][index] ?? null;
  }
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.items.set(key, String(value));
  }
  removeItem(key: string): void {
    this.items.delete(key);
  }
}

const globals = globalThis as unknown as Record<string, unknown>;
const jwt = (sub: string, expInSeconds = 3600) =>
  `e30.${Buffer.from(JSON.stringify({ sub, exp: Math.floor(Date.now() / 1000) + expInSeconds })).toString('base64url')}.c2ln`;
const latest = () => FakeWebSocket.all.at(-1) as FakeWebSocket;
const stored = (seq: number, sessionId = 's1') => ({
  type: 'user_message',
  session_id: sessionId,
  seq,
  id: `m${seq}`,
  client_id: `other-${seq}`,
  sender: 'user',
  content: `from another device ${seq}`,
});

describe(ChatClient.name, () => {
  let storage: MemoryStorage;
  // the embedding app: the chat posts to it, and it posts tokens to the chat
  const parent = { postMessage: () => undefined };
  let messageListeners: Array<(event: unknown) => void> = [];
  const parentSends = (data: unknown) => {
    for (const listener of messageListeners)
      listener({ source: parent, origin: 'https://parent.example', data });
  };
  const clients: ChatClient[] = [];
  beforeEach(() => {
    FakeWebSocket.all = [];
    storage = new MemoryStorage();
    messageListeners = [];
    const win: Record<string, unknown> = {
      addEventListener: (type: string, listener: (event: unknown) => void) => {
        if (type === 'message') messageListeners.push(listener);
      },
      location: { href: 'https://app.example/chat/', search: '', hash: '' },
      document: { addEventListener: () => undefined },
      get sessionStorage() {
        return storage;
      },
    };
    win.parent = parent;
    globals.window = win;
    globals.document = { visibilityState: 'visible', addEventListener: () => undefined };
    globals.navigator = { onLine: true };
    globals.WebSocket = FakeWebSocket;
  });
  afterEach(() => {
    for (const client of clients.splice(0)) client.socket.stop();
    jest.useRealTimers();
    delete globals.window;
    delete globals.document;
    delete globals.navigator;
    delete globals.WebSocket;
  });

  // a page: its client started with `token`, connected to `sessionId` whose log holds `seq` events
  const page = (token: string, sessionId = 's1', seq = 0) => {
    const client = new ChatClient(token);
    clients.push(client);
    client.start();
    latest().status(sessionId, seq);
    // a session with history is replayed from the start on a second socket
    if (seq > 0) {
      latest().status(sessionId, 0);
      for (let at = 1; at <= seq; at++) latest().frame(stored(at, sessionId));
    }
    return client;
  };

  describe('resume point', () => {
    it('should resume from the last seq before a gap, also when the resync itself is cut', () => {
      page(jwt('u1'));
      latest().frame(stored(1));
      latest().frame(stored(2));
      // seq 3 is missing: the client resyncs from 2
      latest().frame(stored(4));
      expect(latest().params.get('last_seq')).toBe('2');
      // the resync's socket drops before it replays anything: the next try still starts at 2
      latest().close(1006);
      const client = clients[0];
      client.socket.reconnectNow();
      expect(latest().params.get('last_seq')).toBe('2');
    });

    it('should fill a gap seen while a resync is held back, once the wait is over', () => {
      jest.useFakeTimers();
      page(jwt('u1'));
      latest().frame(stored(1));
      latest().frame(stored(3));
      const resync = latest();
      expect(resync.params.get('last_seq')).toBe('1');
      resync.status('s1', 1);
      resync.frame(stored(2));
      resync.frame(stored(3));
      // another gap a moment later: resyncs are at most one per 5 s
      resync.frame(stored(5));
      expect(latest()).toBe(resync);
      jest.advanceTimersByTime(5_000);
      expect(latest()).not.toBe(resync);
      expect(latest().params.get('last_seq')).toBe('3');
    });
  });

  describe('token refused (4401)', () => {
    it('should connect again with the token the parent pushed since, without asking for another', () => {
      const client = page(jwt('u1', 120));
      const request = jest.spyOn(client.bridge, 'request');
      const newer = jwt('u1', 3600);
      // the parent pushes a new token: it goes out as auth_refresh, but the old one is refused first
      parentSends({ type: 'chatbox:token', token: newer });
      expect(latest().sent.at(-1)).toMatchObject({ type: 'auth_refresh', content: newer });
      latest().close(4401);
      expect(request).not.toHaveBeenCalled();
      expect(latest().params.get('token')).toBe(newer);
    });

    it("should drop the last user's thread and unsent messages when the parent signs in another user", () => {
      const client = page(jwt('u1'), 's1');
      client.sendText('by u1');
      parentSends({ type: 'chatbox:token', token: jwt('u2') });
      // a fresh connection as the new user, to the new user's own session
      expect(latest().params.get('token')).toBe(jwt('u2'));
      expect(latest().params.has('session_id')).toBe(false);
      latest().status('s9', 0);
      expect(latest().sent).toEqual([]);
      expect(client.snapshot.messages).toEqual([]);
    });

    it('should ask the parent when the token refused is the one it holds', () => {
      const client = page(jwt('u1'));
      const request = jest.spyOn(client.bridge, 'request');
      const sockets = FakeWebSocket.all.length;
      latest().close(4401);
      expect(request).toHaveBeenCalledWith('expired');
      expect(FakeWebSocket.all).toHaveLength(sockets);
    });
  });

  describe('unsent messages across a reload', () => {
    it('should send an unacked message again after a reload, with the same client_id, and show it pending', () => {
      const token = jwt('u1');
      const first = page(token, 's1', 2);
      first.sendText('hello');
      const sent = latest().sent.at(-1) as Record<string, unknown>;
      expect(sent).toMatchObject({ type: 'user_message', content: 'hello' });
      first.socket.stop();

      // the reload: a new page of the same tab
      const second = page(token, 's1', 2);
      expect(latest().sent).toEqual([sent]);
      expect(second.snapshot.messages.at(-1)).toMatchObject({ content: 'hello', pending: true });
      latest().frame({ type: 'ack', session_id: 's1', client_id: sent.client_id, id: 'm3', seq: 3 });
      expect(second.snapshot.messages.at(-1)).toMatchObject({ content: 'hello', pending: false, seq: 3 });
      second.socket.stop();

      // acked: a further reload sends nothing
      page(token, 's1', 3);
      expect(latest().sent).toEqual([]);
    });

    it('should never send a queue saved for another user or another session', () => {
      for (const [user, session] of [
        ['u2', 's1'],
        ['u1', 's2'],
      ]) {
        const first = page(jwt('u1'), 's1');
        first.sendText('for s1, by u1');
        first.socket.stop();
        const second = page(jwt(user), session);
        expect(latest().sent).toEqual([]);
        expect(second.snapshot.messages).toEqual([]);
        second.socket.stop();
      }
    });

    it('should send as before when the browser refuses storage', () => {
      Object.defineProperty(globals.window, 'sessionStorage', {
        get: () => {
          throw new Error('SecurityError');
        },
      });
      const client = page(jwt('u1'), 's1');
      client.sendText('hello');
      expect(latest().sent.at(-1)).toMatchObject({ type: 'user_message', content: 'hello' });
    });
  });
});
