import fc from 'fast-check';
import { toAnthropicTurns } from './anthropic.provider';

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

  it('should give alternating turns that start with the user when given any history', () => {
    const message = fc.record({
      role: fc.constantFrom<'user' | 'assistant' | 'system'>('user', 'assistant', 'system'),
      content: fc.string({ maxLength: 20 }),
    });
    fc.assert(
      fc.property(
        fc.array(message, { maxLength: 30 }),
        fc.option(fc.string({ minLength: 1 }), { nil: undefined }),
        (history, system) => {
          const { messages } = toAnthropicTurns(history, system);
          if (messages.length > 0) expect(messages[0].role).toBe('user');
          for (let index = 1; index < messages.length; index++)
            expect(messages[index].role).not.toBe(messages[index - 1].role);
          for (const turn of messages) expect(turn.content.trim()).not.toBe('');
        },
      ),
    );
  });
});
