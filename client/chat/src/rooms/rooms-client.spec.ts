import type { ChatSocket, LinkState } from '../chat-socket';
import { RoomsClient } from './rooms-client';
import { roomsApi, type HistoryPage } from './rooms-api';

const ROOM = 'room-1';

// A socket that records what the rooms client sends; frames are fed by hand.
function fakeSocket() {
  const sent: Array<Record<string, unknown>> = [];
  const socket = {
    rooms: null,
    state: { kind: 'connected' } as LinkState,
    send: (frame: Record<string, unknown>) => {
      sent.push(frame);
      return true;
    },
    forget: () => undefined,
  };
  return { socket: socket as unknown as ChatSocket, sent };
}

function chat(seq: number, userId = 'bob', extra: Record<string, unknown> = {}) {
  return {
    type: 'chat',
    room_id: ROOM,
    message_id: `m${seq}`,
    seq,
    user_id: userId,
    timestamp: '2026-01-01T00:00:00.000Z',
    content: `message ${seq}`,
    metadata: { kind: 'text' },
    ...extra,
  };
}

function joinedClient() {
  const { socket, sent } = fakeSocket();
  const rooms = new RoomsClient(socket, () => 'token', 'alice');
  rooms.joinRoom(ROOM);
  rooms.onFrame(chat(1));
  rooms.onFrame(chat(2));
  rooms.onFrame({
    type: 'join',
    room_id: ROOM,
    user_id: 'alice',
    seq: 2,
    metadata: { online: ['bob'], replayed: 2 },
  });
  return { rooms, sent, socket };
}

