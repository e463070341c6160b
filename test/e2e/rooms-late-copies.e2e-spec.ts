import { RoomMessagesRepository } from '../../src/modules/rooms/room-messages.repository';
import { RoomSocketsService } from '../../src/modules/rooms/room-sockets.service';
import { type RunningApp } from '../helpers/app';
import {
  api,
  chatsIn,
  createRoom,
  join,
  say,
  type RoomFrame,
  TwoInstances,
  waitUntil,
} from './rooms.helpers';

// A client's edit or reaction whose socket was cut is sent again (the same client_id); the first
// copy may still be on its way through an instance that has not found the store again yet (a
// restarted store, found by one instance a second after the other), or that lags and handles the
// frame only later, and land after the client's next, acked, operation on the other instance. The
// chaos test found it (test/chaos/room-chaos.ts). The late copy must not undo what was acked after
// it (docs/protocol.md, "Rooms").
describe('rooms: a late copy of an edit or a reaction (e2e)', () => {
  jest.setTimeout(60_000);
  let cluster: TwoInstances;
  let first: RunningApp;
  let second: RunningApp;
  // the first instance's held step goes on
  let release: () => void = () => undefined;

  beforeAll(async () => {
    cluster = await TwoInstances.start();
    ({ first, second } = cluster);
  });
  afterAll(() => cluster?.close());

  // Where the first instance holds the copy until release(): at the lookup of the message (every
  // edit and reaction makes one before it writes: its store slow to come back), or before it handles
  // the frame at all (the instance lagging).
  function stallNext(where: 'lookup' | 'frame'): void {
    const gate = new Promise<void>((resolve) => (release = resolve));
    if (where === 'lookup') {
      const repository = first.app.get(RoomMessagesRepository);
      const find = repository.find.bind(repository);
      repository.find = async (...args) => {
        repository.find = find;
        await gate;
        return find(...args);
      };
      return;
    }
    const sockets = first.app.get(RoomSocketsService);
    const handle = sockets.handle.bind(sockets);
    sockets.handle = async (...args) => {
      sockets.handle = handle;
      await gate;
      return handle(...args);
    };
  }

  async function setting(): Promise<{
    roomId: string;
    messageId: string;
    token: string;
    userId: string;
    send: (app: RunningApp, frame: Record<string, unknown>) => Promise<RoomFrame>;
  }> {
    const alice = cluster.person();
    const roomId = await createRoom(first, alice.token);
    const socket = await cluster.socket(second, alice.token);
    await join(socket, roomId);
    const ack = await say(socket, roomId, 'original', 'm1');
    // one frame on a socket of its own, answered (ack or error)
    const send = async (app: RunningApp, frame: Record<string, unknown>) => {
      const line = await cluster.socket(app, alice.token);
      line.send(frame);
      return (await line.next(
        (answer) =>
          answer.client_id === frame.client_id && (answer.type === 'ack' || answer.type === 'error'),
        10_000,
      )) as RoomFrame;
    };
    return { roomId, messageId: ack.message_id as string, token: alice.token, userId: alice.id, send };
  }

  async function stored(roomId: string, token: string, messageId: string): Promise<RoomFrame> {
    const history = await api<{ items: RoomFrame[] }>(second, token, 'GET', `/rooms/${roomId}/messages`);
    return history.body.items.find((message) => message.message_id === messageId)!;
  }

  // the first copy goes to the first instance and stalls there, its socket is cut; the same frame
  // again and then the next operation are acked by the second; then the first copy goes on
  async function lateCopy(
    where: 'lookup' | 'frame',
    copy: Record<string, unknown>,
    next: Record<string, unknown>,
    send: (app: RunningApp, frame: Record<string, unknown>) => Promise<RoomFrame>,
    token: string,
  ): Promise<void> {
    stallNext(where);
    const cut = await cluster.socket(first, token);
    cut.send(copy);
    // the copy is in the first instance's hands (held)
    await new Promise((resolve) => setTimeout(resolve, 200));
    cut.socket.terminate();
    expect((await send(second, copy)).type).toBe('ack');
    expect((await send(second, next)).type).toBe('ack');
    release();
    // the late copy lands (or is dropped)
    await new Promise((resolve) => setTimeout(resolve, 500));
  }

  const holds = ['lookup', 'frame'] as const;

  it.each(holds)(
    'should keep the last acked edit when a copy of an earlier edit lands after it (held at %s)',
    async (where) => {
      const { roomId, messageId, token, send } = await setting();
      await lateCopy(
        where,
        { type: 'edit', room_id: roomId, message_id: messageId, content: 'first edit', client_id: 'e1' },
        { type: 'edit', room_id: roomId, message_id: messageId, content: 'second edit', client_id: 'e2' },
        send,
        token,
      );
      const message = await stored(roomId, token, messageId);
      expect(message.content).toBe('second edit');
      expect(message.metadata?.edited_at).toEqual(expect.any(String));
    },
  );

  it.each(holds)(
    'should keep a message deleted when a copy of an earlier edit lands after the delete (held at %s)',
    async (where) => {
      const { roomId, messageId, token, send } = await setting();
      await lateCopy(
        where,
        { type: 'edit', room_id: roomId, message_id: messageId, content: 'late edit', client_id: 'e1' },
        { type: 'delete', room_id: roomId, message_id: messageId, client_id: 'd1' },
        send,
        token,
      );
      const message = await stored(roomId, token, messageId);
      expect(message.metadata?.deleted).toBe(true);
      expect(message.content).toBeUndefined();
    },
  );

  it.each(holds)(
    'should keep a reaction taken back when a copy of adding it lands after (held at %s)',
    async (where) => {
      const { roomId, messageId, token, send } = await setting();
      await lateCopy(
        where,
        { type: 'react', room_id: roomId, message_id: messageId, content: '👍', client_id: 'r1' },
        {
          type: 'react',
          room_id: roomId,
          message_id: messageId,
          content: '👍',
          client_id: 'r2',
          metadata: { remove: true },
        },
        send,
        token,
      );
      expect((await stored(roomId, token, messageId)).metadata?.reactions).toBeUndefined();
    },
  );

  it.each(holds)(
    'should keep a reaction added again when a copy of taking it back lands after (held at %s)',
    async (where) => {
      const { roomId, messageId, token, userId, send } = await setting();
      const add = { type: 'react', room_id: roomId, message_id: messageId, content: '🎉' };
      expect((await send(second, { ...add, client_id: 'r1' })).type).toBe('ack');
      await lateCopy(
        where,
        { ...add, client_id: 'r2', metadata: { remove: true } },
        { ...add, client_id: 'r3' },
        send,
        token,
      );
      expect((await stored(roomId, token, messageId)).metadata?.reactions).toEqual({ '🎉': [userId] });
    },
  );

  // A delete resent after a cut socket (the client resends every op until its ack, docs/protocol.md,
  // "Rooms", client behaviour) finds the message deleted by its own first copy: it is acked, and the
  // room is told once. Another delete of a deleted message is still NOT_FOUND.
  it('should ack a copy of an applied delete (the same client_id) and tell the room once', async () => {
    const { roomId, messageId, token, send } = await setting();
    const listener = await cluster.socket(first, token);
    await join(listener, roomId);
    const remove = { type: 'delete', room_id: roomId, message_id: messageId };
    expect(await send(second, { ...remove, client_id: 'd1' })).toMatchObject({
      type: 'ack',
      client_id: 'd1',
      message_id: messageId,
    });
    expect(await send(first, { ...remove, client_id: 'd1' })).toMatchObject({
      type: 'ack',
      client_id: 'd1',
      message_id: messageId,
    });
    expect(await send(second, { ...remove, client_id: 'd2' })).toMatchObject({
      type: 'error',
      error: { code: 'NOT_FOUND' },
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(listener.frames.filter((frame) => frame.type === 'delete')).toHaveLength(1);
    expect((await stored(roomId, token, messageId)).metadata?.deleted).toBe(true);
  });

  it.each(holds)(
    'should ack a delete resent while its first copy is held, and tell the room once (held at %s)',
    async (where) => {
      const { roomId, messageId, token, send } = await setting();
      const listener = await cluster.socket(second, token);
      await join(listener, roomId);
      const remove = { type: 'delete', room_id: roomId, message_id: messageId, client_id: 'd1' };
      stallNext(where);
      const cut = await cluster.socket(first, token);
      cut.send(remove);
      await new Promise((resolve) => setTimeout(resolve, 200));
      cut.socket.terminate();
      expect((await send(second, remove)).type).toBe('ack');
      release();
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(listener.frames.filter((frame) => frame.type === 'delete')).toHaveLength(1);
      expect((await stored(roomId, token, messageId)).metadata?.deleted).toBe(true);
    },
  );

  // An instance that stored a message and died before it sent it anywhere (SIGKILL between the
  // insert and the fan-out; or a store that ran an insert the instance had given up on): the sender
  // resends on another instance and is acked with the stored copy. The members must get it then,
  // not only once a later message or their next resume shows the gap (each socket drops a seq it has).
  it('should send the room a resent message whose first copy was stored and never sent', async () => {
    const alice = cluster.person();
    const bob = cluster.person();
    const roomId = await createRoom(first, alice.token);
    const reader = await cluster.socket(first, bob.token);
    const otherReader = await cluster.socket(second, bob.token);
    const writer = await cluster.socket(second, alice.token);
    for (const socket of [reader, otherReader, writer]) await join(socket, roomId);
    await say(writer, roomId, 'before', 'm-before');
    // the first copy, as the instance that died had stored it
    await first.app.get(RoomMessagesRepository).append({
      room_id: roomId,
      sender_id: alice.id,
      kind: 'text',
      content: 'stored, never sent',
      client_id: 'm-lost',
    });
    const ack = await say(writer, roomId, 'stored, never sent', 'm-lost');
    expect(ack.type).toBe('ack');
    for (const socket of [reader, otherReader]) {
      await waitUntil(() => chatsIn(socket, roomId).some((frame) => frame.client_id === 'm-lost'), 5_000);
      // and once: a second resend changes nothing for a socket that has the seq
      expect((await say(writer, roomId, 'stored, never sent', 'm-lost')).seq).toBe(ack.seq);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const socket of [reader, otherReader]) {
      const copies = chatsIn(socket, roomId).filter((frame) => frame.client_id === 'm-lost');
      expect(copies).toHaveLength(1);
      expect(copies[0]).toMatchObject({
        seq: ack.seq,
        message_id: ack.message_id,
        content: 'stored, never sent',
      });
    }
  });
});
