import fc from 'fast-check';
import { summarizeReactions, type StoredReaction } from './reaction-summaries';

const PROTOTYPE_NAMES = Object.getOwnPropertyNames(Object.prototype);
// stored strings: prototype member names (`__proto__` first among them), emoji, anything at all
const stored = fc.oneof(
  fc.constantFrom(...PROTOTYPE_NAMES, 'prototype', '👍', '🎉'),
  fc.string({ unit: 'binary', maxLength: 12 }),
);
const reactions = fc.array(
  fc.record({
    message_id: fc.constantFrom('m1', 'm2', '__proto__'),
    user_id: stored,
    emoji: stored,
    removed: fc.boolean(),
    change: fc.option(fc.integer({ min: 1, max: 1000 }), { nil: undefined }),
  }),
  { maxLength: 30 },
);
const withIds = (list: Omit<StoredReaction, '_id'>[]): StoredReaction[] =>
  list.map((reaction, index) => ({ ...reaction, _id: `r${index}` }));

// Object.prototype as it is: its own keys and each one's descriptor
function prototypeState(): string {
  return JSON.stringify(
    Object.getOwnPropertyNames(Object.prototype)
      .sort()
      .map((key) => [key, typeof Object.getOwnPropertyDescriptor(Object.prototype, key)?.value]),
  );
}

describe('summarizeReactions', () => {
  it('should summarise reactions of any strings without throwing or touching a prototype (property)', () => {
    const before = prototypeState();
    fc.assert(
      fc.property(reactions, (list) => {
        const found = withIds(list);
        const state = summarizeReactions(found);
        expect(prototypeState()).toBe(before);
        expect(({} as Record<string, unknown>)[`${found[0]?.user_id}-not-a-member`]).toBeUndefined();
        // each kept reaction under its emoji, in order; each number under its emoji and user
        for (const messageId of ['m1', 'm2', '__proto__']) {
          const kept = found.filter((reaction) => reaction.message_id === messageId && !reaction.removed);
          const summary = state.byMessage.get(messageId) ?? {};
          const expected = new Map<string, string[]>();
          for (const reaction of kept)
            expected.set(reaction.emoji, [...(expected.get(reaction.emoji) ?? []), reaction.user_id]);
          expect(new Map(Object.entries(summary))).toEqual(expected);
          const numbered = found.filter((reaction) => reaction.message_id === messageId && reaction.change);
          const numbers = state.changesByMessage.get(messageId) ?? {};
          for (const reaction of numbered) {
            const last = numbered
              .filter((each) => each.emoji === reaction.emoji && each.user_id === reaction.user_id)
              .pop();
            expect(Object.getOwnPropertyDescriptor(numbers[reaction.emoji], reaction.user_id)?.value).toBe(
              last?.change,
            );
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('should write every key as data in JSON, `__proto__` too, and read back the same', () => {
    const found = withIds(
      ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '👍'].map((emoji, index) => ({
        message_id: 'm1',
        user_id: index % 2 ? '__proto__' : `u${index}`,
        emoji,
        removed: false,
        change: index + 1,
      })),
    );
    const state = summarizeReactions(found);
    const summary = JSON.parse(JSON.stringify(state.byMessage.get('m1'))) as Record<string, string[]>;
    expect(Object.keys(summary)).toEqual([
      '__proto__',
      'constructor',
      'toString',
      'hasOwnProperty',
      'valueOf',
      '👍',
    ]);
    expect(Object.getOwnPropertyDescriptor(summary, '__proto__')?.value).toEqual(['u0']);
    expect(summary.constructor).toEqual(['__proto__']);
    const numbers = JSON.parse(JSON.stringify(state.changesByMessage.get('m1'))) as Record<
      string,
      Record<string, number>
    >;
    expect(Object.entries(numbers.constructor)).toEqual([['__proto__', 2]]);
    expect(state.changes.get('r0')).toBe(1);
  });
});
