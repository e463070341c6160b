import fc from 'fast-check';
import type { Connection } from './connection';
import { isStoredFrame, SeqOrder } from './delivery-order';
import type { AiDeltaFrame, StoredEventFrame } from '../../protocol/frames';
import type { ServerFrame } from './frames';

function stored(seq: number, sessionId = 's1'): StoredEventFrame {
  return {
    type: 'user_message',
    session_id: sessionId,
    seq,
    id: `m${seq}`,
    sender: 'user',
    timestamp: '2024-01-01T00:00:00.000Z',
  };
}

function connection(sessionId = 's1'): Connection {
  return { id: 'c1', sessionId, pending: null } as unknown as Connection;
}

function setup(database: StoredEventFrame[] = [], gapMs = 20) {
  const written: ServerFrame[] = [];
  const fetches: number[] = [];
  const order = new SeqOrder<ServerFrame>(
    (_connection, frame) => written.push(frame),
    {
      fetchAfter: (_sessionId, seq) => {
        fetches.push(seq);
        return Promise.resolve(database.filter((frame) => frame.seq > seq));
      },
    },
    isStoredFrame,
    gapMs,
  );
  return { order, written, fetches };
}

const seqs = (frames: ServerFrame[]) => frames.filter(isStoredFrame).map((frame) => frame.seq);

