import { WebSocket } from 'ws';
import { InProcessBus, InProcessNetwork } from '../../infra/bus/in-process.bus';
import type { Principal } from '../../common/auth/principal';
import { ClientHub, MAX_PENDING_FRAMES } from './client-hub';
import { CLOSE_SLOW_CLIENT, drained } from './write-data';
import type { Connection } from './connection';
import type { AiDeltaFrame, ConnectionStatusFrame, StoredEventFrame } from '../../protocol/frames';
import type { ServerFrame } from './frames';
import { ReadGate } from '../../common/read-gate';
import type { SessionsService } from '../sessions/sessions.service';

const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

interface FakeSocket {
  readyState: number;
  bufferedAmount: number;
  send: jest.Mock;
  close: jest.Mock;
}

let nextId = 0;

function fakeSocket(overrides: Partial<FakeSocket> = {}): FakeSocket {
  return { readyState: WebSocket.OPEN, bufferedAmount: 0, send: jest.fn(), close: jest.fn(), ...overrides };
}

function principal(userId: string): Principal {
  return { userId, roles: [], isAdmin: false, expiresAt: Date.now() + 60_000 };
}

function connection(
  overrides: {
    userId?: string;
    sessionId?: string;
    pending?: ServerFrame[] | null;
    socket?: Partial<FakeSocket>;
  } = {},
): { connection: Connection; socket: FakeSocket } {
  const socket = fakeSocket(overrides.socket);
  return {
    socket,
    connection: {
      id: `c${++nextId}`,
      socket: socket as unknown as WebSocket,
      principal: principal(overrides.userId ?? 'user-1'),
      sessionId: overrides.sessionId ?? 'session-1',
      alive: true,
      seenAt: Date.now(),
      pending: overrides.pending ?? null,
    },
  };
}

// an ephemeral frame (no id of its own): delivered as it comes
const FRAME: ServerFrame = { type: 'session_renamed', session_id: 'session-1', seq: 4, content: 'hello' };

function status(sessionId: string, seq: number, tokenExpiresAt = 't'): ConnectionStatusFrame {
  return {
    type: 'connection_status',
    session_id: sessionId,
    seq,
    metadata: {
      status: 'connected',
      restored: false,
      models: [],
      model_id: 'demo',
      name: 'New chat',
      token_expires_at: tokenExpiresAt,
      max_message_length: 4096,
    },
  };
}

