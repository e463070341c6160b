import type { ChatSocket } from '../chat-socket';
import { RoomsClient } from './rooms-client';

const ROOM = 'room-1';

// A socket that records what the rooms client sends; frames are fed by hand.
function fakeSocket() {
  const sent: Array<Record<string, unknown>> = [];
  const socket = {
    rooms: null,
    state: { kind: 'connected' },
    send: (frame: Record<string, unknown>) => {
      sent.push(frame);
      return true;
    },
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
    expect(rooms.store.thread(ROOM).unread).toBe(1);
    rooms.setVisible(true);
    rooms.open(ROOM);
    expect(rooms.store.thread(ROOM).unread).toBe(0);
    expect(sent.filter((frame) => frame.type === 'read').at(-1)).toEqual({
      type: 'read',
      room_id: ROOM,
      seq: 4,
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
    expect(sent.at(-1)).toEqual({ type: 'react', room_id: ROOM, message_id: 'm1', content: '👍' });
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
});
