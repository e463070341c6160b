import fc from 'fast-check';
import { WebSocket } from 'ws';
import type { RoomServerFrame } from '../../protocol/rooms';
import { SeqPrefix } from '../../protocol/seq-prefix';
import type { Connection } from '../realtime/connection';
import { Subscription } from './room-fan-out';
import { chatFrame as chat, editFrame as edit } from '../../../test/helpers/room-frames';
import { HeldFrames } from './room-held-frames';
import type { RoomHub } from './room-hub';
import { REPLAY_PAGE } from './room-message-reads';
import type { RoomMessagesService } from './room-messages.service';
import { replayPages, replayPageSize, RoomReplays, type ReplaySteps } from './room-replays';

// Steps over a room holding `seqs`, recording what the replay did; each step can be overridden.
function fakeSteps(seqs: number[], overrides: Partial<ReplaySteps> = {}) {
  const log: string[] = [];
  const sent: number[] = [];
  const held = new HeldFrames(100, 100);
  const steps: ReplaySteps = {
    drained: () => {
      log.push('drained');
      return Promise.resolve(true);
    },
    current: () => true,
    place: () => {
      log.push('place');
      return Promise.resolve(() => log.push('release'));
    },
    read: (after, limit) => {
      log.push(`read ${after ?? 'newest'} ${limit}`);
      const found =
        after === undefined ? seqs.slice(-limit) : seqs.filter((seq) => seq > after).slice(0, limit);
      return Promise.resolve(found.map(chat));
    },
    check: () => Promise.resolve(),
    send: (frame) => sent.push(frame.seq),
    held,
    ...overrides,
  };
  return { steps, log, sent, held };
}