describe(ClientHub.name, () => {
  let hub: ClientHub;

  beforeEach(() => {
    hub = new ClientHub();
  });

  afterEach(() => {
    jest.restoreAllMocks();
  });

  describe('toSession', () => {
    it('should send the frame to every connection of the session except the given one', () => {
      const a = connection();
      const b = connection({ userId: 'admin-1' });
      const sender = connection();
      const elsewhere = connection({ sessionId: 'session-2' });
      for (const item of [a, b, sender, elsewhere]) hub.add(item.connection);

      hub.toSession('session-1', FRAME, sender.connection);

      expect(a.socket.send).toHaveBeenCalledWith(JSON.stringify(FRAME));
      expect(b.socket.send).toHaveBeenCalledWith(JSON.stringify(FRAME));
      expect(sender.socket.send).not.toHaveBeenCalled();
      expect(elsewhere.socket.send).not.toHaveBeenCalled();
    });

    it('should serialise the frame once when the session has several connections', () => {
      const sockets = [connection(), connection(), connection()];
      for (const item of sockets) hub.add(item.connection);
      const stringify = jest.spyOn(JSON, 'stringify');

      hub.toSession('session-1', FRAME);

      expect(stringify).toHaveBeenCalledTimes(1);
      for (const item of sockets) expect(item.socket.send).toHaveBeenCalledWith(JSON.stringify(FRAME));
    });

    it('should skip connections the filter rejects when a filter is given', () => {
      const user = connection({ userId: 'user-1' });
      const admin = connection({ userId: 'admin-1' });
      hub.add(user.connection);
      hub.add(admin.connection);

      hub.toSession('session-1', FRAME, undefined, (candidate) => candidate.principal.userId === 'admin-1');

      expect(admin.socket.send).toHaveBeenCalledTimes(1);
      expect(user.socket.send).not.toHaveBeenCalled();
    });

    it('should queue the frame instead of sending when the connection is replaying history', () => {
      const pending: ServerFrame[] = [];
      const replaying = connection({ pending });
      const live = connection();
      hub.add(replaying.connection);
      hub.add(live.connection);

      hub.toSession('session-1', FRAME);

      expect(replaying.socket.send).not.toHaveBeenCalled();
      expect(pending).toEqual([FRAME]);
      expect(live.socket.send).toHaveBeenCalledTimes(1);
    });

    it('should close a replaying socket as too slow once it holds MAX_PENDING_FRAMES, holding no more', () => {
      const pending: ServerFrame[] = [];
      const replaying = connection({ pending });
      hub.add(replaying.connection);
      for (let index = 0; index < MAX_PENDING_FRAMES; index++) hub.toSession('session-1', FRAME);
      expect(replaying.socket.close).not.toHaveBeenCalled();
      for (let index = 0; index < 5; index++) hub.toSession('session-1', FRAME);
      expect(replaying.socket.close).toHaveBeenCalledTimes(1);
      expect(replaying.socket.close).toHaveBeenCalledWith(1013, expect.any(String));
      expect(pending.length).toBe(MAX_PENDING_FRAMES + 1);
    });

    it('should do nothing when the session has no connections', () => {
      const other = connection({ sessionId: 'session-2' });
      hub.add(other.connection);
      hub.toSession('session-9', FRAME);
      expect(other.socket.send).not.toHaveBeenCalled();
    });

    it('should close a socket with 1013 and not send to it when more than 4 MiB is buffered', () => {
      const slow = connection({ socket: { bufferedAmount: MAX_BUFFERED_BYTES + 1 } });
      const fast = connection();
      hub.add(slow.connection);
      hub.add(fast.connection);

      hub.toSession('session-1', FRAME);

      expect(CLOSE_SLOW_CLIENT).toBe(1013);
      expect(slow.socket.close).toHaveBeenCalledWith(1013, expect.any(String));
      expect(slow.socket.send).not.toHaveBeenCalled();
      expect(fast.socket.send).toHaveBeenCalledTimes(1);
      expect(fast.socket.close).not.toHaveBeenCalled();
    });

    it('should still send when exactly 4 MiB is buffered', () => {
      const busy = connection({ socket: { bufferedAmount: MAX_BUFFERED_BYTES } });
      hub.add(busy.connection);

      hub.toSession('session-1', FRAME);

      expect(busy.socket.send).toHaveBeenCalledTimes(1);
      expect(busy.socket.close).not.toHaveBeenCalled();
    });

    it('should neither send nor close when the socket is no longer open', () => {
      const closing = connection({
        socket: { readyState: WebSocket.CLOSING, bufferedAmount: MAX_BUFFERED_BYTES * 2 },
      });
      hub.add(closing.connection);

      hub.toSession('session-1', FRAME);

      expect(closing.socket.send).not.toHaveBeenCalled();
      expect(closing.socket.close).not.toHaveBeenCalled();
    });
  });

  describe('send', () => {
    it('should write the frame as JSON when the socket is open', () => {
      const target = connection();
      hub.send(target.connection, FRAME);
      expect(target.socket.send).toHaveBeenCalledWith(JSON.stringify(FRAME));
    });

    it('should send even while the connection is replaying history', () => {
      const target = connection({ pending: [] });
      hub.send(target.connection, FRAME);
      expect(target.socket.send).toHaveBeenCalledTimes(1);
    });

    // CONTRACT §2: every frame of a session carries seq; until the contract audit of session 44 an
    // error naming another session than the socket's (a second admin's join refused) carried none
    it("should stamp a frame naming another session with that session's last seq here, else 0, keeping its own", () => {
      const log = { lastSeq: jest.fn((id: string) => (id === 'known' ? 7 : undefined)) };
      hub = new ClientHub(undefined, log as unknown as SessionsService);
      const target = connection({ sessionId: 'own' });
      const sent = () => JSON.parse(target.socket.send.mock.calls.at(-1)[0] as string) as ServerFrame;
      const error = {
        type: 'error',
        error: { code: 'SESSION_LOCKED', message: 'x', recoverable: true },
      } as const;
      hub.send(target.connection, { ...error, session_id: 'known' });
      expect(sent()).toMatchObject({ session_id: 'known', seq: 7 });
      hub.send(target.connection, { ...error, session_id: 'unknown' });
      expect(sent()).toMatchObject({ session_id: 'unknown', seq: 0 });
      hub.send(target.connection, { ...error, session_id: 'known', seq: 9 });
      expect(sent()).toMatchObject({ session_id: 'known', seq: 9 });
      // a frame naming no session is left as it is
      hub.send(target.connection, { ...error });
      expect(sent()).not.toHaveProperty('seq');
    });

    it('should close with 1013 instead of sending when the client is too slow', () => {
      const slow = connection({ socket: { bufferedAmount: MAX_BUFFERED_BYTES + 1 } });
      hub.send(slow.connection, FRAME);
      expect(slow.socket.close).toHaveBeenCalledWith(CLOSE_SLOW_CLIENT, expect.any(String));
      expect(slow.socket.send).not.toHaveBeenCalled();
    });
  });

  describe('bookkeeping', () => {
    it('should count every added connection', () => {
      expect(hub.count).toBe(0);
      hub.add(connection().connection);
      hub.add(connection({ userId: 'user-2', sessionId: 'session-2' }).connection);
      hub.add(connection().connection);
      expect(hub.count).toBe(3);
    });

    it('should index connections by user and by session when they are added', () => {
      const first = connection({ userId: 'user-1', sessionId: 'session-1' });
      const second = connection({ userId: 'user-1', sessionId: 'session-2' });
      const third = connection({ userId: 'user-2', sessionId: 'session-3' });
      for (const item of [first, second, third]) hub.add(item.connection);

      expect(hub.ofUser('user-1')).toEqual([first.connection, second.connection]);
      expect(hub.ofUser('user-2')).toEqual([third.connection]);
      expect(hub.ofUser('nobody')).toEqual([]);
      expect(hub.sessionIds().sort()).toEqual(['session-1', 'session-2', 'session-3']);
      expect(hub.all()).toHaveLength(3);
      expect(hub.hasSession('session-2')).toBe(true);
      expect(hub.hasSession('session-9')).toBe(false);
    });

    it('should forget the connection and decrement the count once when it is removed', () => {
      const gone = connection();
      const stays = connection();
      hub.add(gone.connection);
      hub.add(stays.connection);

      expect(hub.remove(gone.connection)).toBe(true);
      expect(hub.count).toBe(1);
      expect(hub.ofUser('user-1')).toEqual([stays.connection]);

      expect(hub.remove(gone.connection)).toBe(false);
      expect(hub.count).toBe(1);

      hub.toSession('session-1', FRAME);
      expect(gone.socket.send).not.toHaveBeenCalled();
      expect(stays.socket.send).toHaveBeenCalledTimes(1);
    });

    it('should drop empty sessions and users when their last connection is removed', () => {
      const only = connection({ userId: 'user-7', sessionId: 'session-7' });
      hub.add(only.connection);
      hub.remove(only.connection);

      expect(hub.count).toBe(0);
      expect(hub.hasSession('session-7')).toBe(false);
      expect(hub.sessionIds()).toEqual([]);
      expect(hub.ofUser('user-7')).toEqual([]);
      expect(hub.all()).toEqual([]);
    });

    it('should return false and keep the count when removing a connection that was never added', () => {
      hub.add(connection().connection);
      expect(hub.remove(connection().connection)).toBe(false);
      expect(hub.count).toBe(1);
    });

    it('should route session frames to the new session when a connection is moved', () => {
      const moving = connection({ sessionId: 'old' });
      const stays = connection({ sessionId: 'old' });
      hub.add(moving.connection);
      hub.add(stays.connection);

      hub.move(moving.connection, 'new');

      expect(moving.connection.sessionId).toBe('new');
      expect(hub.count).toBe(2);
      expect(hub.hasSession('new')).toBe(true);
      hub.toSession('old', FRAME);
      expect(moving.socket.send).not.toHaveBeenCalled();
      expect(stays.socket.send).toHaveBeenCalledTimes(1);
      hub.toSession('new', FRAME);
      expect(moving.socket.send).toHaveBeenCalledTimes(1);
      expect(stays.socket.send).toHaveBeenCalledTimes(1);
    });

    it('should drop the old session when its only connection is moved away', () => {
      const moving = connection({ sessionId: 'old' });
      hub.add(moving.connection);

      hub.move(moving.connection, 'new');

      expect(hub.hasSession('old')).toBe(false);
      expect(hub.sessionIds()).toEqual(['new']);
    });

    it('should remove a moved connection from its new session when it is removed', () => {
      const moving = connection({ sessionId: 'old' });
      hub.add(moving.connection);
      hub.move(moving.connection, 'new');

      expect(hub.remove(moving.connection)).toBe(true);
      expect(hub.hasSession('new')).toBe(false);
      expect(hub.sessionIds()).toEqual([]);
      expect(hub.count).toBe(0);
    });
  });
});

