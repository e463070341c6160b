import type { ChatSocket, LinkState } from '../chat-socket';
import { RoomsClient } from './rooms-client';
import { roomsApi, type RoomSummary } from './rooms-api';

const ROOM = 'room-1';
const OTHER = 'room-2';

function fakeSocket() {
  const wire: Array<Record<string, unknown>> = [];
  const socket = {
    rooms: null as RoomsClient | null,
    state: { kind: 'connected' } as LinkState,
    send: (frame: Record<string, unknown>) => {
      if (socket.state.kind !== 'connected') return false;
      wire.push(frame);
      return true;
    },
    forget: () => undefined,
  };
  return { socket, chatSocket: socket as unknown as ChatSocket, wire };
}

const chat = (seq: number, userId = 'bob', roomId = ROOM, kind = 'text') => ({
  type: 'chat',
  room_id: roomId,
  message_id: `${roomId}-m${seq}`,
  seq,
  user_id: userId,
  timestamp: '2026-01-01T00:00:00.000Z',
  content: `message ${seq}`,
  metadata: { kind },
});

const joinAnswer = (seq: number, roomId = ROOM) => ({
  type: 'join',
  room_id: roomId,
  user_id: 'alice',
  seq,
  metadata: { online: [], replayed: 0 },
});

const summary = (id: string, unread: number, kind: RoomSummary['kind'] = 'dm'): RoomSummary => ({
  id,
  kind,
  name: id,
  owner_id: 'bob',
  last_message_at: null,
  membership: 'member',
  role: 'member',
  unread_count: unread,
});

// alice, in ROOM (a direct message with bob) and OTHER, both joined at seq 2; neither open
function setting() {
  const fake = fakeSocket();
  const rooms = new RoomsClient(fake.chatSocket, () => 'token', 'alice');
  for (const roomId of [ROOM, OTHER]) {
    rooms.joinRoom(roomId);
    rooms.onFrame(chat(1, 'bob', roomId));
    rooms.onFrame(chat(2, 'alice', roomId));
    rooms.onFrame(joinAnswer(2, roomId));
  }
  rooms.open(null);
  rooms.rooms = [summary(ROOM, 0), summary(OTHER, 0, 'public')];
  const reads = () => fake.wire.filter((frame) => frame.type === 'read');
  fake.wire.length = 0;
  return { rooms, ...fake, reads };
}

