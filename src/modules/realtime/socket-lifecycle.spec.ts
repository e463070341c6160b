import { EventEmitter } from 'node:events';
import fc from 'fast-check';
import type { WebSocket } from 'ws';
import type { Connection } from './connection';
import {
  armExpiry,
  handleInOrder,
  heartbeat,
  isAuthRefreshFrame,
  MAX_WAITING_BYTES,
  MAX_WAITING_FRAMES,
  REFRESH_WAIT_MS,
} from './socket-lifecycle';
import { closeSocket } from './close-socket';

// ws's socket as handleInOrder uses it: 'message' events, pause and resume
class FakeSocket extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  closed?: number;
  isPaused = false;
  pings = 0;
  terminated = false;
  ping(): void {
    this.pings++;
  }
  terminate(): void {
    this.terminated = true;
  }
  close(code: number): void {
    this.closed = code;
    this.readyState = 2;
  }
  pause(): void {
    this.isPaused = true;
  }
  resume(): void {
    this.isPaused = false;
  }
}

// a socket's connection, its token expiring at `expiresAt`
function connectionOf(socket: FakeSocket, expiresAt = Number.MAX_SAFE_INTEGER): Connection {
  return {
    socket: socket as unknown as WebSocket,
    alive: false,
    seenAt: 0,
    principal: { userId: 'u', isAdmin: false, expiresAt },
  } as Connection;
}

function setUp() {
  const socket = new FakeSocket();
  const connection = connectionOf(socket);
  const handled: string[] = [];
  const finish: Array<() => void> = [];
  const crashed: unknown[] = [];
  handleInOrder(
    connection,
    Promise.resolve(),
    (data) => {
      handled.push(data.toString());
      return new Promise<void>((resolve) => finish.push(resolve));
    },
    (error) => crashed.push(error),
    isAuthRefreshFrame,
  );
  // lets the chain run what is ready
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  return { socket, connection, handled, finish, crashed, settle };
}

describe('handleInOrder', () => {
  // docs/protocol.md, "Frames": a voice message waiting for its transcription held a refresh sent in
  // time, and the socket was closed "Token expired."
  it('should handle an auth_refresh at once while an earlier frame is still being handled', async () => {
    const { socket, handled, finish, settle } = setUp();
    const refresh = (content: string) => JSON.stringify({ type: 'auth_refresh', content });
    socket.emit('message', Buffer.from('{"type":"voice_message"}'), false);
    socket.emit('message', Buffer.from('{"type":"user_message","content":"\\"auth_refresh\\""}'), false);
    socket.emit('message', Buffer.from(refresh('t1')), false);
    socket.emit('message', Buffer.from(refresh('t2')), false);
    await settle();
    expect(handled).toEqual(['{"type":"voice_message"}', refresh('t1')]);
    // refreshes in order among themselves; the conversation's frames in theirs
    finish.pop()?.();
    await settle();
    expect(handled.slice(2)).toEqual([refresh('t2')]);
    finish.shift()?.();
    await settle();
    expect(handled[3]).toContain('user_message');
  });

  // a refused refresh closes the socket: in its place, after the frames sent before it (the fixes
  // audit of session 34: it closed ahead of them, and they were never handled)
  it("should run what an aside frame's handler leaves in order after the frames before it, before those after", async () => {
    const socket = new FakeSocket();
    const connection = connectionOf(socket);
    const events: string[] = [];
    const slow: Array<() => void> = [];
    handleInOrder(
      connection,
      Promise.resolve(),
      async (data, _binary, _at, inOrder) => {
        const text = data.toString();
        events.push(`handled ${text}`);
        if (text.includes('auth_refresh')) inOrder?.(() => events.push('refused'));
        else if (text.includes('voice')) await new Promise<void>((resolve) => slow.push(resolve));
      },
      () => undefined,
      isAuthRefreshFrame,
    );
    const settle = () => new Promise((resolve) => setImmediate(resolve));
    socket.emit('message', Buffer.from('{"type":"voice_message"}'), false);
    socket.emit('message', Buffer.from('{"type":"user_message","client_id":"m1"}'), false);
    socket.emit('message', Buffer.from('{"type":"auth_refresh","content":"bad"}'), false);
    socket.emit('message', Buffer.from('{"type":"user_message","client_id":"m2"}'), false);
    await settle();
    // handled at once, its refusal left for its place
    expect(events).toEqual([
      'handled {"type":"voice_message"}',
      'handled {"type":"auth_refresh","content":"bad"}',
    ]);
    slow.shift()?.();
    await settle();
    expect(events.slice(2)).toEqual([
      'handled {"type":"user_message","client_id":"m1"}',
      'refused',
      'handled {"type":"user_message","client_id":"m2"}',
    ]);
  });

  it('should stop reading a socket whose frames wait unhandled, and read it again once they are half done', async () => {
    const { socket, handled, finish, settle } = setUp();
    for (let index = 0; index < MAX_WAITING_FRAMES - 1; index++)
      socket.emit('message', Buffer.from(`${index}`), false);
    expect(socket.isPaused).toBe(false);
    socket.emit('message', Buffer.from(`${MAX_WAITING_FRAMES - 1}`), false);
    expect(socket.isPaused).toBe(true);
    for (let index = 0; index < MAX_WAITING_FRAMES / 2 - 1; index++) {
      await settle();
      finish.shift()?.();
    }
    await settle();
    expect(socket.isPaused).toBe(true);
    finish.shift()?.();
    await settle();
    expect(socket.isPaused).toBe(false);
    expect(handled.slice(0, 5)).toEqual(['0', '1', '2', '3', '4']);
  });

  // closeSocket: the client's answering close frame waits behind the frames it sent; unread, the
  // close took ws's 30 s close timeout (auth-expiry-busy.e2e-spec.ts)
  it('should read a paused socket again once the server closes it, and handle none of what it reads then', async () => {
    const { socket, handled, finish, settle } = setUp();
    for (let index = 0; index < MAX_WAITING_FRAMES; index++)
      socket.emit('message', Buffer.from(`${index}`), false);
    expect(socket.isPaused).toBe(true);
    closeSocket(socket as unknown as WebSocket, 4401, 'TOKEN_EXPIRED');
    expect(socket.closed).toBe(4401);
    expect(socket.isPaused).toBe(false);
    socket.emit('message', Buffer.from('late'), false);
    for (let index = 0; index < MAX_WAITING_FRAMES + 1; index++) {
      await settle();
      finish.shift()?.();
    }
    expect(handled).toHaveLength(MAX_WAITING_FRAMES);
    expect(handled).not.toContain('late');
  });

  it('should stop reading on the bytes waiting too (a frame read only to be refused may be large)', () => {
    const { socket } = setUp();
    socket.emit('message', Buffer.alloc(MAX_WAITING_BYTES / 2), false);
    expect(socket.isPaused).toBe(false);
    socket.emit('message', Buffer.alloc(MAX_WAITING_BYTES / 2), false);
    expect(socket.isPaused).toBe(true);
  });

  // any interleaving of arrivals and completions: frames are handled once each, in order; the socket
  // is paused whenever the bounds are reached and read whenever the handlers are down to half
  it('should hold its order and its bounds under any interleaving', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.boolean(), { maxLength: 200 }), async (steps) => {
        const { socket, handled, finish, crashed, settle } = setUp();
        let sent = 0;
        let done = 0;
        for (const arrive of steps) {
          if (arrive) {
            // a paused socket is not read: a client's frame waits in TCP
            if (socket.isPaused) continue;
            socket.emit('message', Buffer.from(String(sent++)), false);
          } else if (finish.length > 0) {
            finish.shift()?.();
            done++;
          }
          await settle();
          const waiting = sent - done;
          if (waiting >= MAX_WAITING_FRAMES) expect(socket.isPaused).toBe(true);
          if (waiting <= MAX_WAITING_FRAMES / 2) expect(socket.isPaused).toBe(false);
        }
        expect(handled).toEqual(Array.from({ length: handled.length }, (_, index) => String(index)));
        expect(crashed).toEqual([]);
      }),
      { numRuns: 100 },
    );
  });
});

