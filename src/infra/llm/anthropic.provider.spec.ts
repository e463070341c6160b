import fc from 'fast-check';
import { toAnthropicTurns } from './anthropic.provider';
import type { LlmImageType } from './llm-provider';

describe('toAnthropicTurns', () => {
  it('should move system messages to `system`, merge same-role turns and drop a leading reply', () => {
    expect(
      toAnthropicTurns(
        [
          { role: 'assistant', content: 'earlier reply' },
          { role: 'system', content: 'extra rule' },
          { role: 'user', content: 'a' },
          { role: 'user', content: 'b' },
          { role: 'assistant', content: 'c' },
        ],
        'Be kind.',
      ),
    ).toEqual({
      system: 'Be kind.\n\nextra rule',
      messages: [
        { role: 'user', content: 'a\n\nb' },
        { role: 'assistant', content: 'c' },
      ],
    });
  });

  it("should put a turn's images as base64 image blocks before its text, merged turns in order", () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);
    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 9]);
    const { messages } = toAnthropicTurns([
      { role: 'user', content: 'first' },
      { role: 'user', content: 'look', images: [{ mimeType: 'image/png', data: png }] },
      { role: 'assistant', content: 'a cat', images: [{ mimeType: 'image/png', data: png }] },
      { role: 'user', content: ' ', images: [{ mimeType: 'image/jpeg', data: jpeg }] },
      { role: 'user', content: 'and this?' },
    ]);
    expect(messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'first' },
          {
            type: 'image',
            source: { type: 'base64', media_type: 'image/png', data: png.toString('base64') },
          },
          { type: 'text', text: 'look' },
        ],
      },
      // images only ever go with user turns
      { role: 'assistant', content: 'a cat' },
      {
        role: 'user',
        content: [
          {
            type: 'image',
            source: { type: 'base64', media_type: 'image/jpeg', data: jpeg.toString('base64') },
          },
          { type: 'text', text: 'and this?' },
        ],
      },
    ]);
  });

  it('should give alternating turns that start with the user when given any history', () => {
    const image = fc.record({
      mimeType: fc.constantFrom<LlmImageType>('image/png', 'image/jpeg', 'image/gif', 'image/webp'),
      data: fc.uint8Array({ minLength: 1, maxLength: 8 }).map((bytes) => Buffer.from(bytes)),
    });
    const message = fc.record(
      {
        role: fc.constantFrom<'user' | 'assistant' | 'system'>('user', 'assistant', 'system'),
        content: fc.string({ maxLength: 20 }),
        images: fc.array(image, { maxLength: 2 }),
      },
      { requiredKeys: ['role', 'content'] },
    );
    fc.assert(
      fc.property(
        fc.array(message, { maxLength: 30 }),
        fc.option(fc.string({ minLength: 1 }), { nil: undefined }),
        (history, system) => {
          const { messages } = toAnthropicTurns(history, system);
          if (messages.length > 0) expect(messages[0].role).toBe('user');
          for (let index = 1; index < messages.length; index++)
            expect(messages[index].role).not.toBe(messages[index - 1].role);
          for (const turn of messages) {
            if (typeof turn.content === 'string') expect(turn.content.trim()).not.toBe('');
            else {
              expect(turn.content.length).toBeGreaterThan(0);
              for (const block of turn.content)
                if (block.type === 'text') expect(block.text.trim()).not.toBe('');
            }
          }
          // every user image arrives once, in order, as a base64 block; nothing else is invented
          const sent = messages.flatMap((turn) =>
            typeof turn.content === 'string'
              ? []
              : turn.content.flatMap((block) =>
                  block.type === 'image' && block.source.type === 'base64' ? [block.source.data] : [],
                ),
          );
          const kept = history.slice(history.findIndex((entry) => entry.role === 'user'));
          const expected = history.findIndex((entry) => entry.role === 'user') < 0 ? [] : kept;
          expect(sent).toEqual(
            expected
              .filter((entry) => entry.role === 'user')
              .flatMap((entry) => (entry.images ?? []).map((item) => item.data.toString('base64'))),
          );
        },
      ),
    );
  });
});