describe('RoomsClient: unread counts as the server counts them (issue 14)', () => {
  // the list read when the tab shows: both rooms, counted by the server before they were joined
  beforeEach(() =>
    jest.spyOn(roomsApi, 'list').mockResolvedValue([summary(ROOM, 0), summary(OTHER, 0, 'public')]),
  );
  afterEach(() => {
    jest.restoreAllMocks();
    jest.useRealTimers();
  });

  it("should count others' text messages once each, never the user's own, system ones or copies", () => {
    const { rooms } = setting();
    rooms.onFrame(chat(3));
    rooms.onFrame(chat(3));
    rooms.onFrame(chat(4, 'alice'));
    rooms.onFrame(chat(5, 'bob', ROOM, 'system'));
    rooms.onFrame(chat(6, 'ai'));
    expect(rooms.unreadTotal()).toBe(2);
    // the resume after a reconnect replays what the thread holds: nothing more
    rooms.onConnected();
    for (let seq = 1; seq <= 6; seq++) rooms.onFrame(seq === 4 ? chat(4, 'alice') : chat(seq));
    rooms.onFrame(joinAnswer(6));
    expect(rooms.unreadTotal()).toBe(2);
  });

  it("should not count a blocked user's messages, as the server leaves them out of its count", () => {
    const { rooms } = setting();
    jest.spyOn(roomsApi, 'block').mockReturnValue(new Promise(() => undefined));
    rooms.block('carol');
    rooms.onFrame(chat(3, 'carol', OTHER));
    rooms.onFrame(chat(4, 'bob', OTHER));
    rooms.onFrame(chat(5, 'carol', OTHER));
    expect(rooms.unreadTotal()).toBe(1);
  });

  it("should drop what the user read on another device of a direct message (the room's read frame)", () => {
    const { rooms } = setting();
    for (const seq of [3, 4, 5]) rooms.onFrame(chat(seq));
    expect(rooms.unreadTotal()).toBe(3);
    rooms.onFrame({ type: 'read', room_id: ROOM, user_id: 'alice', seq: 4 });
    expect(rooms.unreadTotal()).toBe(1);
    // bob's read moves nothing of alice's
    rooms.onFrame({ type: 'read', room_id: ROOM, user_id: 'bob', seq: 5 });
    expect(rooms.unreadTotal()).toBe(1);
    // a late copy of an older read takes nothing back
    rooms.onFrame({ type: 'read', room_id: ROOM, user_id: 'alice', seq: 3 });
    rooms.onFrame(chat(6));
    expect(rooms.unreadTotal()).toBe(2);
  });

  it('should not count again what the user read elsewhere when the messages come late (a resume)', () => {
    const { rooms } = setting();
    rooms.onFrame({ type: 'read', room_id: ROOM, user_id: 'alice', seq: 4 });
    rooms.onConnected();
    for (const seq of [3, 4, 5]) rooms.onFrame(chat(seq));
    rooms.onFrame(joinAnswer(5));
    expect(rooms.unreadTotal()).toBe(1);
  });

  // a public room: no read frame tells this device what the user read on another one; the resume's
  // join answer does (metadata.read_seq), after the replay it covers
  it('should drop what the join answer says the user read elsewhere (metadata.read_seq)', () => {
    const { rooms } = setting();
    rooms.onConnected();
    for (const seq of [3, 4, 5]) rooms.onFrame(chat(seq, 'bob', OTHER));
    expect(rooms.unreadTotal()).toBe(3);
    rooms.onFrame({ ...joinAnswer(5, OTHER), metadata: { online: [], replayed: 3, read_seq: 4 } });
    expect(rooms.unreadTotal()).toBe(1);
  });

  // the client audit's t7: a group room read on the first tab kept its badge on the second. The
  // server now tells the reader's other sockets (`read`); the room list, read every minute, says
  // where the member's mark stands (read_seq) for a push lost meanwhile
  it('should drop what the user read on another device of a group room (read frame, then the list)', async () => {
    const { rooms } = setting();
    for (const seq of [3, 4, 5]) rooms.onFrame(chat(seq, 'bob', OTHER));
    expect(rooms.unreadTotal()).toBe(3);
    rooms.onFrame({ type: 'read', room_id: OTHER, user_id: 'alice', seq: 3 });
    expect(rooms.unreadTotal()).toBe(2);
    // the push of the next read was lost: the list, read again, has it
    jest
      .spyOn(roomsApi, 'list')
      .mockResolvedValue([summary(ROOM, 0), { ...summary(OTHER, 1, 'public'), read_seq: 4 }]);
    await rooms.refresh();
    expect(rooms.unreadTotal()).toBe(1);
    // a list with the mark this device knows already takes nothing back, nor counts twice
    rooms.onFrame(chat(6, 'bob', OTHER));
    await rooms.refresh();
    expect(rooms.unreadTotal()).toBe(2);
  });

  it("should bound the pre-join count by the list's once the list shows a newer read mark", async () => {
    jest.spyOn(roomsApi, 'list').mockResolvedValue([{ ...summary(ROOM, 5, 'public'), read_seq: 0 }]);
    const { chatSocket } = fakeSocket();
    const rooms = new RoomsClient(chatSocket, () => 'token', 'alice');
    await rooms.refresh();
    rooms.onFrame(joinAnswer(10));
    rooms.onFrame(chat(11));
    expect(rooms.unreadTotal()).toBe(6);
    // read up to 8 on another device: of the five before the join, two remain; 11 still counts
    jest.spyOn(roomsApi, 'list').mockResolvedValue([{ ...summary(ROOM, 3, 'public'), read_seq: 8 }]);
    await rooms.refresh();
    expect(rooms.unreadTotal()).toBe(3);
  });

  it('should keep the open room read when the room list counted it before its join answered', async () => {
    jest.spyOn(roomsApi, 'list').mockResolvedValue([summary(ROOM, 3, 'public')]);
    const { chatSocket } = fakeSocket();
    const rooms = new RoomsClient(chatSocket, () => 'token', 'alice');
    rooms.setVisible(true);
    rooms.joinRoom(ROOM);
    await new Promise((resolve) => setImmediate(resolve));
    expect(rooms.rooms).toHaveLength(1);
    rooms.onFrame(chat(4));
    rooms.onFrame(joinAnswer(4));
    expect(rooms.unreadTotal()).toBe(0);
    rooms.setVisible(false);
  });

  describe('read marks reach the server', () => {
    it('should send the read mark of a room left for another within the second', () => {
      jest.useFakeTimers();
      const { rooms, reads } = setting();
      rooms.setVisible(true);
      rooms.open(ROOM);
      rooms.onFrame(chat(3));
      rooms.onFrame(chat(4));
      rooms.open(OTHER);
      jest.advanceTimersByTime(1_000);
      expect(reads().map((frame) => [frame.room_id, frame.seq])).toEqual(
        expect.arrayContaining([
          [ROOM, 2],
          [ROOM, 4],
          [OTHER, 2],
        ]),
      );
      rooms.setVisible(false);
    });

    it('should send a read mark again after a reconnect when the old socket never answered it', () => {
      jest.useFakeTimers();
      const { rooms, reads, socket } = setting();
      rooms.setVisible(true);
      rooms.open(ROOM);
      expect(reads().map((frame) => frame.seq)).toEqual([2]);
      socket.state = { kind: 'reconnecting', retryAt: 0 };
      socket.state = { kind: 'connected' };
      rooms.onConnected();
      rooms.onFrame(joinAnswer(2));
      rooms.onFrame(joinAnswer(2, OTHER));
      jest.advanceTimersByTime(1_000);
      expect(reads().map((frame) => [frame.room_id, frame.seq])).toEqual([
        [ROOM, 2],
        [ROOM, 2],
      ]);
      // answered: not sent again after the next reconnect
      const last = reads().at(-1)!;
      rooms.onFrame({ type: 'ack', room_id: ROOM, client_id: last.client_id });
      rooms.onConnected();
      rooms.onFrame(joinAnswer(2));
      jest.advanceTimersByTime(1_000);
      expect(reads()).toHaveLength(2);
      rooms.setVisible(false);
    });

    it('should send a read mark over the budget again after retry_after, without a notice', () => {
      jest.useFakeTimers();
      const { rooms, reads } = setting();
      rooms.setVisible(true);
      rooms.open(ROOM);
      const first = reads()[0];
      rooms.onFrame({
        type: 'error',
        room_id: ROOM,
        ...(first.client_id !== undefined ? { client_id: first.client_id } : {}),
        error: { code: 'RATE_LIMITED', message: 'slow down', recoverable: true, retry_after: 1_500 },
      });
      expect(rooms.notice).toBeNull();
      jest.advanceTimersByTime(1_499);
      expect(reads()).toHaveLength(1);
      jest.advanceTimersByTime(1);
      expect(reads().map((frame) => [frame.room_id, frame.seq])).toEqual([
        [ROOM, 2],
        [ROOM, 2],
      ]);
      rooms.setVisible(false);
    });
  });

  describe('the page shown again', () => {
    const listeners = new Map<string, () => void>();
    const page = {
      visibilityState: 'hidden',
      addEventListener: (type: string, listener: () => void) => listeners.set(type, listener),
    };
    beforeEach(() => Object.assign(globalThis, { document: page }));
    afterEach(() => {
      delete (globalThis as { document?: unknown }).document;
      listeners.clear();
    });

    it('should read the open room once the page is visible again', () => {
      jest.useFakeTimers();
      const { rooms, reads } = setting();
      rooms.setVisible(true);
      rooms.open(ROOM);
      jest.advanceTimersByTime(1_000);
      rooms.onFrame(chat(3));
      expect(rooms.unreadTotal()).toBe(1);
      page.visibilityState = 'visible';
      listeners.get('visibilitychange')?.();
      jest.advanceTimersByTime(1_000);
      expect(rooms.unreadTotal()).toBe(0);
      expect(reads().at(-1)).toMatchObject({ room_id: ROOM, seq: 3 });
      rooms.setVisible(false);
    });
  });
});