// docs/protocol.md, "Frames": a refresh sent 993 ms before the token's expiry waited for its rate
// check in a frozen Redis (2 s), the expiry fired meanwhile, and the socket was closed "Token
// expired." (timers audit). A refresh received in time decides.
describe('armExpiry with a refresh being handled', () => {
  const refresh = Buffer.from('{"type":"auth_refresh","content":"t"}');
  const settle = () => new Promise((resolve) => setImmediate(resolve));

  // a connection whose token expires in `inMs`, its refreshes handled by `handle`
  function expiring(inMs: number, handle: (connection: Connection) => Promise<void>) {
    const socket = new FakeSocket();
    const connection = connectionOf(socket, Date.now() + inMs);
    const expired: number[] = [];
    const onExpired = () => expired.push(Date.now());
    handleInOrder(
      connection,
      Promise.resolve(),
      () => handle(connection),
      () => undefined,
      isAuthRefreshFrame,
    );
    armExpiry(connection, 60_000, onExpired);
    return { socket, connection, expired, onExpired };
  }

  it('should wait for a refresh received before the expiry, and go on with the token it takes', async () => {
    let take!: () => void;
    const { socket, expired, onExpired } = expiring(20, (connection) => {
      return new Promise<void>((resolve) => {
        take = () => {
          connection.principal = { ...connection.principal, expiresAt: Date.now() + 3_600_000 };
          armExpiry(connection, 60_000, onExpired);
          resolve();
        };
      });
    });
    socket.emit('message', refresh, false);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(expired).toEqual([]);
    take();
    await settle();
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(expired).toEqual([]);
  });

  it('should end the socket once a refresh received in time is refused, not before', async () => {
    let refuse!: () => void;
    const { socket, expired } = expiring(20, () => new Promise<void>((resolve) => (refuse = resolve)));
    socket.emit('message', refresh, false);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(expired).toEqual([]);
    refuse();
    await settle();
    expect(expired).toHaveLength(1);
  });

  it('should not wait for a refresh received after the expiry', async () => {
    const { socket, connection, expired } = expiring(20, () => new Promise<void>(() => undefined));
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(expired).toHaveLength(1);
    socket.emit('message', refresh, false);
    await settle();
    expect(connection.refreshing ?? 0).toBe(0);
  });

  it('should wait REFRESH_WAIT_MS at most for a refresh that never ends', async () => {
    jest.useFakeTimers({ doNotFake: ['setImmediate', 'nextTick', 'queueMicrotask'] });
    try {
      const { socket, expired } = expiring(20, () => new Promise<void>(() => undefined));
      socket.emit('message', refresh, false);
      await settle();
      jest.advanceTimersByTime(20 + REFRESH_WAIT_MS - 1);
      expect(expired).toEqual([]);
      jest.advanceTimersByTime(1);
      expect(expired).toHaveLength(1);
    } finally {
      jest.useRealTimers();
    }
  });
});

