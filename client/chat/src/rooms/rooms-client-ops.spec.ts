import fc from 'fast-check';
import type { ChatSocket, LinkState } from '../chat-socket';
import { RoomsClient } from './rooms-client';

const ROOM = 'room-1';
const OP_TYPES = new Set(['edit', 'delete', 'react']);

// A socket that records what reaches the wire: nothing goes while it is not connected (as
// ChatSocket.send, which returns false then); `cut()` and `reconnect()` drive the state.
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
  };
  return { socket, chatSocket: socket as unknown as ChatSocket, wire };
}

function chat(seq: number, userId: string) {
  return {
    type: 'chat',
    room_id: ROOM,
    message_id: `m${seq}`,
    seq,
    user_id: userId,
    timestamp: '2026-01-01T00:00:00.000Z',
    content: `message ${seq}`,
    metadata: { kind: 'text' },
  };
}

const joinAnswer = (seq: number) => ({
  type: 'join',
  room_id: ROOM,
  user_id: 'alice',
  seq,
  metadata: { online: [], replayed: 0 },
});

// alice in ROOM (open) holding m1 (hers) and m2 (bob's)
function setting() {
  const { socket, chatSocket, wire } = fakeSocket();
  const rooms = new RoomsClient(chatSocket, () => 'token', 'alice');
  rooms.joinRoom(ROOM);
  rooms.onFrame(chat(1, 'alice'));
  rooms.onFrame(chat(2, 'bob'));
  rooms.onFrame(joinAnswer(2));
  const cut = () => (socket.state = { kind: 'reconnecting', retryAt: 0 });
  // the socket is back: the rooms are joined again, answered by the server
  const reconnect = (answerJoin = true) => {
    socket.state = { kind: 'connected' };
    rooms.onConnected();
    if (answerJoin) rooms.onFrame(joinAnswer(2));
  };
  const ops = () => wire.filter((frame) => OP_TYPES.has(String(frame.type)));
  const ack = (frame: Record<string, unknown>) =>
    rooms.onFrame({ type: 'ack', room_id: ROOM, client_id: frame.client_id, message_id: frame.message_id });
  wire.length = 0;
  return { rooms, socket, wire, cut, reconnect, ops, ack };
}

const message = (rooms: RoomsClient, id: string) =>
  rooms.store.messages(ROOM).find((m) => m.messageId === id);