describe(RoomsClient.name, () => {
  it('should register on the chat socket and join without last_seq the first time', () => {
    const { socket, sent } = fakeSocket();
    const rooms = new RoomsClient(socket, () => 'token', 'alice');
    expect(socket.rooms).toBe(rooms);
    rooms.joinRoom(ROOM);
    expect(sent).toEqual([{ type: 'join', room_id: ROOM, client_id: expect.stringMatching(/^join:/) }]);
  });

  it("should read the room list again when the server says the user's rooms changed", () => {
    const { rooms } = joinedClient();
    const refresh = jest.spyOn(rooms, 'refresh').mockResolvedValue(undefined);
    rooms.onFrame({ type: 'rooms_changed', room_id: 'dm-1', metadata: { reason: 'dm' } });
    expect(refresh).toHaveBeenCalledTimes(1);
  });

  it('should join every room again with last_seq after a reconnect', () => {
    const { rooms, sent } = joinedClient();
    rooms.onFrame(chat(3));
    sent.length = 0;
    rooms.onConnected();
    expect(sent).toEqual([
      { type: 'join', room_id: ROOM, last_seq: 3, client_id: expect.stringMatching(/^join:/) },
    ]);
  });

  it('should send with a client_id, show it pending, and sent on the ack', () => {
    const { rooms, sent } = joinedClient();
    rooms.open(ROOM);
    sent.length = 0;
    rooms.sendText('  hello  ', 'm1');
    const frame = sent.find((entry) => entry.type === 'chat');
    expect(frame).toMatchObject({ room_id: ROOM, content: 'hello', metadata: { reply_to: 'm1' } });
    expect(rooms.store.messages(ROOM).at(-1)).toMatchObject({ pending: true, replyTo: 'm1' });
    rooms.onFrame({ type: 'ack', room_id: ROOM, client_id: frame?.client_id, message_id: 'm3', seq: 3 });
    expect(rooms.store.messages(ROOM).at(-1)).toMatchObject({ pending: false, messageId: 'm3', seq: 3 });
    // a replay of the same message after a reconnect changes nothing
    rooms.onFrame(chat(3, 'alice', { message_id: 'm3', client_id: frame?.client_id, content: 'hello' }));
    expect(rooms.store.messages(ROOM)).toHaveLength(3);
  });

  it('should count live messages of others as unread while the room is not open, and mark read when open', () => {
    const { rooms, sent } = joinedClient();
    rooms.onFrame(chat(3));
    rooms.onFrame(chat(4, 'alice'));
    expect(rooms.store.thread(ROOM).unread.count).toBe(1);
    rooms.setVisible(true);
    rooms.open(ROOM);
    expect(rooms.store.thread(ROOM).unread.count).toBe(0);
    expect(sent.filter((frame) => frame.type === 'read').at(-1)).toEqual({
      type: 'read',
      room_id: ROOM,
      seq: 4,
      client_id: expect.stringMatching(/^read:/),
    });
    rooms.setVisible(false);
  });

  it('should mark a refused message failed and show why', () => {
    const { rooms, sent } = joinedClient();
    rooms.open(ROOM);
    rooms.sendText('hello');
    const clientId = sent.find((entry) => entry.type === 'chat')?.client_id;
    rooms.onFrame({
      type: 'error',
      room_id: ROOM,
      client_id: clientId,
      error: { code: 'MUTED', message: 'muted', recoverable: true },
    });
    expect(rooms.store.messages(ROOM).at(-1)).toMatchObject({ pending: true, failed: 'MUTED' });
    expect(rooms.notice?.code).toBe('MUTED');
  });

  it('should stop joining a room that refused the join, and keep a room whose message was not found', () => {
    const { rooms, sent } = joinedClient();
    rooms.onFrame({
      type: 'error',
      room_id: ROOM,
      error: { code: 'NOT_FOUND', message: 'Message not found.', recoverable: true },
    });
    sent.length = 0;
    rooms.onConnected();
    expect(sent.map((frame) => frame.type)).toEqual(['join']);
    const joinId = sent[0].client_id;
    rooms.onFrame({
      type: 'error',
      room_id: ROOM,
      client_id: joinId,
      error: { code: 'NOT_FOUND', message: 'Room not found.', recoverable: true },
    });
    sent.length = 0;
    rooms.onConnected();
    expect(sent).toEqual([]);
  });

  it('should join again after retry_after when the join was over the budget, without a notice', () => {
    jest.useFakeTimers();
    try {
      const { rooms, sent } = joinedClient();
      sent.length = 0;
      rooms.onConnected();
      rooms.onFrame({
        type: 'error',
        room_id: ROOM,
        client_id: sent[0].client_id,
        error: { code: 'RATE_LIMITED', message: 'slow down', recoverable: true, retry_after: 400 },
      });
      expect(rooms.notice).toBeNull();
      jest.advanceTimersByTime(399);
      expect(sent).toHaveLength(1);
      jest.advanceTimersByTime(1);
      expect(sent.at(-1)).toMatchObject({ type: 'join', room_id: ROOM, last_seq: 2 });
    } finally {
      jest.useRealTimers();
    }
  });

  it('should send read marks at most once a second, the newest last', () => {
    jest.useFakeTimers();
    try {
      const { rooms, sent } = joinedClient();
      rooms.setVisible(true);
      rooms.open(ROOM);
      for (let seq = 3; seq <= 6; seq++) rooms.onFrame(chat(seq));
      const reads = () => sent.filter((frame) => frame.type === 'read').map((frame) => frame.seq);
      expect(reads()).toEqual([2]);
      jest.advanceTimersByTime(1000);
      expect(reads()).toEqual([2, 6]);
      rooms.setVisible(false);
    } finally {
      jest.useRealTimers();
    }
  });

  it('should react, and take the reaction back when it is already given', () => {
    const { rooms, sent } = joinedClient();
    rooms.open(ROOM);
    rooms.react('m1', '👍');
    expect(sent.at(-1)).toEqual({
      type: 'react',
      room_id: ROOM,
      message_id: 'm1',
      content: '👍',
      client_id: expect.any(String),
    });
    rooms.onFrame({
      type: 'react',
      room_id: ROOM,
      message_id: 'm1',
      user_id: 'alice',
      content: '👍',
      metadata: { removed: false },
    });
    rooms.react('m1', '👍');
    expect(sent.at(-1)).toMatchObject({ type: 'react', metadata: { remove: true } });
  });

  // The join's `online` is the room's presence when it answers: a direct message's other side is
  // offline when missing from it, whatever this device heard before its socket was cut.
  describe('presence on a rejoin', () => {
    const DM = 'dm-1';
    const dmWith = (other: string) => ({
      id: DM,
      kind: 'dm' as const,
      name: '',
      owner_id: 'alice',
      dm_users: ['alice', other],
      last_message_at: null,
      membership: 'member' as const,
      role: 'member' as const,
      unread_count: 0,
    });
    const joinAnswer = (roomId: string, seq: number, online: string[]) => ({
      type: 'join',
      room_id: roomId,
      user_id: 'alice',
      seq,
      metadata: { online, replayed: 0 },
    });
    const withDm = (other: string, online: string[]) => {
      const joined = joinedClient();
      joined.rooms.rooms = [dmWith(other)];
      joined.rooms.joinRoom(DM);
      joined.rooms.onFrame(joinAnswer(DM, 0, online));
      return joined;
    };

    it('should show the other side of a direct message offline when the rejoin does not list them', () => {
      const { rooms } = withDm('carol', ['carol']);
      expect(rooms.presence.get('carol')).toBe('online');
      // the socket was cut; carol left meanwhile (the offline frame went to the old socket)
      rooms.onConnected();
      rooms.onFrame(joinAnswer(DM, 0, []));
      expect(rooms.presence.get('carol')).toBe('offline');
    });

    it('should show the other side of a direct message online when the rejoin lists them', () => {
      const { rooms } = withDm('carol', []);
      rooms.onFrame({
        type: 'presence',
        room_id: DM,
        user_id: 'carol',
        metadata: { users: [{ user_id: 'carol', status: 'offline' }] },
      });
      rooms.onConnected();
      rooms.onFrame(joinAnswer(DM, 0, ['carol']));
      expect(rooms.presence.get('carol')).toBe('online');
      // away is not offline: the join does not tell them apart, so a known away stays
      rooms.onFrame({
        type: 'presence',
        room_id: DM,
        user_id: 'carol',
        metadata: { users: [{ user_id: 'carol', status: 'away' }] },
      });
      rooms.onConnected();
      rooms.onFrame(joinAnswer(DM, 0, ['carol']));
      expect(rooms.presence.get('carol')).toBe('away');
    });

    it("should leave a user's presence learned in a direct message to it when a room's join does not list them", () => {
      // bob is online in the DM; he left the room ROOM meanwhile, so its join lists nobody
      const { rooms } = withDm('bob', ['bob']);
      rooms.onConnected();
      rooms.onFrame(joinAnswer(DM, 0, ['bob']));
      rooms.onFrame(joinAnswer(ROOM, 2, []));
      expect(rooms.presence.get('bob')).toBe('online');
      expect([...rooms.store.thread(ROOM).online]).toEqual([]);
    });
  });

  describe('resume point and gaps (issue 14)', () => {
    const lastSeqOnReconnect = (rooms: RoomsClient, sent: Array<Record<string, unknown>>) => {
      sent.length = 0;
      rooms.onConnected();
      return sent.find((frame) => frame.type === 'join')?.last_seq;
    };
    const page = (...seqs: number[]): HistoryPage => ({
      items: seqs.map((seq) => chat(seq)),
      next_before: seqs[0] ?? null,
    });

    afterEach(() => {
      jest.restoreAllMocks();
      jest.useRealTimers();
    });

    it('should resume from below a gap (seq 4 before 3), and from past it once 3 arrives', () => {
      const { rooms, sent } = joinedClient();
      rooms.onFrame(chat(4));
      expect(lastSeqOnReconnect(rooms, sent)).toBe(2);
      rooms.onFrame(chat(3));
      expect(lastSeqOnReconnect(rooms, sent)).toBe(4);
      expect(rooms.store.messages(ROOM).map((message) => message.seq)).toEqual([1, 2, 3, 4]);
    });

    it("should count the ack of the user's own message for the resume point once the gap below it fills", () => {
      const { rooms, sent } = joinedClient();
      rooms.open(ROOM);
      rooms.sendText('mine');
      const clientId = sent.find((frame) => frame.type === 'chat')?.client_id;
      rooms.onFrame({ type: 'ack', room_id: ROOM, client_id: clientId, message_id: 'm4', seq: 4 });
      expect(lastSeqOnReconnect(rooms, sent)).toBe(2);
      rooms.onFrame(chat(3));
      expect(lastSeqOnReconnect(rooms, sent)).toBe(4);
    });

    it('should stand where the join says after a first join, whatever the history before it', () => {
      const { socket, sent } = fakeSocket();
      const rooms = new RoomsClient(socket, () => 'token', 'alice');
      rooms.joinRoom(ROOM);
      for (let seq = 401; seq <= 500; seq++) rooms.onFrame(chat(seq));
      rooms.onFrame({
        type: 'join',
        room_id: ROOM,
        user_id: 'alice',
        seq: 500,
        metadata: { online: [], replayed: 100 },
      });
      expect(lastSeqOnReconnect(rooms, sent)).toBe(500);
    });

    it('should read a gap still open after 2 s from the REST history, and show each message once, in order', async () => {
      jest.useFakeTimers();
      const history = jest.spyOn(roomsApi, 'history').mockResolvedValue(page(3, 4));
      const { rooms, sent } = joinedClient();
      rooms.onFrame(chat(5));
      // the live frame of 4 comes meanwhile (3 stays missing)
      rooms.onFrame(chat(4));
      await jest.advanceTimersByTimeAsync(1_999);
      expect(history).not.toHaveBeenCalled();
      await jest.advanceTimersByTimeAsync(1);
      expect(history).toHaveBeenCalledTimes(1);
      expect(history).toHaveBeenCalledWith('token', ROOM, 4, 1);
      expect(rooms.store.messages(ROOM).map((message) => message.seq)).toEqual([1, 2, 3, 4, 5]);
      expect(lastSeqOnReconnect(rooms, sent)).toBe(5);
      await jest.advanceTimersByTimeAsync(10_000);
      expect(history).toHaveBeenCalledTimes(1);
    });

    it("should not move the room's last activity back for a message read into a gap", async () => {
      jest.useFakeTimers();
      jest.spyOn(roomsApi, 'history').mockResolvedValue({
        items: [chat(3, 'bob', { timestamp: '2026-01-01T00:00:03.000Z' })],
        next_before: 3,
      });
      const { rooms } = joinedClient();
      const refresh = jest.spyOn(rooms, 'refresh').mockResolvedValue(undefined);
      rooms.rooms = [
        {
          id: ROOM,
          kind: 'public',
          name: 'Room',
          owner_id: 'bob',
          last_message_at: null,
          membership: 'member',
          role: 'member',
          unread_count: 0,
        },
      ];
      rooms.onFrame(chat(4, 'bob', { timestamp: '2026-01-01T00:00:04.000Z' }));
      await jest.advanceTimersByTimeAsync(2_000);
      expect(rooms.store.thread(ROOM).resume.point).toBe(4);
      expect(rooms.rooms[0].last_message_at).toBe('2026-01-01T00:00:04.000Z');
      // both missed live: both unread, and the list is not read again for a room it has
      expect(rooms.store.thread(ROOM).unread.count).toBe(2);
      expect(refresh).not.toHaveBeenCalled();
    });

    it('should page down a gap wider than a page, then resume from past it', async () => {
      jest.useFakeTimers();
      const range = (from: number, to: number) =>
        Array.from({ length: to - from + 1 }, (_, index) => from + index);
      const history = jest
        .spyOn(roomsApi, 'history')
        .mockImplementation((_token, _room, before, limit) =>
          Promise.resolve(page(...range(Math.max(1, before - limit), before - 1))),
        );
      const { rooms, sent } = joinedClient();
      rooms.onFrame(chat(153));
      await jest.advanceTimersByTimeAsync(2_000);
      expect(history.mock.calls.map(([, , before, limit]) => [before, limit])).toEqual([
        [153, 100],
        [53, 50],
      ]);
      expect(rooms.store.messages(ROOM).map((message) => message.seq)).toEqual(range(1, 153));
      expect(lastSeqOnReconnect(rooms, sent)).toBe(153);
    });

    it('should not read the history when the gap fills in time', async () => {
      jest.useFakeTimers();
      const history = jest.spyOn(roomsApi, 'history').mockResolvedValue(page(3));
      const { rooms } = joinedClient();
      rooms.onFrame(chat(4));
      await jest.advanceTimersByTimeAsync(1_500);
      rooms.onFrame(chat(3));
      await jest.advanceTimersByTimeAsync(10_000);
      expect(history).not.toHaveBeenCalled();
    });

    it('should not read the history while disconnected: the resume join fills the gap', async () => {
      jest.useFakeTimers();
      const history = jest.spyOn(roomsApi, 'history').mockResolvedValue(page(3));
      const { rooms, sent, socket } = joinedClient();
      rooms.onFrame(chat(4));
      socket.state = { kind: 'reconnecting', retryAt: 0 };
      await jest.advanceTimersByTimeAsync(10_000);
      expect(history).not.toHaveBeenCalled();
      socket.state = { kind: 'connected' };
      expect(lastSeqOnReconnect(rooms, sent)).toBe(2);
      rooms.onFrame(chat(3));
      rooms.onFrame(chat(4));
      rooms.onFrame({
        type: 'join',
        room_id: ROOM,
        user_id: 'alice',
        seq: 4,
        metadata: { online: [], replayed: 2 },
      });
      await jest.advanceTimersByTimeAsync(10_000);
      expect(history).not.toHaveBeenCalled();
      expect(rooms.store.messages(ROOM).map((message) => message.seq)).toEqual([1, 2, 3, 4]);
    });

    it('should watch again after a gap opened while disconnected, once the resume join leaves one open', async () => {
      jest.useFakeTimers();
      const history = jest.spyOn(roomsApi, 'history').mockResolvedValue(page(3));
      // the reconnect's read of the newest page fails here: the gap is then the gap watch's to fill
      const newest = jest.spyOn(roomsApi, 'newest').mockRejectedValue(new Error('network'));
      const { rooms, socket } = joinedClient();
      socket.state = { kind: 'reconnecting', retryAt: 0 };
      rooms.onFrame(chat(4));
      await jest.advanceTimersByTimeAsync(3_000);
      socket.state = { kind: 'connected' };
      rooms.onConnected();
      // the join answers without filling it (it stood past it elsewhere): read after 2 s
      rooms.onFrame({
        type: 'join',
        room_id: ROOM,
        user_id: 'alice',
        seq: 2,
        metadata: { online: [], replayed: 0 },
      });
      await jest.advanceTimersByTimeAsync(2_000);
      expect(newest).toHaveBeenCalled();
      expect(history).toHaveBeenCalledTimes(1);
      expect(rooms.store.thread(ROOM).resume.point).toBe(4);
    });

    it('should read again, later each time, when the history read fails, without a notice', async () => {
      jest.useFakeTimers();
      jest.spyOn(Math, 'random').mockReturnValue(0.5);
      const history = jest
        .spyOn(roomsApi, 'history')
        .mockRejectedValueOnce(new Error('network'))
        .mockRejectedValueOnce(new Error('network'))
        .mockResolvedValue(page(3));
      // the room list the first join reads again
      jest.spyOn(roomsApi, 'list').mockResolvedValue([
        {
          id: ROOM,
          kind: 'public',
          name: 'Room',
          owner_id: 'bob',
          last_message_at: null,
          membership: 'member',
          role: 'member',
          unread_count: 0,
        },
      ]);
      const { rooms } = joinedClient();
      rooms.onFrame(chat(4));
      await jest.advanceTimersByTimeAsync(2_000);
      expect(history).toHaveBeenCalledTimes(1);
      await jest.advanceTimersByTimeAsync(1_000);
      expect(history).toHaveBeenCalledTimes(2);
      await jest.advanceTimersByTimeAsync(1_999);
      expect(history).toHaveBeenCalledTimes(2);
      await jest.advanceTimersByTimeAsync(1);
      expect(history).toHaveBeenCalledTimes(3);
      expect(rooms.store.thread(ROOM).resume.point).toBe(4);
      expect(rooms.notice).toBeNull();
    });

    it('should stop reading a gap of a room left meanwhile', async () => {
      jest.useFakeTimers();
      const history = jest.spyOn(roomsApi, 'history').mockResolvedValue(page(3));
      const { rooms } = joinedClient();
      rooms.onFrame(chat(4));
      await rooms.leave(ROOM);
      await jest.advanceTimersByTimeAsync(10_000);
      expect(history).not.toHaveBeenCalled();
    });
  });
});