describe(`${ClientHub.name} across instances`, () => {
  // two hubs on one in-process network behave as two instances on Redis
  function pair() {
    const network = new InProcessNetwork();
    const one = new ClientHub(new InProcessBus(network));
    const two = new ClientHub(new InProcessBus(network));
    one.onModuleInit();
    two.onModuleInit();
    return { one, two };
  }

  function adminConnection(sessionId: string) {
    const item = connection({ userId: 'admin-9', sessionId });
    item.connection.principal = { ...item.connection.principal, isAdmin: true };
    return item;
  }

  it('should reach the sockets of a session on the other instance once, and not the sender', () => {
    const { one, two } = pair();
    const sender = connection();
    const local = connection();
    const remote = connection();
    one.add(sender.connection);
    one.add(local.connection);
    two.add(remote.connection);

    one.toSession('session-1', FRAME, sender.connection);

    expect(local.socket.send).toHaveBeenCalledTimes(1);
    expect(remote.socket.send).toHaveBeenCalledTimes(1);
    expect(JSON.parse(remote.socket.send.mock.calls[0][0] as string)).toEqual(FRAME);
    expect(sender.socket.send).not.toHaveBeenCalled();
  });

  it('should filter by audience on every instance', () => {
    const { one, two } = pair();
    const user = connection();
    const admin = adminConnection('session-1');
    two.add(user.connection);
    two.add(admin.connection);

    one.toSession(
      'session-1',
      {
        type: 'typing_indicator',
        session_id: 'session-1',
        seq: 1,
        sender: 'user',
        metadata: { typing: true },
      },
      undefined,
      'admins',
    );

    expect(admin.socket.send).toHaveBeenCalledTimes(1);
    expect(user.socket.send).not.toHaveBeenCalled();
  });

  it('should deliver stored events from two instances in seq order even when they cross', () => {
    const { one, two } = pair();
    const watcher = connection();
    two.add(watcher.connection);
    two.send(watcher.connection, status('session-1', 0));
    const event = (seq: number): StoredEventFrame => ({
      type: 'user_message',
      session_id: 'session-1',
      seq,
      id: `m${seq}`,
      sender: 'user',
      timestamp: 't',
      content: 'hello',
    });

    one.toSession('session-1', event(2));
    two.toSession('session-1', event(1));
    one.toSession('session-1', event(2));

    const seqs = watcher.socket.send.mock.calls.map(
      (call) => (JSON.parse(call[0] as string) as ServerFrame).seq,
    );
    expect(seqs).toEqual([0, 1, 2]);
  });

  // found by the chaos test's takeovers: a piece of a reply streaming on one instance, sent before
  // that instance heard of the takeover, reached a user on the other instance after the admin_join
  // it had been shown there (docs/protocol.md, "Takeover handoff")
  it('should show a socket no piece of the model reply between the admin_join it was shown and the admin_leave', () => {
    const { one, two } = pair();
    const user = connection();
    two.add(user.connection);
    two.send(user.connection, status('session-1', 3));
    const piece = (offset: number): AiDeltaFrame => ({
      type: 'ai_response',
      id: 'r1',
      sender: 'ai',
      metadata: { delta: 'x', done: false, offset },
    });
    const event = (type: 'admin_join' | 'admin_leave', seq: number): StoredEventFrame => ({
      type,
      id: `e${seq}`,
      session_id: 'session-1',
      seq,
      sender: 'admin',
      timestamp: new Date().toISOString(),
      metadata: { admin_name: 'Ada' },
    });
    one.ephemeral('session-1', piece(0));
    two.toSession('session-1', event('admin_join', 4));
    one.ephemeral('session-1', piece(1));
    two.ephemeral('session-1', piece(2));
    two.toSession('session-1', event('admin_leave', 5));
    one.ephemeral('session-1', piece(3));
    const shown = user.socket.send.mock.calls.map(([data]) => {
      const frame = JSON.parse(data as string) as ServerFrame & { metadata?: { offset?: number } };
      return frame.type === 'ai_response' ? `piece ${frame.metadata?.offset}` : frame.type;
    });
    expect(shown).toEqual(['connection_status', 'piece 0', 'admin_join', 'admin_leave', 'piece 3']);
  });

  it('should show a socket connecting to an assisted session no piece of the model reply', () => {
    const { one, two } = pair();
    const user = connection();
    two.add(user.connection);
    const assisted = status('session-1', 3);
    two.send(user.connection, { ...assisted, metadata: { ...assisted.metadata, assisting_admin: 'Ada' } });
    const piece: AiDeltaFrame = {
      type: 'ai_response',
      id: 'r1',
      sender: 'ai',
      metadata: { delta: 'x', done: false, offset: 0 },
    };
    one.ephemeral('session-1', piece);
    // nor the snapshot of a reply in flight a reconnect is sent (ConnectionsService.connect)
    two.send(user.connection, {
      ...piece,
      session_id: 'session-1',
      metadata: { ...piece.metadata, resumed: true },
    });
    expect(user.socket.send).toHaveBeenCalledTimes(1);
  });

  it('should reach every device of a user wherever it is connected', () => {
    const { one, two } = pair();
    const here = connection({ sessionId: 'a' });
    const there = connection({ sessionId: 'b' });
    one.add(here.connection);
    two.add(there.connection);
    one.toUser('user-1', { type: 'session_renamed', content: 'notice' });
    expect(here.socket.send).toHaveBeenCalledTimes(1);
    expect(there.socket.send).toHaveBeenCalledTimes(1);
  });

  it('should move the user devices on the other instance to the new session, each with its own token expiry', () => {
    const { one, two } = pair();
    const origin = connection({ sessionId: 'old' });
    const remote = connection({ sessionId: 'old' });
    const admin = adminConnection('old');
    one.add(origin.connection);
    two.add(remote.connection);
    two.add(admin.connection);

    one.moveUser(
      origin.connection,
      (socket) => status('new', 0, new Date(socket.principal.expiresAt).toISOString()),
      false,
    );

    expect(origin.connection.sessionId).toBe('new');
    expect(remote.connection.sessionId).toBe('new');
    expect(admin.connection.sessionId).toBe('old');
    const sent = JSON.parse(remote.socket.send.mock.calls[0][0] as string) as ConnectionStatusFrame;
    expect(sent.metadata.token_expires_at).toBe(
      new Date(remote.connection.principal.expiresAt).toISOString(),
    );
    expect(two.hasSession('new')).toBe(true);
  });

  it("should move every device of a user, here and on the other instance, with no socket as origin, admins' aside", () => {
    const { one, two } = pair();
    const here = connection({ sessionId: 'deleted' });
    const there = connection({ sessionId: 'deleted' });
    const console = connection({ sessionId: 'console' });
    console.connection.principal = { ...console.connection.principal, isAdmin: true };
    one.add(here.connection);
    one.add(console.connection);
    two.add(there.connection);

    one.moveDevices('user-1', status('new', 0));

    expect([here.connection.sessionId, there.connection.sessionId]).toEqual(['new', 'new']);
    expect(console.connection.sessionId).toBe('console');
    for (const device of [here, there]) {
      const sent = JSON.parse(device.socket.send.mock.calls[0][0] as string) as ConnectionStatusFrame;
      expect(sent.metadata.token_expires_at).toBe(
        new Date(device.connection.principal.expiresAt).toISOString(),
      );
    }
    expect(one.hasSession('deleted')).toBe(false);
    expect(two.hasSession('new')).toBe(true);
  });
});