describe('RoomsClient: edits, deletes and reactions until acked (issue 14)', () => {
  it('should send each with a client_id of its own', () => {
    const { rooms, ops } = setting();
    rooms.edit('m1', ' fixed ');
    rooms.react('m2', '👍');
    rooms.remove('m1');
    expect(ops()).toEqual([
      { type: 'edit', room_id: ROOM, message_id: 'm1', content: 'fixed', client_id: expect.any(String) },
      { type: 'react', room_id: ROOM, message_id: 'm2', content: '👍', client_id: expect.any(String) },
      { type: 'delete', room_id: ROOM, message_id: 'm1', client_id: expect.any(String) },
    ]);
    expect(new Set(ops().map((frame) => frame.client_id)).size).toBe(3);
  });

  it('should send an edit and a reaction made while disconnected once after the rejoin, in order, not after their ack', () => {
    const { rooms, wire, cut, reconnect, ops, ack } = setting();
    cut();
    rooms.edit('m1', 'fixed');
    rooms.react('m2', '👍');
    expect(ops()).toEqual([]);
    reconnect(false);
    // the join goes first; the ops wait for its answer
    expect(wire.map((frame) => frame.type)).toEqual(['join']);
    rooms.onFrame(joinAnswer(2));
    const sent = ops();
    expect(sent.map((frame) => [frame.type, frame.message_id])).toEqual([
      ['edit', 'm1'],
      ['react', 'm2'],
    ]);
    sent.forEach(ack);
    reconnect();
    expect(ops()).toHaveLength(2);
  });

  it('should resend an edit and a reaction cut before their ack with the same client_id, once, and not after the ack', () => {
    const { rooms, cut, reconnect, ops, ack } = setting();
    rooms.edit('m1', 'fixed');
    rooms.react('m2', '👍');
    const first = ops();
    expect(first).toHaveLength(2);
    cut();
    reconnect();
    expect(ops()).toEqual([...first, ...first]);
    // a second join answer (a join over the budget, answered later) sends nothing again
    rooms.onFrame(joinAnswer(2));
    expect(ops()).toHaveLength(4);
    first.forEach(ack);
    cut();
    reconnect();
    expect(ops()).toHaveLength(4);
  });

  it('should show the edit, the reaction and the delete at once, marked pending until the ack', () => {
    const { rooms, ops, ack } = setting();
    rooms.edit('m1', 'fixed');
    rooms.react('m2', '👍');
    expect(message(rooms, 'm1')).toMatchObject({ content: 'fixed', opPending: true, pending: false });
    expect(message(rooms, 'm1')?.editedAt).toEqual(expect.any(String));
    expect(message(rooms, 'm2')).toMatchObject({ reactions: { '👍': ['alice'] }, opPending: true });
    const [edit, react] = ops();
    ack(edit);
    expect(message(rooms, 'm1')).toMatchObject({ content: 'fixed' });
    expect(message(rooms, 'm1')?.opPending).toBeUndefined();
    ack(react);
    expect(message(rooms, 'm2')).toMatchObject({ reactions: { '👍': ['alice'] } });
    expect(message(rooms, 'm2')?.opPending).toBeUndefined();
    rooms.remove('m2');
    expect(message(rooms, 'm2')).toMatchObject({ deleted: true, opPending: true });
  });

  it('should show no reaction on a deleted message, whenever its frame comes', () => {
    const { rooms } = setting();
    const change = (type: string, extra: Record<string, unknown>) =>
      rooms.onFrame({ type, room_id: ROOM, message_id: 'm2', seq: 2, user_id: 'bob', ...extra });
    change('delete', { metadata: { change: 1 } });
    change('react', { content: '👍', metadata: { removed: false, change: 2 } });
    expect(message(rooms, 'm2')?.deleted).toBe(true);
    expect(message(rooms, 'm2')?.reactions).toEqual({});
  });

  it('should keep what was acked when the frame telling the room was lost with the socket', () => {
    const { rooms, cut, reconnect, ops, ack } = setting();
    rooms.edit('m1', 'fixed');
    rooms.react('m2', '👍');
    cut();
    reconnect();
    // the server had applied both: the resends are acked, nothing is sent to the room
    ops().slice(2).forEach(ack);
    expect(message(rooms, 'm1')).toMatchObject({ content: 'fixed' });
    expect(message(rooms, 'm2')).toMatchObject({ reactions: { '👍': ['alice'] } });
  });

  it('should take a reaction given but not acked yet back on a second click', () => {
    const { rooms, ops } = setting();
    rooms.react('m2', '👍');
    rooms.react('m2', '👍');
    expect(ops()[1]).toMatchObject({ type: 'react', content: '👍', metadata: { remove: true } });
    expect(message(rooms, 'm2')?.reactions).toEqual({});
  });

  it('should drop an op its error answers, show the server state and the notice, and never resend it', () => {
    const { rooms, cut, reconnect, ops } = setting();
    rooms.edit('m1', 'fixed');
    const [edit] = ops();
    rooms.onFrame({
      type: 'error',
      room_id: ROOM,
      client_id: edit.client_id,
      error: { code: 'MUTED', message: 'muted', recoverable: true },
    });
    expect(message(rooms, 'm1')).toMatchObject({ content: 'message 1' });
    expect(message(rooms, 'm1')?.opPending).toBeUndefined();
    expect(rooms.notice?.code).toBe('MUTED');
    cut();
    reconnect();
    expect(ops()).toHaveLength(1);
  });

  describe('over the budget (RATE_LIMITED)', () => {
    beforeEach(() => jest.useFakeTimers());
    afterEach(() => jest.useRealTimers());
    const overBudget = (rooms: RoomsClient, frame: Record<string, unknown>, retryAfter: number) =>
      rooms.onFrame({
        type: 'error',
        room_id: ROOM,
        client_id: frame.client_id,
        error: { code: 'RATE_LIMITED', message: 'slow down', recoverable: true, retry_after: retryAfter },
      });

    it('should send an op again after retry_after with its client_id, shown meanwhile, without a notice', () => {
      const { rooms, ops, ack } = setting();
      rooms.edit('m1', 'fixed');
      const [edit] = ops();
      overBudget(rooms, edit, 700);
      expect(message(rooms, 'm1')).toMatchObject({ content: 'fixed', opPending: true });
      expect(rooms.notice).toBeNull();
      jest.advanceTimersByTime(699);
      expect(ops()).toHaveLength(1);
      jest.advanceTimersByTime(1);
      expect(ops()).toEqual([edit, edit]);
      ack(edit);
      expect(message(rooms, 'm1')).toMatchObject({ content: 'fixed' });
      expect(rooms.store.ops(ROOM)).toEqual([]);
    });

    it('should not send an op again over a later one of the user on the same message or reaction', () => {
      const { rooms, ops, ack } = setting();
      rooms.edit('m1', 'first');
      rooms.react('m2', '👍');
      const [first, give] = ops();
      overBudget(rooms, first, 500);
      overBudget(rooms, give, 500);
      // made after the refusals, and applied before their retry_after: they stand
      rooms.edit('m1', 'second');
      rooms.react('m2', '👍');
      const [, , second, takeBack] = ops();
      expect(takeBack).toMatchObject({ metadata: { remove: true } });
      ack(second);
      ack(takeBack);
      jest.advanceTimersByTime(1_000);
      expect(ops()).toHaveLength(4);
      expect(rooms.store.ops(ROOM)).toEqual([]);
      expect(message(rooms, 'm1')).toMatchObject({ content: 'second' });
      expect(message(rooms, 'm2')?.reactions).toEqual({});
    });
  });

  it('should not send the ops of a room the user was removed from', () => {
    const { rooms, cut, reconnect, ops } = setting();
    cut();
    rooms.react('m2', '👍');
    rooms.onFrame({ type: 'leave', room_id: ROOM, user_id: 'alice', metadata: { reason: 'kicked' } });
    reconnect();
    expect(ops()).toEqual([]);
    expect(message(rooms, 'm2')?.reactions).toEqual({});
  });

  // Random runs of operations, acks, errors (refused for good, or over the budget: sent again after
  // retry_after unless a newer op on the same thing was made), time, cuts and reconnects against a
  // server that applies a client_id once (docs/protocol.md, "Rooms"): from the client's view every op
  // is settled at most once, only its first client_id ever goes, never after it settled, and only
  // after its room's join answered on that connection; in the end the client shows what the server
  // holds.
  it('should settle every op once, resend only its own client_id, never after the ack (property)', () => {
    jest.useFakeTimers();
    type Step =
      | { kind: 'edit'; message: 'm1' | 'm2'; text: string }
      | { kind: 'react'; message: 'm1' | 'm2'; emoji: string }
      | { kind: 'answer'; error: 'no' | 'refused' | 'over' }
      | { kind: 'time' }
      | { kind: 'cut'; applied: number }
      | { kind: 'reconnect' }
      | { kind: 'joined' };
    const step: fc.Arbitrary<Step> = fc.oneof(
      fc.record({
        kind: fc.constant('edit' as const),
        message: fc.constantFrom('m1' as const),
        text: fc.constantFrom('a', 'b', 'c'),
      }),
      fc.record({
        kind: fc.constant('react' as const),
        message: fc.constantFrom('m1' as const, 'm2' as const),
        emoji: fc.constantFrom('👍', '❤️'),
      }),
      fc.record({
        kind: fc.constant('answer' as const),
        error: fc.constantFrom('no' as const, 'no' as const, 'refused' as const, 'over' as const),
      }),
      fc.constant({ kind: 'time' as const }),
      fc.record({ kind: fc.constant('cut' as const), applied: fc.nat(4) }),
      fc.constant({ kind: 'reconnect' as const }),
      fc.constant({ kind: 'joined' as const }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
        jest.clearAllTimers();
        const { rooms, socket, wire, cut, reconnect } = setting();
        let made = 0;
        // the server: applied client_ids, the text of m1, the reactions; what the socket carries
        // and the server has not answered yet
        const applied = new Set<string>();
        const server = { text: 'message 1', reactions: new Map<string, Set<string>>() };
        let inFlight: Array<Record<string, unknown>> = [];
        let read = 0;
        const settled = new Map<string, number>();
        const overBudget = new Set<string>();
        const firstFrame = new Map<string, string>();
        let joinedOnThisSocket = true;
        // reads what went on the wire since the last look, checking every op frame
        const drain = () => {
          for (; read < wire.length; read++) {
            const frame = wire[read];
            if (frame.type === 'join') joinedOnThisSocket = false;
            if (!OP_TYPES.has(String(frame.type))) continue;
            const clientId = String(frame.client_id);
            expect(joinedOnThisSocket).toBe(true);
            expect(settled.has(clientId)).toBe(false);
            const body = JSON.stringify({ ...frame, client_id: undefined });
            if (!firstFrame.has(clientId)) firstFrame.set(clientId, body);
            expect(body).toBe(firstFrame.get(clientId));
            inFlight.push(frame);
          }
        };
        const apply = (frame: Record<string, unknown>) => {
          const clientId = String(frame.client_id);
          if (applied.has(clientId)) return;
          applied.add(clientId);
          if (frame.type === 'edit') server.text = String(frame.content);
          if (frame.type === 'react') {
            const key = `${String(frame.message_id)}|${String(frame.content)}`;
            const users = server.reactions.get(key) ?? new Set<string>();
            if ((frame.metadata as { remove?: boolean } | undefined)?.remove) users.delete('alice');
            else users.add('alice');
            server.reactions.set(key, users);
          }
        };
        const answer = (frame: Record<string, unknown>, error: 'no' | 'refused' | 'over') => {
          const clientId = String(frame.client_id);
          const known = rooms.store.ops(ROOM).some((op) => op.clientId === clientId);
          const refused = error !== 'no' && !applied.has(clientId);
          // over the budget is not settled: the op is kept (and sent again, unless made obsolete)
          if (refused && error === 'over') overBudget.add(clientId);
          else if (known) settled.set(clientId, (settled.get(clientId) ?? 0) + 1);
          // an error leaves the store as it was (a copy of an applied one is acked, never refused)
          if (refused)
            rooms.onFrame({
              type: 'error',
              room_id: ROOM,
              client_id: clientId,
              error:
                error === 'over'
                  ? { code: 'RATE_LIMITED', message: 'slow down', recoverable: true, retry_after: 300 }
                  : { code: 'NOT_FOUND', message: 'refused', recoverable: true },
            });
          else {
            apply(frame);
            rooms.onFrame({ type: 'ack', room_id: ROOM, client_id: clientId, message_id: frame.message_id });
          }
        };
        for (const next of steps) {
          if (next.kind === 'edit') rooms.edit(next.message, next.text);
          if (next.kind === 'react') rooms.react(next.message, next.emoji);
          if (next.kind === 'edit' || next.kind === 'react') made++;
          drain();
          if (next.kind === 'answer' && inFlight.length > 0) answer(inFlight.shift()!, next.error);
          if (next.kind === 'time') jest.advanceTimersByTime(300);
          if (next.kind === 'cut' && socket.state.kind === 'connected') {
            // the first frames on the dying socket reached the server, the rest not; no answer comes back
            inFlight.slice(0, next.applied).forEach(apply);
            inFlight = [];
            cut();
          }
          // back: the join goes out, its answer comes in a later step (ops made meanwhile wait)
          if (next.kind === 'reconnect' && socket.state.kind !== 'connected') reconnect(false);
          if (next.kind === 'joined' && socket.state.kind === 'connected' && !joinedOnThisSocket) {
            joinedOnThisSocket = true;
            rooms.onFrame(joinAnswer(2));
          }
          drain();
        }
        // the connection comes back and stays: everything is answered
        if (socket.state.kind !== 'connected') reconnect(false);
        drain();
        if (!joinedOnThisSocket) {
          joinedOnThisSocket = true;
          rooms.onFrame(joinAnswer(2));
        }
        // and the budget: what waits for its retry_after goes (or is dropped, made obsolete)
        for (drain(); inFlight.length > 0 || jest.getTimerCount() > 0; drain())
          if (inFlight.length > 0) answer(inFlight.shift()!, 'no');
          else jest.advanceTimersByTime(300);
        expect(rooms.store.ops(ROOM)).toEqual([]);
        expect(firstFrame.size).toBe(made);
        for (const clientId of firstFrame.keys())
          if (overBudget.has(clientId)) expect(settled.get(clientId) ?? 0).toBeLessThanOrEqual(1);
          else expect(settled.get(clientId)).toBe(1);
        expect(message(rooms, 'm1')?.content).toBe(server.text);
        for (const id of ['m1', 'm2'])
          for (const emoji of ['👍', '❤️'])
            expect(message(rooms, id)?.reactions[emoji]?.includes('alice') ?? false).toBe(
              server.reactions.get(`${id}|${emoji}`)?.has('alice') ?? false,
            );
      }),
      { numRuns: 300 },
    );
    jest.useRealTimers();
  });
});
