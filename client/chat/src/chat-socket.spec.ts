import { ChatSocket } from './chat-socket';
import { IDLE_PROBE_AFTER_MS, PROBE_TIMEOUT_MS, SEND_PROBE_AFTER_MS } from './link-liveness';
import { FakeWebSocket } from '../../shared/testing/fake-web-socket';

const globals = globalThis as unknown as Record<string, unknown>;

describe(ChatSocket.name, () => {
  beforeEach(() => {
    FakeWebSocket.all = [];
    globals.window = { addEventListener: () => undefined, location: { href: 'https://app.example/chat/' } };
    globals.navigator = { onLine: true };
    globals.WebSocket = FakeWebSocket;
  });
  afterEach(() => {
    jest.useRealTimers();
    delete globals.fetch;
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
    // the user opens another conversation: the AI chat's unsent turn belongs to the one left, and is
    // handed over to be kept for it
    expect(socket.takeUnsent().map((frame) => frame.client_id)).toEqual(['ai-1']);
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

  // a JWT whose payload the client reads (exp in seconds); the signature is the server's business
  const jwt = (sub: string, expInSeconds: number) =>
    `e30.${Buffer.from(JSON.stringify({ sub, exp: Math.floor(Date.now() / 1000) + expInSeconds })).toString('base64url')}.c2ln`;
  const withTokens = (first: string) => {
    const link = { token: first, unauthorized: 0, refused: [] as Array<string | null> };
    const socket = new ChatSocket({
      token: () => link.token,
      resumeFrom: () => null,
      onFrame: () => undefined,
      onState: () => undefined,
      onUnauthorized: (refused: string | null) => {
        link.unauthorized++;
        link.refused.push(refused);
      },
      onSessionGone: () => undefined,
    });
    socket.connect();
    connected(FakeWebSocket.all.at(-1) as FakeWebSocket);
    return { socket, link };
  };
  const tokenOf = (ws: FakeWebSocket) => ws.token;

  // the deployment-edge audit of session 42: `?token=` in the URL landed in nginx's error log
  it('should offer its token as a subprotocol beside chatbox, never in the URL', () => {
    const token = jwt('u1', 3600);
    withTokens(token);
    const ws = FakeWebSocket.all.at(-1) as FakeWebSocket;
    expect(ws.protocols).toEqual(['chatbox', `bearer.${token}`]);
    expect(ws.url).not.toContain('token');
  });

  it('should reconnect with the newer token it holds when the server refuses the one the socket used (4401)', () => {
    const old = jwt('u1', 5);
    const newer = jwt('u1', 3600);
    const { socket, link } = withTokens(old);
    // the parent pushed a new token (an auth_refresh with it may be on its way)
    link.token = newer;
    (FakeWebSocket.all.at(-1) as FakeWebSocket).close(4401);
    expect(link.unauthorized).toBe(0);
    expect(FakeWebSocket.all).toHaveLength(2);
    expect(tokenOf(FakeWebSocket.all[1])).toBe(newer);
    expect(socket.state.kind).not.toBe('signed_out');
  });

  it('should ask for a new token when the token refused (4401) is the one in hand', () => {
    const token = jwt('u1', 3600);
    const refused = withTokens(token);
    (FakeWebSocket.all.at(-1) as FakeWebSocket).close(4401);
    expect(refused.link.unauthorized).toBe(1);
    expect(refused.link.refused).toEqual([token]);
    expect(refused.socket.state.kind).toBe('signed_out');
    expect(FakeWebSocket.all).toHaveLength(1);
  });

  // GET /chat/models answers `status` (or fails, for a network error)
  const serverAnswers = (status: number | 'network') => {
    globals.fetch = jest.fn(async () => {
      if (status === 'network') throw new TypeError('Failed to fetch');
      return { ok: status < 400, status, json: async () => ({}) };
    });
  };

  it('should check the token over HTTP when an upgrade never opened, and go signed_out on 401 instead of reconnecting', async () => {
    jest.useFakeTimers();
    serverAnswers(401);
    // not expired on the device clock: refused for its signature, or a clock ahead of the server's
    const token = jwt('u1', 3600);
    const { socket, link } = withTokens(token);
    const before = FakeWebSocket.all.length;
    socket.restart();
    // a refused upgrade (HTTP 401): browsers say 1006, without an open
    (FakeWebSocket.all.at(-1) as FakeWebSocket).close(1006);
    await jest.advanceTimersByTimeAsync(0);
    expect(socket.state.kind).toBe('signed_out');
    expect(link.refused).toEqual([token]);
    await jest.advanceTimersByTimeAsync(60_000);
    expect(FakeWebSocket.all).toHaveLength(before + 1);
  });

  it('should reconnect with backoff when the check does not refuse the token (a network drop, a server down)', async () => {
    jest.useFakeTimers();
    for (const answer of ['network', 200, 503] as const) {
      serverAnswers(answer);
      FakeWebSocket.all = [];
      const { socket, link } = withTokens(jwt('u1', -60));
      socket.restart();
      (FakeWebSocket.all.at(-1) as FakeWebSocket).close(1006);
      await jest.advanceTimersByTimeAsync(0);
      expect(socket.state.kind).toBe('reconnecting');
      await jest.advanceTimersByTimeAsync(1_500);
      expect(FakeWebSocket.all).toHaveLength(3);
      expect(link.unauthorized).toBe(0);
      socket.stop();
    }
  });

  it('should send nothing on a socket that a connection_status handler replaced, and resend on the next one', () => {
    let restartOnce = true;
    const socket: ChatSocket = new ChatSocket({
      token: () => 'token',
      resumeFrom: () => null,
      // the page's first status names a session with history: the client connects again to replay it
      onFrame: (frame) => {
        if (frame.type === 'connection_status' && restartOnce) {
          restartOnce = false;
          socket.restart();
        }
      },
      onState: () => undefined,
      onUnauthorized: () => undefined,
      onSessionGone: () => undefined,
    });
    socket.send({ type: 'user_message', content: 'typed early', client_id: 'early-1' });
    socket.connect();
    const first = FakeWebSocket.all.at(-1) as FakeWebSocket;
    connected(first);
    const second = FakeWebSocket.all.at(-1) as FakeWebSocket;
    expect(second).not.toBe(first);
    // a browser's WebSocket throws on send while CONNECTING
    expect(second.sent).toEqual([]);
    connected(second);
    expect(second.sent.map((frame) => frame.client_id)).toEqual(['early-1']);
  });

  // The client audit's t3: a link gone silent without a close (a wifi hand-over, a NAT that forgot
  // it) showed "Connected" and "Sending…" for ever, though the server had closed its end. Browsers
  // see no WebSocket pings, and the server sends nothing while idle: the client asks (an
  // auth_refresh with the token in hand, answered at once, beside the conversation's frames) when a
  // sent frame got no answer for a few seconds, or nothing came for a while.
  describe('liveness', () => {
    const probes = (ws: FakeWebSocket) => ws.sentOf('auth_refresh');

    it('should close a link that answers neither a message nor the probe, and resend the message on a new one', () => {
      jest.useFakeTimers();
      const { socket, first } = open();
      connected(first);
      first.silent = true;
      socket.send({ type: 'user_message', content: 'into the void', client_id: 'ai-1' });
      jest.advanceTimersByTime(SEND_PROBE_AFTER_MS - 1);
      expect(probes(first)).toEqual([]);
      jest.advanceTimersByTime(1);
      expect(probes(first)).toEqual([expect.objectContaining({ content: 'token' })]);
      jest.advanceTimersByTime(PROBE_TIMEOUT_MS - 1);
      expect(socket.state.kind).toBe('connected');
      jest.advanceTimersByTime(1);
      expect(first.readyState).toBe(3);
      expect(socket.state.kind).toBe('reconnecting');
      jest.advanceTimersByTime(1_500);
      const second = FakeWebSocket.all.at(-1) as FakeWebSocket;
      expect(second).not.toBe(first);
      connected(second);
      expect(second.sentOf('user_message')).toEqual([expect.objectContaining({ client_id: 'ai-1' })]);
    });

    it("should keep a link that answers the probe (a slow reply), and hand the probe's answer to nobody", () => {
      jest.useFakeTimers();
      const seen: string[] = [];
      const socket = new ChatSocket({
        token: () => 'token',
        resumeFrom: () => null,
        onFrame: (frame) => seen.push(frame.type),
        onState: () => undefined,
        onUnauthorized: () => undefined,
        onSessionGone: () => undefined,
      });
      socket.connect();
      const first = FakeWebSocket.all.at(-1) as FakeWebSocket;
      connected(first);
      // answered by hand below
      first.silent = true;
      socket.send({ type: 'voice_message', file_id: 'f1', client_id: 'voice-1' });
      jest.advanceTimersByTime(SEND_PROBE_AFTER_MS);
      const probe = probes(first)[0];
      first.frame({ type: 'ack', client_id: probe.client_id, metadata: { token_expires_at: 'x' } });
      // the transcription takes long: the link is asked again now and then, and answers
      for (let waited = 0; waited < 60_000; waited += 1_000) {
        jest.advanceTimersByTime(1_000);
        const asked = probes(first).at(-1);
        if (asked && asked !== probe)
          first.frame({
            type: 'error',
            client_id: asked.client_id,
            error: { code: 'RATE_LIMITED', message: 'slow' },
          });
      }
      expect(FakeWebSocket.all).toHaveLength(1);
      expect(socket.state.kind).toBe('connected');
      expect(seen).toEqual(['connection_status']);
      socket.stop();
    });

    it('should ask an idle link after a while, and close it when it does not answer', () => {
      jest.useFakeTimers();
      const { socket, first } = open();
      connected(first);
      first.silent = true;
      jest.advanceTimersByTime(IDLE_PROBE_AFTER_MS - 1);
      expect(probes(first)).toEqual([]);
      // frames coming keep it from asking
      first.frame({ type: 'typing_indicator', sender: 'admin', metadata: { typing: true } });
      jest.advanceTimersByTime(IDLE_PROBE_AFTER_MS - 1);
      expect(probes(first)).toEqual([]);
      jest.advanceTimersByTime(1);
      expect(probes(first)).toHaveLength(1);
      jest.advanceTimersByTime(PROBE_TIMEOUT_MS);
      expect(socket.state.kind).toBe('reconnecting');
      socket.stop();
    });
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