describe(replayPages.name, () => {
  it('should read a page at a time once the socket drained, taking a place from the second page on', async () => {
    const { steps, log, sent } = fakeSteps([1, 2, 3, 4, 5]);
    expect(await replayPages(steps, 0, 2)).toEqual({ count: 5, point: 5 });
    expect(sent).toEqual([1, 2, 3, 4, 5]);
    expect(log).toEqual([
      'drained',
      'read 0 2',
      'drained',
      'place',
      'read 2 2',
      'release',
      'drained',
      'place',
      'read 4 2',
      'release',
    ]);
  });

  it('should read one more page after a full last one, and stand where the resume asked when it finds nothing', async () => {
    const { steps, log } = fakeSteps([1, 2, 3, 4]);
    expect(await replayPages(steps, 0, 2)).toEqual({ count: 4, point: 4 });
    expect(log.filter((step) => step.startsWith('read'))).toEqual(['read 0 2', 'read 2 2', 'read 4 2']);
    expect(await replayPages(fakeSteps([1, 2]).steps, 2, 2)).toEqual({ count: 0, point: 2 });
  });

  it('should send a first join the newest page alone, standing at its last message', async () => {
    const { steps, log, sent } = fakeSteps([1, 2, 3, 4, 5]);
    expect(await replayPages(steps, undefined, 2)).toEqual({ count: 2, point: 5 });
    expect(sent).toEqual([4, 5]);
    expect(log).toEqual(['drained', 'read newest 2']);
    expect(await replayPages(fakeSteps([]).steps, undefined, 2)).toEqual({ count: 0, point: 0 });
  });

  it('should stand where the numbering of the room stood when retention left no message to send', async () => {
    // a first join, and a resume from before what retention removed
    expect(await replayPages(fakeSteps([]).steps, undefined, 2, 7)).toEqual({ count: 0, point: 7 });
    expect(await replayPages(fakeSteps([]).steps, 3, 2, 7)).toEqual({ count: 0, point: 7 });
    // a message after it
    expect(await replayPages(fakeSteps([8]).steps, 3, 2, 7)).toEqual({ count: 1, point: 8 });
  });

  it('should stop, sending nothing more, when the socket closed while a page was read', async () => {
    let open = true;
    const { steps, log, sent } = fakeSteps([1, 2, 3, 4, 5], {
      current: () => open,
    });
    const read = steps.read;
    steps.read = async (after, limit) => {
      const page = await read(after, limit);
      if (after === 2) open = false;
      return page;
    };
    expect(await replayPages(steps, 0, 2)).toBeNull();
    expect(sent).toEqual([1, 2]);
    // the place is given back
    expect(log.slice(-2)).toEqual(['read 2 2', 'release']);
  });

  it('should stop when the socket did not take what was sent in time', async () => {
    let drains = 0;
    const { steps, sent } = fakeSteps([1, 2, 3, 4, 5], {
      drained: () => Promise.resolve(++drains < 2),
    });
    expect(await replayPages(steps, 0, 2)).toBeNull();
    expect(sent).toEqual([1, 2]);
  });

  it('should send nothing of a page read after the user was removed, and give its place back', async () => {
    let member = true;
    const { steps, log, sent } = fakeSteps([1, 2, 3, 4, 5], {
      check: () => (member ? Promise.resolve() : Promise.reject(new Error('NOT_A_MEMBER'))),
    });
    const read = steps.read;
    steps.read = async (after, limit) => {
      if (after === 2) member = false;
      return read(after, limit);
    };
    await expect(replayPages(steps, 0, 2)).rejects.toThrow('NOT_A_MEMBER');
    expect(sent).toEqual([1, 2]);
    expect(log[log.length - 1]).toBe('release');
  });

  it('should read on past a short page when a live message was passed over during it', async () => {
    const seqs = [1, 2, 3];
    const { steps, log, sent, held } = fakeSteps(seqs);
    const read = steps.read;
    steps.read = async (after, limit) => {
      const page = await read(after, limit);
      // two messages stored and passed over (the held frames full) after the read was made
      if (after === 0) {
        seqs.push(4, 5);
        held.passedOver = 5;
      }
      return page;
    };
    expect(await replayPages(steps, 0, 5)).toEqual({ count: 5, point: 5 });
    expect(sent).toEqual([1, 2, 3, 4, 5]);
    expect(log.filter((step) => step.startsWith('read'))).toEqual(['read 0 5', 'read 3 5']);
  });

  it('should read a first join from the start when its room was empty and a live message was passed over', async () => {
    const seqs: number[] = [];
    const { steps, sent, held } = fakeSteps(seqs);
    const read = steps.read;
    steps.read = async (after, limit) => {
      const page = await read(after, limit);
      if (after === undefined) {
        seqs.push(7, 8);
        held.passedOver = 8;
      }
      return page;
    };
    expect(await replayPages(steps, undefined, 5)).toEqual({ count: 2, point: 8 });
    expect(sent).toEqual([7, 8]);
  });

  // A room whose messages are stored and fanned out while a join replays it. The store (the model)
  // holds seqs from `first` on, with no gap (a seq is taken only once the one before it is stored); a
  // message is fanned out in seq order some time after it was stored, to the held frames before the
  // join's ready() and through the socket's SeqPrefix after it (as RoomHub does); an edit of a
  // message fanned out already is fanned out as well. At every step of the replay (its drain, its
  // place, its read, its membership check) any number of those happen, and a read sees the store as
  // it was when it was made or when it answered. Whatever the interleaving: the socket gets every
  // message after last_seq (a first join: from its newest page on) once and in order, with no gap
  // left at ready() (no store read needed after it), each edit after its message; the held frames
  // never keep more messages than their bound; every read asks for a page.
  it('should give the socket every message once, in order, whatever comes live during the replay (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          first: fc.integer({ min: 1, max: 4 }),
          initial: fc.integer({ min: 0, max: 14 }),
          unsent: fc.integer({ min: 0, max: 3 }),
          resume: fc.option(fc.nat({ max: 20 }), { nil: undefined }),
          pageSize: fc.integer({ min: 1, max: 4 }),
          newest: fc.integer({ min: 1, max: 5 }),
          maxMessages: fc.integer({ min: 1, max: 4 }),
          events: fc.array(fc.constantFrom('store', 'fan-out', 'edit'), { maxLength: 40 }),
          bursts: fc.array(fc.nat({ max: 4 }), { maxLength: 60 }),
          lateReads: fc.array(fc.boolean(), { maxLength: 30 }),
        }),
        async ({
          first,
          initial,
          unsent,
          resume,
          pageSize,
          newest,
          maxMessages,
          events,
          bursts,
          lateReads,
        }) => {
          const stored = Array.from({ length: initial }, (_, index) => first + index);
          // messages fanned out so far (in seq order)
          let fannedOut = Math.max(0, stored.length - unsent);
          const head = () => (stored.length > 0 ? stored[stored.length - 1] : first - 1);
          // the join reads where the room stands once subscribed, and resumes from at most there
          const floor = head();
          const lastSeq = resume === undefined ? undefined : Math.min(resume, floor);
          const held = new HeldFrames(maxMessages, 1_000);
          // the socket's order, from ready() on
          const socket: { prefix?: SeqPrefix<null> } = {};
          const received: RoomServerFrame[] = [];
          let gaps = 0;
          let mostHeld = 0;
          const limits: number[] = [];

          const toSocket = (frame: RoomServerFrame) => {
            const prefix = socket.prefix;
            if (!prefix) {
              held.add(frame);
              mostHeld = Math.max(mostHeld, held.frames.filter((each) => each.type === 'chat').length);
              return;
            }
            if (frame.type !== 'chat') return received.push(frame);
            if (prefix.takeNext(frame.seq)) received.push(frame);
            else if (!prefix.has(frame.seq)) {
              gaps++;
              prefix.add(frame.seq, null);
            }
          };
          const happen = (event: string) => {
            if (event === 'store') stored.push(head() + 1);
            else if (event === 'fan-out' && fannedOut < stored.length) toSocket(chat(stored[fannedOut++]));
            else if (event === 'edit' && fannedOut > 0) toSocket(edit(stored[(next * 7) % fannedOut]));
          };
          let next = 0;
          let burst = 0;
          const tick = async () => {
            for (let count = bursts[burst++ % Math.max(1, bursts.length)] ?? 0; count > 0; count--)
              if (next < events.length) happen(events[next++]);
            await Promise.resolve();
          };
          let readsMade = 0;
          const steps: ReplaySteps = {
            drained: async () => {
              await tick();
              return true;
            },
            current: () => true,
            place: async () => {
              await tick();
              return () => undefined;
            },
            read: async (after, limit) => {
              limits.push(limit);
              const late = lateReads[readsMade++ % Math.max(1, lateReads.length)] ?? false;
              const snapshot = () =>
                after === undefined
                  ? stored.slice(-newest)
                  : stored.filter((seq) => seq > after).slice(0, limit);
              const early = snapshot();
              await tick();
              return (late ? snapshot() : early).map(chat);
            },
            check: tick,
            send: (frame) => received.push(frame),
            held,
          };

          const replayed = await replayPages(steps, lastSeq, pageSize, floor);
          expect(replayed).not.toBeNull();
          const sent = received.map((frame) => (frame.type === 'chat' ? frame.seq : NaN));
          const point = replayed?.point ?? NaN;
          // the join stands at the last message sent, or where it resumed from, or where the room's
          // numbering stood (retention removed the messages up to it)
          expect(point).toBe(Math.max(sent.length > 0 ? sent[sent.length - 1] : (lastSeq ?? 0), floor));
          expect(replayed?.count).toBe(sent.length);
          // ready(): the held frames through the socket's order, then everything else as it comes
          socket.prefix = new SeqPrefix(point);
          for (const frame of held.frames) toSocket(frame);
          while (next < events.length) happen(events[next++]);
          while (fannedOut < stored.length) happen('fan-out');

          const seqs = received.filter((frame) => frame.type === 'chat').map((frame) => frame.seq);
          const from = lastSeq ?? (seqs.length > 0 ? seqs[0] - 1 : floor);
          expect(seqs).toEqual(stored.filter((seq) => seq > from));
          if (lastSeq === undefined && seqs.length > 0) expect(seqs[0]).toBeGreaterThanOrEqual(first);
          expect(gaps).toBe(0);
          expect(mostHeld).toBeLessThanOrEqual(maxMessages);
          expect(limits.every((limit) => limit === pageSize)).toBe(true);
          // each edit of a message the join sent after its message
          received.forEach((frame, index) => {
            if (frame.type === 'edit' && frame.seq > from)
              expect(
                received.slice(0, index).some((before) => before.type === 'chat' && before.seq === frame.seq),
              ).toBe(true);
          });
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe(RoomReplays.name, () => {
  function socket(userId: string): Connection {
    const ws = { readyState: WebSocket.OPEN, OPEN: WebSocket.OPEN, bufferedAmount: 0, close: jest.fn() };
    return {
      id: `c-${Math.random()}`,
      socket: ws as unknown as WebSocket,
      principal: { userId, roles: [], isAdmin: false, expiresAt: Date.now() + 60_000 },
      sessionId: '',
      alive: true,
      seenAt: Date.now(),
      pending: null,
    };
  }

  it('should size a page to MAX_MESSAGE_LENGTH', () => {
    expect(replayPageSize(4_096)).toBe(REPLAY_PAGE);
    expect(replayPageSize(100_000)).toBe(6);
    expect(replayPageSize(1_000_000)).toBe(1);
  });

  it('should read the later pages of one user one at a time, and of other users beside them', async () => {
    // pages after the first being read, by user, now and at most
    const running = new Map<string, number>();
    const most = new Map<string, number>();
    const messages = {
      replay: async (roomId: string, after: number | undefined, limit: number) => {
        const user = roomId.split(':')[0];
        const later = after !== 0 ? 1 : 0;
        running.set(user, (running.get(user) ?? 0) + later);
        most.set(user, Math.max(most.get(user) ?? 0, running.get(user) ?? 0));
        await new Promise((resolve) => setTimeout(resolve, 1));
        running.set(user, (running.get(user) ?? 0) - later);
        const from = (after ?? 0) + 1;
        return Array.from({ length: Math.max(0, Math.min(limit, 450 - from + 1)) }, (_, index) =>
          chat(from + index),
        );
      },
      memberOf: () => Promise.resolve({}),
    } as unknown as RoomMessagesService;
    const hub = { holds: () => true, send: jest.fn() } as unknown as RoomHub;
    const replays = new RoomReplays(messages, hub, { maxMessageLength: 4_096 });
    const runs = ['a', 'a', 'a', 'b'].map((user, index) => {
      const subscription = new Subscription(socket(user), replays.held());
      return replays.run(subscription, `${user}:room${index}`, 0, 0);
    });
    const results = await Promise.all(runs);
    expect(results.map((result) => result?.count)).toEqual([450, 450, 450, 450]);
    // after their first pages, one of a's pages at a time, and b's beside them
    expect(most.get('a')).toBe(1);
    expect(most.get('b')).toBe(1);
    expect(replays.reading).toEqual({ active: 0, waiting: 0 });
  });
});