describe('ClientHub after a bus outage', () => {
  it("should catch its sockets up at most the gate's places at a time, one read per session at a time", async () => {
    let resync: () => void = () => undefined;
    const bus = Object.assign(new InProcessBus(), {
      onResync(handler: () => void) {
        resync = handler;
      },
    });
    let running = 0;
    let peak = 0;
    const reading = new Map<string, number>();
    let twiceOneSession = false;
    const waiting: Array<() => void> = [];
    const log = {
      storedAfter: async (sessionId: string) => {
        running++;
        peak = Math.max(peak, running);
        reading.set(sessionId, (reading.get(sessionId) ?? 0) + 1);
        if ((reading.get(sessionId) ?? 0) > 1) twiceOneSession = true;
        await new Promise<void>((resolve) => waiting.push(resolve));
        reading.set(sessionId, (reading.get(sessionId) ?? 0) - 1);
        running--;
        return [];
      },
    };
    const hub = new ClientHub(bus, log as unknown as SessionsService, new ReadGate(3, 0));
    hub.onModuleInit();
    // twenty sockets on ten sessions, two each
    for (let index = 0; index < 20; index++) {
      const { connection: socket } = connection({ userId: `u${index}`, sessionId: `s${index % 10}` });
      hub.add(socket);
      hub.resume(socket, 2, []);
    }
    resync();
    let served = 0;
    for (let round = 0; round < 100 && served < 20; round++) {
      await new Promise((resolve) => setImmediate(resolve));
      const next = waiting.shift();
      if (next) {
        next();
        served++;
      }
    }
    expect(served).toBe(20);
    expect(peak).toBe(3);
    expect(twiceOneSession).toBe(false);
  });
});

describe('drained', () => {
  it('should wait until the socket holds at most the bound unsent, or is closed, and give up after the time', async () => {
    const { connection: draining, socket } = connection({ socket: { bufferedAmount: 5_000 } });
    setTimeout(() => (socket.bufferedAmount = 100), 20);
    expect(await drained(draining, 1_000, 1_000)).toBe(true);
    const { connection: closing, socket: closed } = connection({ socket: { bufferedAmount: 5_000 } });
    setTimeout(() => (closed.readyState = WebSocket.CLOSED), 20);
    expect(await drained(closing, 1_000, 1_000)).toBe(true);
    const { connection: stuck } = connection({ socket: { bufferedAmount: 5_000 } });
    expect(await drained(stuck, 1_000, 50)).toBe(false);
    const { connection: empty } = connection();
    expect(await drained(empty, 0, 0)).toBe(true);
  });
});
