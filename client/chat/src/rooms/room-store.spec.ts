import fc from 'fast-check';
import type { RoomMessageFrame } from '../../../shared/protocol';
import { applyChangeFrame } from './change-frames';
import { asMessageFrame } from './message-parse';
import { RoomStore } from './room-store';

const ROOM = 'room-1';

function stored(seq: number, overrides: Partial<RoomMessageFrame> = {}): RoomMessageFrame {
  return {
    type: 'chat',
    room_id: ROOM,
    message_id: `m${seq}`,
    seq,
    user_id: 'bob',
    timestamp: new Date(seq * 1000).toISOString(),
    content: `message ${seq}`,
    metadata: { kind: 'text' },
    ...overrides,
  };
}

describe(RoomStore.name, () => {
  it('should keep each message once, in seq order, whatever the order and repeats of arrival', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 30 }), { minLength: 1, maxLength: 80 }), (seqs) => {
        const store = new RoomStore();
        for (const seq of seqs) store.applyMessage(stored(seq));
        const shown = store.messages(ROOM).map((message) => message.seq);
        expect(shown).toEqual([...new Set(seqs)].sort((a, b) => a - b));
      }),
    );
  });

  // issue 14: seq 7 before 6 (6 lost on a dying socket, 7 by a page or the ack of the user's own
  // message) must not move the resume point past 6, or a resume from it skips 6 for good
  it('should resume from the end of the contiguous prefix, whatever the order, repeats and paths of arrival', () => {
    const deliveries = fc
      .record({ start: fc.nat(20), count: fc.integer({ min: 1, max: 25 }) })
      .chain(({ start, count }) =>
        fc.record({
          start: fc.constant(start),
          count: fc.constant(count),
          // the user's own messages (sent from here: pending until the ack or their stored copy)
          mine: fc.array(fc.boolean(), { minLength: count, maxLength: count }),
          // each arrival: which message, and by the ack (own messages) or a stored frame
          arrivals: fc.array(fc.tuple(fc.integer({ min: 1, max: count }), fc.boolean()), { maxLength: 60 }),
        }),
      );
    fc.assert(
      fc.property(deliveries, ({ start, count, mine, arrivals }) => {
        const store = new RoomStore();
        // the join stood at `start` (the history before it held, older ones paged)
        store.joinedAt(ROOM, start);
        for (let index = 0; index < count; index++)
          if (mine[index])
            store.addPending(ROOM, { clientId: `c${index + 1}`, userId: 'alice', content: 'hi' });
        // every message at least once, after the arbitrary ones
        const all = Array.from({ length: count }, (_, index): [number, boolean] => [index + 1, false]);
        const had = new Set<number>();
        for (const [nth, byAck] of [...arrivals, ...all]) {
          const seq = start + nth;
          const own = mine[nth - 1];
          if (own && byAck) store.ack(ROOM, `c${nth}`, `m${seq}`, seq);
          else store.applyMessage(stored(seq, own ? { client_id: `c${nth}`, user_id: 'alice' } : {}));
          had.add(seq);
          let missing = start + 1;
          while (had.has(missing)) missing++;
          expect(store.thread(ROOM).resume.point).toBe(missing - 1);
          // each message once: stored ones in seq order, then those still pending
          const shown = store.messages(ROOM);
          const seqs = shown.flatMap((message) => (message.seq === undefined ? [] : [message.seq]));
          expect(seqs).toEqual([...had].sort((a, b) => a - b));
          expect(shown.length).toBe(
            had.size + mine.filter((own, index) => own && !had.has(start + index + 1)).length,
          );
        }
        expect(store.thread(ROOM).resume.point).toBe(start + count);
        expect(store.messages(ROOM).every((message) => !message.pending)).toBe(true);
      }),
    );
  });

  // found by the chaos test's review: a resume from the ack's seq skipped a message held before it
  it("should not move the resume point past a message it has not received on the sender's own ack", () => {
    const store = new RoomStore();
    store.applyMessage(stored(3));
    store.joinedAt(ROOM, 3);
    store.addPending(ROOM, { clientId: 'c1', userId: 'alice', content: 'hi' });
    // seq 4 (someone else's) is still on its way when the ack of seq 5 arrives
    store.ack(ROOM, 'c1', 'm5', 5);
    expect(store.thread(ROOM).resume.point).toBe(3);
    // the ack counts once the gap below it fills
    store.applyMessage(stored(4));
    expect(store.thread(ROOM).resume.point).toBe(5);
    store.applyMessage(stored(5, { client_id: 'c1', user_id: 'alice', content: 'hi' }));
    expect(store.thread(ROOM).resume.point).toBe(5);
    expect(store.messages(ROOM).map((message) => message.seq)).toEqual([3, 4, 5]);
  });

  it('should not count an ack of a message it does not show (no pending message for it)', () => {
    const store = new RoomStore();
    store.joinedAt(ROOM, 3);
    store.ack(ROOM, 'unknown', 'm4', 4);
    expect(store.thread(ROOM).resume.point).toBe(3);
    expect(store.messages(ROOM)).toEqual([]);
  });

  it('should stand at the join: the history sent before it and nothing past it', () => {
    const store = new RoomStore();
    for (let seq = 41; seq <= 50; seq++) store.applyMessage(stored(seq));
    expect(store.thread(ROOM).resume.point).toBe(0);
    store.joinedAt(ROOM, 50);
    expect(store.thread(ROOM).resume.point).toBe(50);
    store.applyMessage(stored(52));
    expect(store.thread(ROOM).resume).toMatchObject({ point: 50, hasGap: true });
  });

  it('should turn a pending message into the stored one on its ack, once even when the replay came first', () => {
    const store = new RoomStore();
    store.addPending(ROOM, { clientId: 'c1', userId: 'alice', content: 'hi' });
    expect(store.messages(ROOM)[0]).toMatchObject({ pending: true, key: 'pending:c1' });
    store.applyMessage(stored(4, { message_id: 'm4', client_id: 'c1', user_id: 'alice', content: 'hi' }));
    store.ack(ROOM, 'c1', 'm4', 4);
    const messages = store.messages(ROOM);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({ messageId: 'm4', seq: 4, pending: false });
  });

  it('should ack a pending message into place by seq', () => {
    const store = new RoomStore();
    store.applyMessage(stored(1));
    store.addPending(ROOM, { clientId: 'c2', userId: 'alice', content: 'second' });
    store.ack(ROOM, 'c2', 'm2', 2);
    store.applyMessage(stored(3));
    expect(store.messages(ROOM).map((message) => [message.seq, message.pending])).toEqual([
      [1, false],
      [2, false],
      [3, false],
    ]);
  });

  // a store's old data may hold reactions named like Object.prototype's members (the server took any
  // text until session 31): they are left out, and nothing reaches Object.prototype
  it('should keep only emoji reactions of a stored message, whatever names it holds', () => {
    const store = new RoomStore();
    const reactions = JSON.parse(
      '{"__proto__": ["eve"], "constructor": ["eve"], "toString": ["eve"], "👍": ["ann"]}',
    ) as Record<string, string[]>;
    store.applyMessage(stored(1, { metadata: { kind: 'text', reactions } }));
    expect(store.find(ROOM, 'm1')?.reactions).toEqual({ '👍': ['ann'] });
    expect(Object.prototype).not.toHaveProperty('eve');
    expect(({} as Record<string, unknown>).constructor).toBe(Object);
  });

  it('should show edits, soft deletes and reactions given and taken back', () => {
    const store = new RoomStore();
    store.applyMessage(stored(1));
    store.applyEdit(ROOM, 'm1', 'changed', '2026-01-01T00:00:00Z');
    expect(store.find(ROOM, 'm1')).toMatchObject({ content: 'changed', editedAt: '2026-01-01T00:00:00Z' });
    store.applyReact(ROOM, 'm1', 'alice', '👍', false);
    store.applyReact(ROOM, 'm1', 'carol', '👍', false);
    store.applyReact(ROOM, 'm1', 'alice', '👍', true);
    expect(store.find(ROOM, 'm1')?.reactions).toEqual({ '👍': ['carol'] });
    store.applyDelete(ROOM, 'm1');
    expect(store.find(ROOM, 'm1')).toMatchObject({ deleted: true, content: '', reactions: {} });
    // an edit that crosses the delete does not bring the text back
    store.applyEdit(ROOM, 'm1', 'again', '2026-01-01T00:00:01Z');
    expect(store.find(ROOM, 'm1')?.content).toBe('');
  });

  it('should read a deleted message from the server (no content, metadata.deleted) as deleted', () => {
    const store = new RoomStore();
    const frame = asMessageFrame({
      ...stored(2),
      content: undefined,
      metadata: { kind: 'text', deleted: true },
    });
    expect(frame).not.toBeNull();
    store.applyMessage(frame as RoomMessageFrame);
    expect(store.find(ROOM, 'm2')).toMatchObject({ deleted: true, content: '' });
  });

  it('should refuse values that are not stored messages', () => {
    expect(asMessageFrame(null)).toBeNull();
    expect(asMessageFrame({ room_id: ROOM, message_id: 'm', user_id: 'u', seq: '1' })).toBeNull();
    expect(asMessageFrame({ room_id: ROOM, message_id: 'm', user_id: 'u', seq: 1.5 })).toBeNull();
  });

  it('should show who is typing until the indicator lapses', () => {
    const store = new RoomStore();
    store.setTyping(ROOM, 'bob', true, 1_000);
    expect(store.typingUsers(ROOM, 500)).toEqual(['bob']);
    expect(store.typingUsers(ROOM, 1_500)).toEqual([]);
  });

  describe('AI replies streaming', () => {
    const stream = (
      phase: 'start' | 'delta' | 'end',
      extra: { content?: string; offset?: number; outcome?: string } = {},
    ) => ({
      roomId: ROOM,
      replyId: 'reply-1',
      phase,
      replyTo: 'm1',
      askerId: 'alice',
      model: 'demo',
      ...extra,
    });
    const pieces = (text: string, cuts: number[]) => {
      const points = [...new Set(cuts.map((cut) => cut % (text.length + 1)))].sort((a, b) => a - b);
      const bounds = [0, ...points.filter((point) => point > 0 && point < text.length), text.length];
      return bounds
        .slice(1)
        .map((end, index) => ({ offset: bounds[index], content: text.slice(bounds[index], end) }));
    };

    it('should build the reply from its deltas, once each, whatever repeats arrive', () => {
      fc.assert(
        fc.property(
          fc.string({ minLength: 1, maxLength: 60 }),
          fc.array(fc.nat(), { maxLength: 10 }),
          fc.array(fc.nat(), { maxLength: 5 }),
          (text, cuts, repeats) => {
            const store = new RoomStore();
            store.applyAiStream(stream('start'));
            const deltas = pieces(text, cuts);
            for (const [index, delta] of deltas.entries()) {
              store.applyAiStream(stream('delta', delta));
              // a delta seen again (a replayed frame) adds nothing
              if (repeats.includes(index)) store.applyAiStream(stream('delta', delta));
            }
            const [shown] = store.aiStreams(ROOM);
            expect(shown).toMatchObject({ replyId: 'reply-1', text, askerId: 'alice', partial: false });
          },
        ),
      );
    });

    it('should show a reply joined mid-stream as partial, end it, and replace it by the stored message', () => {
      const store = new RoomStore();
      store.applyAiStream(stream('delta', { content: 'world', offset: 6 }));
      expect(store.aiStreams(ROOM)[0]).toMatchObject({ text: 'world', partial: true });
      store.applyAiStream(stream('end', { outcome: 'stopped' }));
      expect(store.aiStreams(ROOM)[0]).toMatchObject({ outcome: 'stopped' });
      store.applyMessage(
        stored(4, {
          message_id: 'reply-1',
          user_id: 'ai',
          content: 'hello world',
          metadata: {
            kind: 'text',
            reply_to: 'm1',
            ai: { model: 'demo', asker_id: 'alice', outcome: 'stopped' },
          },
        }),
      );
      expect(store.aiStreams(ROOM)).toEqual([]);
      expect(store.find(ROOM, 'reply-1')).toMatchObject({
        ai: { model: 'demo', outcome: 'stopped' },
        content: 'hello world',
      });
      // frames that come after the stored message start nothing again
      store.applyAiStream(stream('delta', { content: 'late', offset: 11 }));
      store.applyAiStream(stream('end', { outcome: 'stopped' }));
      expect(store.aiStreams(ROOM)).toEqual([]);
    });

    it("should not take a person's message for the AI's, whatever their id", () => {
      const store = new RoomStore();
      store.applyMessage(stored(1, { user_id: 'ai', content: 'I am the AI' }));
      expect(store.find(ROOM, 'm1')?.ai).toBeUndefined();
    });
  });

  // a read of the change log put as a frame (docs/protocol.md, "Change log"): whatever the server
  // sent, nothing throws, no message the thread does not hold is added, and the mark never goes back
  describe('changes read (applyChangeFrame)', () => {
    it('should take the state of held messages only, move the mark through changed_through, and never throw (property)', () => {
      fc.assert(
        fc.property(
          fc.array(
            fc.oneof(
              fc.anything(),
              // a message keeps its seq (m<seq>), as the server's do
              fc
                .record({
                  room_id: fc.constantFrom(ROOM, 'other'),
                  seq: fc.constantFrom(1, 2, 9),
                  user_id: fc.constant('bob'),
                  content: fc.string(),
                  metadata: fc.record({ kind: fc.constant('text'), deleted: fc.boolean() }),
                })
                .map((item) => ({ ...item, message_id: `m${item.seq}` })),
            ),
            { maxLength: 8 },
          ),
          fc.oneof(fc.anything(), fc.integer({ min: -5, max: 50 })),
          (items, through) => {
            const store = new RoomStore();
            store.applyMessage(stored(1));
            store.applyMessage(stored(2));
            const thread = store.thread(ROOM);
            thread.changes.startsAt(3);
            const before = thread.changes.point as number;
            expect(
              applyChangeFrame(store, { type: 'changes', room_id: ROOM, items, changed_through: through }),
            ).toBe(true);
            expect(store.messages(ROOM).map((message) => message.messageId)).toEqual(['m1', 'm2']);
            const point = thread.changes.point as number;
            expect(point).toBeGreaterThanOrEqual(before);
            // a message named that the device is still to get (above where it stands, not held):
            // the mark stays
            const missed = items.some((item) => {
              const message = asMessageFrame(item);
              return message?.room_id === ROOM && !['m1', 'm2'].includes(message.message_id);
            });
            if (missed) expect(point).toBe(before);
            else if (typeof through === 'number' && Number.isSafeInteger(through) && through >= before)
              expect(point).toBe(through);
            // a held message takes the last state read of it
            for (const id of ['m1', 'm2']) {
              const last = [...items]
                .reverse()
                .find(
                  (item) => asMessageFrame(item)?.message_id === id && asMessageFrame(item)?.room_id === ROOM,
                );
              if (last) expect(store.find(ROOM, id)?.content).toBe(asMessageFrame(last)?.content ?? '');
            }
          },
        ),
        { numRuns: 300 },
      );
    });

    // A change's number counts for the mark once the device has it: applied to a held message, or
    // of a message below where it stands that it does not hold (a page read later brings it as it
    // is now). A change of a message above that (a lower seq missing, or not come yet) is dropped
    // and does not count: the message may come as the store holds it (a gap read, no reactions),
    // and only a read of the log through that number sets it right (docs/protocol.md, "Change log").
    it("should count a change frame's number for the mark only when the device has the change", () => {
      const store = new RoomStore();
      store.applyMessage(stored(5));
      store.joinedAt(ROOM, 5);
      store.thread(ROOM).changes.startsAt(0);
      applyChangeFrame(store, {
        type: 'edit',
        room_id: ROOM,
        message_id: 'm5',
        seq: 5,
        user_id: 'bob',
        content: 'edited',
        metadata: { edited_at: '2026-01-01T00:00:00.000Z', change: 1 },
      });
      // below where the device stands, not held: a page read later has it as it is now
      applyChangeFrame(store, {
        type: 'delete',
        room_id: ROOM,
        message_id: 'm2',
        seq: 2,
        user_id: 'bob',
        metadata: { change: 2 },
      });
      expect(store.thread(ROOM).changes.point).toBe(2);
      // above it, not come yet (seq 6 missing): dropped, not counted
      applyChangeFrame(store, {
        type: 'react',
        room_id: ROOM,
        message_id: 'm7',
        seq: 7,
        user_id: 'bob',
        content: '🎉',
        metadata: { removed: false, change: 3 },
      });
      // no seq (a server before react frames named one): not counted either when not held
      applyChangeFrame(store, {
        type: 'react',
        room_id: ROOM,
        message_id: 'm8',
        user_id: 'bob',
        content: '🎉',
        metadata: { removed: false, change: 4 },
      });
      applyChangeFrame(store, {
        type: 'react',
        room_id: ROOM,
        message_id: 'm5',
        seq: 5,
        user_id: 'bob',
        content: '👍',
        metadata: { removed: false, change: 5 },
      });
      expect(store.thread(ROOM).changes.point).toBe(2);
      expect(store.find(ROOM, 'm5')).toMatchObject({ content: 'edited', reactions: { '👍': ['bob'] } });
    });

    // The rooms chaos's reactionsMissed (docs/protocol.md, "Change log"): a reaction's frame came
    // before its message, which then came from the store without it; the next read of the log sets
    // it right only if the mark did not pass the reaction's number.
    it('should read a reaction again whose frame came before its message', () => {
      const store = new RoomStore();
      store.applyMessage(stored(1));
      store.joinedAt(ROOM, 1);
      const thread = store.thread(ROOM);
      thread.changes.startsAt(0);
      applyChangeFrame(store, {
        type: 'react',
        room_id: ROOM,
        message_id: 'm3',
        seq: 3,
        user_id: 'ann',
        content: '👍',
        metadata: { removed: false, change: 1 },
      });
      // seq 2 and 3 come later, as the store held them before the reaction
      store.applyMessage(stored(2));
      store.applyMessage(stored(3));
      expect(store.find(ROOM, 'm3')?.reactions).toEqual({});
      // the reconnect's read of the log from the mark
      const after = thread.changes.point;
      expect(after).toBe(0);
      applyChangeFrame(store, {
        type: 'changes',
        room_id: ROOM,
        items: [stored(3, { metadata: { kind: 'text', reactions: { '👍': ['ann'] } } })],
        changed_through: 1,
      });
      expect(store.find(ROOM, 'm3')?.reactions).toEqual({ '👍': ['ann'] });
      expect(thread.changes.point).toBe(1);
    });

    // A read of the log names a message changed that the device does not hold yet but will (above
    // where it stands: its frame is on its way, or comes from the store's gap read, which may be older
    // than the read): the read cannot apply it, so the mark stays, and the next read has it again.
    it('should not move the mark through a read that named a message the device is still to get', () => {
      const store = new RoomStore();
      store.applyMessage(stored(1));
      store.joinedAt(ROOM, 1);
      const thread = store.thread(ROOM);
      thread.changes.startsAt(0);
      const reacted = (seq: number) =>
        stored(seq, { metadata: { kind: 'text', reactions: { '👍': ['ann'] } } });
      // a read through change 2 naming messages 1 and 3, both reacted to
      const readOneAndThree = () =>
        applyChangeFrame(store, {
          type: 'changes',
          room_id: ROOM,
          items: [reacted(1), reacted(3)],
          changed_through: 2,
        });
      readOneAndThree();
      // what it holds takes the read's state; the mark stays
      expect(store.find(ROOM, 'm1')?.reactions).toEqual({ '👍': ['ann'] });
      expect(thread.changes.point).toBe(0);
      store.applyMessage(stored(2));
      store.applyMessage(stored(3));
      readOneAndThree();
      expect(store.find(ROOM, 'm3')?.reactions).toEqual({ '👍': ['ann'] });
      expect(thread.changes.point).toBe(2);
      // a message below where it stands that it does not hold: passed (a page read brings it)
      store.joinedAt(ROOM, 3);
      applyChangeFrame(store, {
        type: 'changes',
        room_id: ROOM,
        items: [{ ...reacted(9), message_id: 'old', seq: 0 }],
        changed_through: 4,
      });
      expect(thread.changes.point).toBe(4);
    });

    // Each change names its number, and a read of the log names the number each of its messages and
    // reactions carries (docs/protocol.md, "Change log"): a change is applied only over an older one
    // of the same message or reaction, so neither a frame that came late nor one applied again over a
    // read (what came while it was on its way) puts an older state back.
    describe('change numbers per message and reaction', () => {
      const react = (user: string, removed: boolean, change: number, emoji = '👍') => ({
        type: 'react',
        room_id: ROOM,
        message_id: 'm1',
        seq: 1,
        user_id: user,
        content: emoji,
        metadata: { removed, change },
      });

      // a changes read through change 2 naming message 1, whose 👍 by ann was taken back at change 2
      const readAnnTookBackAt2 = (store: RoomStore) =>
        applyChangeFrame(store, {
          type: 'changes',
          room_id: ROOM,
          items: [stored(1, { metadata: { kind: 'text', reaction_changes: { '👍': { ann: 2 } } } })],
          changed_through: 2,
        });

      it('should not apply again, over a read holding a newer change, an older one that came during the read', () => {
        const store = new RoomStore();
        store.applyMessage(stored(1));
        const thread = store.thread(ROOM);
        thread.changes.startsAt(0);
        store.startRead(ROOM);
        // came while the read was on its way; the newer change (2: taken back) never comes as a frame
        applyChangeFrame(store, react('ann', false, 1));
        readAnnTookBackAt2(store);
        store.endRead(ROOM, true);
        expect(store.find(ROOM, 'm1')?.reactions).toEqual({});
        expect(thread.changes.point).toBe(2);
      });

      it('should still apply again a change newer than what the read holds', () => {
        const store = new RoomStore();
        store.applyMessage(stored(1));
        store.thread(ROOM).changes.startsAt(0);
        store.startRead(ROOM);
        applyChangeFrame(store, react('ann', false, 3));
        applyChangeFrame(store, react('bob', false, 4, '🎉'));
        readAnnTookBackAt2(store);
        store.endRead(ROOM, true);
        expect(store.find(ROOM, 'm1')?.reactions).toEqual({ '👍': ['ann'], '🎉': ['bob'] });
      });

      it('should drop a frame older than one applied of the same reaction or message, and count it', () => {
        const store = new RoomStore();
        store.applyMessage(stored(1));
        const thread = store.thread(ROOM);
        thread.changes.startsAt(0);
        applyChangeFrame(store, react('ann', true, 2));
        applyChangeFrame(store, react('ann', false, 1));
        expect(store.find(ROOM, 'm1')?.reactions).toEqual({});
        const edit = (content: string, change: number) => ({
          type: 'edit',
          room_id: ROOM,
          message_id: 'm1',
          seq: 1,
          user_id: 'bob',
          content,
          metadata: { edited_at: '2026-01-01T00:00:00.000Z', change },
        });
        applyChangeFrame(store, edit('newer', 4));
        applyChangeFrame(store, edit('older', 3));
        expect(store.find(ROOM, 'm1')?.content).toBe('newer');
        expect(thread.changes.point).toBe(4);
        // a read that holds an older edit than the one applied is newer for the reactions it names
        applyChangeFrame(store, {
          type: 'changes',
          room_id: ROOM,
          items: [stored(1, { content: 'read', metadata: { kind: 'text', change: 5 } })],
          changed_through: 5,
        });
        applyChangeFrame(store, edit('late', 4));
        expect(store.find(ROOM, 'm1')?.content).toBe('read');
        // a delete stands whatever its number (nothing comes after it), and an edit after it is dropped
        applyChangeFrame(store, {
          type: 'delete',
          room_id: ROOM,
          message_id: 'm1',
          seq: 1,
          user_id: 'bob',
          metadata: { change: 2 },
        });
        applyChangeFrame(store, edit('after the delete', 6));
        expect(store.find(ROOM, 'm1')).toMatchObject({ deleted: true, content: '' });
      });
    });
  });
});