// docs/protocol.md, "Frames": a socket this server stopped reading (its client sent faster than its
// frames were handled) cannot have its pong read either; it was ended as dead by the next beat. The
// flood e2e test lost its socket so when the machine was loaded (the frames were handled slower than
// a heartbeat apart), and a client whose 32 frames waited for a frozen store was ended the same way.
describe('heartbeat with a socket this server stopped reading', () => {
  const HEARTBEAT_MS = 1_000;
  const noExpiry = () => undefined;

  it('should not end a socket whose pong may wait behind its frames, and end it once it is read and silent', async () => {
    const { socket, connection, finish, settle } = setUp();
    connection.alive = true;
    // the beat pings it; its client sends a flood and the socket is paused: the pong waits in TCP
    heartbeat([connection], HEARTBEAT_MS, noExpiry);
    expect(socket.pings).toBe(1);
    for (let index = 0; index < MAX_WAITING_FRAMES; index++)
      socket.emit('message', Buffer.from(`${index}`), false);
    expect(socket.isPaused).toBe(true);
    heartbeat([connection], HEARTBEAT_MS, noExpiry);
    expect(socket.terminated).toBe(false);
    // still paused at the next beat: still waiting
    heartbeat([connection], HEARTBEAT_MS, noExpiry);
    expect(socket.terminated).toBe(false);
    // read again: its pong, if it sent one, comes before the next beat
    await settle();
    while (finish.length > 0) {
      finish.shift()?.();
      await settle();
    }
    expect(socket.isPaused).toBe(false);
    heartbeat([connection], HEARTBEAT_MS, noExpiry);
    expect(socket.terminated).toBe(false);
    heartbeat([connection], HEARTBEAT_MS, noExpiry);
    expect(socket.terminated).toBe(true);
  });

  it('should mark the connection whenever handleInOrder stops reading its socket', () => {
    const socket = new FakeSocket();
    const connection = connectionOf(socket);
    handleInOrder(
      connection,
      Promise.resolve(),
      () => new Promise<void>(() => undefined),
      () => undefined,
    );
    for (let index = 0; index < MAX_WAITING_FRAMES; index++)
      socket.emit('message', Buffer.from(`${index}`), false);
    expect(connection.readHeld).toBe(true);
  });

  // an auth audit in session 40: a socket held paused and silent was never armed, and was served
  // past its token's expiry
  it('should arm the expiry of a socket it stopped reading that answered no ping', () => {
    jest.useFakeTimers();
    try {
      const socket = new FakeSocket();
      const connection = connectionOf(socket, Date.now() + 1_500);
      connection.readHeld = true;
      socket.isPaused = true;
      const expired: Connection[] = [];
      heartbeat([connection], HEARTBEAT_MS, (ended) => expired.push(ended));
      expect(socket.terminated).toBe(false);
      jest.advanceTimersByTime(1_500);
      expect(expired).toEqual([connection]);
    } finally {
      jest.useRealTimers();
    }
  });

  it('should not handle a frame read once the token ran out, unless a refresh sent in time is being handled', async () => {
    const { socket, connection, handled, finish, settle } = setUp();
    connection.principal.expiresAt = Date.now() - 1;
    socket.emit('message', Buffer.from('late'), false);
    await settle();
    expect(handled).toEqual([]);
    // a refresh still counts, and so does a frame while one received in time is handled
    socket.emit('message', Buffer.from('{"type":"auth_refresh","token":"t"}'), false);
    connection.refreshing = 1;
    socket.emit('message', Buffer.from('waits for the refresh'), false);
    await settle();
    // its place comes once the refresh is handled
    finish.shift()?.();
    for (let turn = 0; turn < 5; turn++) await settle();
    expect(handled).toEqual(['{"type":"auth_refresh","token":"t"}', 'waits for the refresh']);
  });

  it('should still end a socket that was read all along and answered no ping', () => {
    const socket = new FakeSocket();
    const connection = connectionOf(socket);
    connection.alive = true;
    heartbeat([connection], HEARTBEAT_MS, noExpiry);
    heartbeat([connection], HEARTBEAT_MS, noExpiry);
    expect(socket.terminated).toBe(true);
  });
});