describe(SeqOrder.name, () => {
  // a change of a stored event (a room message's edit or delete), sent once the event arrived here:
  // written after the event, whether the event went straight out or was held for a lower seq
  it('should write each change of an event after that event, in any arrival order', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 40 }),
        (count, noise) => {
          const arrivals = Array.from({ length: count }, (_, index) => index + 1);
          for (let index = arrivals.length - 1; index > 0; index--) {
            const target = (noise[index % noise.length] ?? 0) % (index + 1);
            [arrivals[index], arrivals[target]] = [arrivals[target], arrivals[index]];
          }
          const written: ServerFrame[] = [];
          const order = new SeqOrder<ServerFrame>(
            (_connection, frame) => written.push(frame),
            { fetchAfter: () => Promise.resolve([]) },
            isStoredFrame,
            1000,
            (frame) =>
              (frame as { type: string }).type === 'change'
                ? (frame as unknown as { seq: number }).seq
                : undefined,
          );
          const socket = connection();
          order.reset(socket, 0);
          const arrived: number[] = [];
          arrivals.forEach((seq, index) => {
            order.deliver(socket, stored(seq));
            arrived.push(seq);
            const changed = arrived[(noise[index % noise.length] ?? 0) % arrived.length];
            order.deliver(socket, { type: 'change', seq: changed } as unknown as ServerFrame);
          });
          const positions = written.map(
            (frame) => `${(frame as { type: string }).type}:${(frame as { seq: number }).seq}`,
          );
          expect(seqs(written)).toEqual(Array.from({ length: count }, (_, index) => index + 1));
          positions.forEach((entry, index) => {
            if (!entry.startsWith('change:')) return;
            expect(positions.slice(0, index)).toContain(`user_message:${entry.slice('change:'.length)}`);
          });
          expect(positions.filter((entry) => entry.startsWith('change:'))).toHaveLength(count);
        },
      ),
    );
  });

  it('should deliver any arrival order of events, with duplicates, exactly once and in seq order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 30 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        async (count, noise) => {
          const all = Array.from({ length: count }, (_, index) => stored(index + 1));
          // a shuffle plus re-sent copies, as two instances and a resync may produce
          const arrivals = [...all, ...noise.map((n) => all[n % count])];
          for (let index = arrivals.length - 1; index > 0; index--) {
            const swap = noise[index % Math.max(noise.length, 1)] ?? 0;
            const target = swap % (index + 1);
            [arrivals[index], arrivals[target]] = [arrivals[target], arrivals[index]];
          }
          const { order, written } = setup(all, 1000);
          const socket = connection();
          order.reset(socket, 0);
          for (const frame of arrivals) order.deliver(socket, frame);
          expect(seqs(written)).toEqual(all.map((frame) => frame.seq));
          order.forget(socket);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('should pass ephemeral frames through at once, even while an event is held', () => {
    const { order, written } = setup();
    const socket = connection();
    order.reset(socket, 3);
    order.deliver(socket, stored(5));
    const delta: AiDeltaFrame = {
      type: 'ai_response',
      seq: 4,
      id: 'r',
      sender: 'ai',
      metadata: { delta: 'x', offset: 0, done: false },
    };
    order.deliver(socket, delta);
    order.deliver(socket, { type: 'typing_indicator', seq: 4, sender: 'admin', metadata: { typing: true } });
    expect(written.map((frame) => frame.type)).toEqual(['ai_response', 'typing_indicator']);
    order.deliver(socket, stored(4));
    expect(seqs(written)).toEqual([4, 5]);
    order.forget(socket);
  });

  it('should read a missing event from the database when the gap does not fill in time', async () => {
    const database = [stored(1), stored(2), stored(3)];
    const { order, written, fetches } = setup(database, 10);
    const socket = connection();
    order.reset(socket, 1);
    order.deliver(socket, stored(3));
    expect(seqs(written)).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(fetches).toEqual([1]);
    expect(seqs(written)).toEqual([2, 3]);
  });

  it('should not send the sender its own event, and still count it as delivered', () => {
    const { order, written } = setup();
    const socket = connection();
    order.reset(socket, 0);
    order.skip(socket, stored(1));
    order.deliver(socket, stored(2));
    expect(seqs(written)).toEqual([2]);
    expect(order.seqOf(socket)).toBe(2);
  });

  it('should catch a socket up from its position after an outage, without repeating what it has', async () => {
    const database = [1, 2, 3, 4, 5].map((seq) => stored(seq));
    const { order, written } = setup(database);
    const socket = connection();
    order.reset(socket, 2);
    order.deliver(socket, stored(3));
    await order.catchUp(socket);
    expect(seqs(written)).toEqual([3, 4, 5]);
    order.deliver(socket, stored(5));
    expect(seqs(written)).toEqual([3, 4, 5]);
  });

  it('should release held events in order when the database cannot be read after its retries', async () => {
    const written: ServerFrame[] = [];
    let reads = 0;
    const order = new SeqOrder<ServerFrame>(
      (_c, frame) => written.push(frame),
      {
        fetchAfter: () => {
          reads++;
          return Promise.reject(new Error('down'));
        },
      },
      isStoredFrame,
      1,
    );
    const socket = connection();
    order.reset(socket, 0);
    order.deliver(socket, stored(3));
    order.deliver(socket, stored(2));
    // held while the reads are retried (1, 2, 4, 8, 16 ms apart), then released in order
    await new Promise((resolve) => setTimeout(resolve, 15));
    expect(written).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(seqs(written)).toEqual([2, 3]);
    expect(reads).toBe(5);
  });

  // the chaos test's review: a store down for a moment must not let a socket see past a gap
  it('should hold past a gap while the database is briefly away, then fill it from the database', async () => {
    const written: ServerFrame[] = [];
    let reads = 0;
    const order = new SeqOrder<ServerFrame>(
      (_c, frame) => written.push(frame),
      {
        fetchAfter: (_session, after) => {
          reads++;
          if (reads < 3) return Promise.reject(new Error('down'));
          return Promise.resolve([stored(1), stored(2), stored(3)].filter((frame) => frame.seq > after));
        },
      },
      isStoredFrame,
      1,
    );
    const socket = connection();
    order.reset(socket, 0);
    order.deliver(socket, stored(1));
    order.deliver(socket, stored(3));
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(seqs(written)).toEqual([1, 2, 3]);
    expect(reads).toBe(3);
  });

  it('should take the first event as its position when it has none yet', () => {
    const { order, written } = setup();
    const socket = connection();
    order.deliver(socket, stored(7));
    order.deliver(socket, stored(7));
    order.deliver(socket, stored(8));
    expect(seqs(written)).toEqual([7, 8]);
  });

  it('should tell stored events from ephemeral frames', () => {
    expect(isStoredFrame(stored(1))).toBe(true);
    expect(
      isStoredFrame({
        type: 'ai_response',
        seq: 1,
        id: 'r',
        sender: 'ai',
        metadata: { delta: 'x', offset: 0, done: false },
      }),
    ).toBe(false);
    expect(
      isStoredFrame({
        type: 'ai_response',
        seq: 1,
        id: 'r',
        sender: 'ai',
        timestamp: 't',
        metadata: { done: true },
      }),
    ).toBe(true);
    expect(isStoredFrame({ type: 'ack', seq: 1, id: 'x' })).toBe(false);
    expect(isStoredFrame({ type: 'session_renamed', seq: 1, content: 'n' })).toBe(false);
  });
});
