import { ApiError } from '../../../shared/api';
import type { ChatSocket, LinkState } from '../chat-socket';
import { RoomsClient } from './rooms-client';
import { roomsApi } from './rooms-api';

const ROOM = 'room-1';
const DM = 'dm_alice_bob';

function client() {
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
  const rooms = new RoomsClient(socket as unknown as ChatSocket, () => 'token', 'alice');
  return { rooms, sent };
}

const flush = async () => {
  for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
};

// The user's blocks in the Rooms view (issue 14): read when it starts and after a reconnect, kept in
// the rooms store, written on Block and Unblock; a blocked user's typing is not shown; failures are
// the notice (docs/protocol.md, "Rooms, direct messages, moderation").
describe('RoomsClient: blocks', () => {
  beforeEach(() => {
    jest.spyOn(roomsApi, 'list').mockResolvedValue([]);
  });

  afterEach(() => jest.restoreAllMocks());

  it('should read the blocks when the view starts and again after a reconnect', async () => {
    const read = jest
      .spyOn(roomsApi, 'blocks')
      .mockResolvedValueOnce({ user_ids: ['bob'] })
      .mockResolvedValueOnce({ user_ids: ['carol'] });
    const { rooms } = client();
    rooms.setVisible(true);
    await flush();
    expect(rooms.store.blocks.list()).toEqual(['bob']);
    rooms.onConnected();
    await flush();
    // unblocked bob and blocked carol on another device meanwhile
    expect(rooms.store.blocks.list()).toEqual(['carol']);
    expect(read).toHaveBeenCalledTimes(2);
    rooms.setVisible(false);
  });

  it('should show a block at once, write it, and unblock the same way', async () => {
    jest.spyOn(roomsApi, 'blocks').mockResolvedValue({ user_ids: [] });
    const block = jest.spyOn(roomsApi, 'block').mockResolvedValue({ user_id: 'bob', blocked: true });
    const unblock = jest.spyOn(roomsApi, 'unblock').mockResolvedValue({ user_id: 'bob', blocked: false });
    const { rooms } = client();
    rooms.block('bob');
    expect(rooms.store.blocks.has('bob')).toBe(true);
    expect(rooms.store.blocks.pending('bob')).toBe(true);
    await flush();
    expect(block).toHaveBeenCalledWith('token', 'bob');
    expect(rooms.store.blocks.pending('bob')).toBe(false);
    rooms.unblock('bob');
    expect(rooms.store.blocks.has('bob')).toBe(false);
    await flush();
    expect(unblock).toHaveBeenCalledWith('token', 'bob');
    expect(rooms.notice).toBeNull();
  });

  it('should never block the user themselves', () => {
    const block = jest.spyOn(roomsApi, 'block');
    const { rooms } = client();
    rooms.block('alice');
    expect(block).not.toHaveBeenCalled();
    expect(rooms.store.blocks.has('alice')).toBe(false);
  });

  it('should undo a refused block and say who and why, beside the user too', async () => {
    jest.spyOn(roomsApi, 'block').mockRejectedValue(new ApiError('RATE_LIMITED', 429));
    const { rooms } = client();
    rooms.block('bob');
    await flush();
    expect(rooms.store.blocks.has('bob')).toBe(false);
    expect(rooms.notice).toEqual({
      code: 'RATE_LIMITED',
      text: 'bob could not be blocked. You are sending messages too quickly. Please wait a moment.',
    });
    expect(rooms.store.blocks.errorOf('bob')).toEqual({ blocked: true, code: 'RATE_LIMITED' });
  });

  it('should read the list again when a block went unanswered, and show what the server holds', async () => {
    jest.spyOn(roomsApi, 'block').mockRejectedValue(new ApiError('NETWORK', 0));
    const read = jest.spyOn(roomsApi, 'blocks').mockResolvedValue({ user_ids: ['bob'] });
    const { rooms } = client();
    rooms.block('bob');
    await flush();
    expect(read).toHaveBeenCalledTimes(1);
    // the server had stored it: blocked, and no error left
    expect(rooms.store.blocks.has('bob')).toBe(true);
    expect(rooms.store.blocks.errorOf('bob')).toBeUndefined();
  });

  it('should say when the blocks could not be read, and read them again with the room list', async () => {
    const read = jest
      .spyOn(roomsApi, 'blocks')
      .mockRejectedValueOnce(new ApiError('NETWORK', 0))
      .mockResolvedValueOnce({ user_ids: ['bob'] });
    const { rooms } = client();
    await rooms.loadBlocks();
    expect(rooms.store.blocks.loadError).toBe('NETWORK');
    expect(rooms.store.blocks.loaded).toBe(false);
    expect(rooms.notice?.text).toBe(
      'Your blocked users could not be loaded. No connection. Please check your network.',
    );
    await rooms.refresh();
    await flush();
    expect(read).toHaveBeenCalledTimes(2);
    expect(rooms.store.blocks.loadError).toBeNull();
    expect(rooms.store.blocks.list()).toEqual(['bob']);
  });

  it('should tell a failed read once, not on every read after it, and again on the Retry', async () => {
    jest.spyOn(roomsApi, 'blocks').mockRejectedValue(new ApiError('NETWORK', 0));
    const { rooms } = client();
    await rooms.loadBlocks();
    rooms.dismissNotice();
    // the room list read again (every minute while the tab shows) reads the blocks again, quietly
    await rooms.refresh();
    await flush();
    expect(roomsApi.blocks).toHaveBeenCalledTimes(2);
    expect(rooms.notice).toBeNull();
    expect(rooms.store.blocks.loadError).toBe('NETWORK');
    await rooms.loadBlocks();
    expect(rooms.notice?.code).toBe('NETWORK');
  });

  it("should keep an unanswered block's failure as the notice when the read after it fails too", async () => {
    jest.spyOn(roomsApi, 'block').mockRejectedValue(new ApiError('NETWORK', 0));
    jest.spyOn(roomsApi, 'blocks').mockRejectedValue(new ApiError('NETWORK', 0));
    const { rooms } = client();
    rooms.block('bob');
    await flush();
    expect(rooms.notice?.text).toBe('bob could not be blocked. No connection. Please check your network.');
    expect(rooms.store.blocks.errorOf('bob')).toEqual({ blocked: true, code: 'NETWORK' });
    // the list is read again with the next room list, until it answers
    expect(rooms.store.blocks.needsRead()).toBe(true);
  });

  it('should take an answer without a list as a failed read, not as no blocks', async () => {
    jest
      .spyOn(roomsApi, 'blocks')
      .mockResolvedValueOnce({ user_ids: ['bob'] })
      .mockResolvedValueOnce(undefined);
    const { rooms } = client();
    await rooms.loadBlocks();
    await rooms.loadBlocks();
    expect(rooms.store.blocks.list()).toEqual(['bob']);
    expect(rooms.store.blocks.loadError).toBe('INTERNAL');
  });

  it("should not show a blocked user's typing, and show it again once unblocked", async () => {
    jest.spyOn(roomsApi, 'blocks').mockResolvedValue({ user_ids: ['bob'] });
    jest.spyOn(roomsApi, 'unblock').mockResolvedValue({ user_id: 'bob', blocked: false });
    const { rooms } = client();
    await rooms.loadBlocks();
    rooms.joinRoom(ROOM);
    rooms.onFrame({ type: 'join', room_id: ROOM, user_id: 'alice', seq: 0, metadata: { online: [] } });
    rooms.onFrame({ type: 'typing', room_id: ROOM, user_id: 'bob', metadata: { typing: true } });
    rooms.onFrame({ type: 'typing', room_id: ROOM, user_id: 'carol', metadata: { typing: true } });
    expect(rooms.store.typingUsers(ROOM, Date.now())).toEqual(['carol']);
    rooms.unblock('bob');
    expect(rooms.store.typingUsers(ROOM, Date.now())).toEqual(['bob', 'carol']);
  });

  it('should show a message refused BLOCKED as not sent, with why, and the notice', () => {
    const { rooms, sent } = client();
    rooms.joinRoom(DM);
    rooms.onFrame({ type: 'join', room_id: DM, user_id: 'alice', seq: 0, metadata: { online: [] } });
    rooms.sendText('hello?');
    const frame = sent.find((candidate) => candidate.type === 'chat');
    rooms.onFrame({
      type: 'error',
      room_id: DM,
      client_id: frame?.client_id,
      error: { code: 'BLOCKED', message: 'blocked', recoverable: true },
    });
    const [message] = rooms.store.messages(DM);
    expect(message.failed).toBe('BLOCKED');
    expect(rooms.notice).toEqual({ code: 'BLOCKED', text: 'This person does not accept your messages.' });
  });

  it('should say BLOCKED when a reaction in a direct message is refused, and drop it', () => {
    const { rooms, sent } = client();
    rooms.joinRoom(DM);
    rooms.onFrame({
      type: 'chat',
      room_id: DM,
      message_id: 'm1',
      seq: 1,
      user_id: 'bob',
      timestamp: '2026-01-01T00:00:00.000Z',
      content: 'hi',
      metadata: { kind: 'text' },
    });
    rooms.onFrame({ type: 'join', room_id: DM, user_id: 'alice', seq: 1, metadata: { online: [] } });
    rooms.react('m1', '👍');
    const frame = sent.find((candidate) => candidate.type === 'react');
    rooms.onFrame({
      type: 'error',
      room_id: DM,
      client_id: frame?.client_id,
      error: { code: 'BLOCKED', message: 'blocked', recoverable: true },
    });
    expect(rooms.store.find(DM, 'm1')?.reactions).toEqual({});
    expect(rooms.notice?.code).toBe('BLOCKED');
  });
});
