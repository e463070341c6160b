import fc from 'fast-check';
import type { MessageRecord } from '../sessions/session.types';
import { ContextWindow } from '../llm/context-window';
import { toContextMessages } from './reply-context';

function record(overrides: Partial<MessageRecord>): MessageRecord {
  return {
    id: `m${Math.random()}`,
    seq: 1,
    type: 'user_message',
    sender: 'user',
    content: 'hello',
    timestamp: new Date(0),
    ...overrides,
  };
}

describe(toContextMessages.name, () => {
  it("should carry a reply's reported completion_tokens as its count, and leave user turns to the tokenizer", () => {
    const [user, reply] = toContextMessages([
      record({ content: 'question' }),
      record({
        type: 'ai_response',
        sender: 'ai',
        content: 'an answer of some length',
        metadata: { usage: { prompt_tokens: 9, completion_tokens: 5, total_tokens: 14 } },
      }),
    ]);
    expect(user).toMatchObject({ role: 'user', tokens: undefined });
    expect(reply).toMatchObject({ role: 'assistant', tokens: 5 });
  });

  it('should ignore a reported count that cannot be a count of the text (more tokens than bytes, not a positive integer)', () => {
    fc.assert(
      fc.property(fc.anything(), fc.string({ minLength: 1, maxLength: 50 }), (completion, content) => {
        const [reply] = toContextMessages([
          record({
            type: 'ai_response',
            sender: 'ai',
            content,
            metadata: { usage: { completion_tokens: completion } },
          }),
        ]);
        const valid =
          typeof completion === 'number' &&
          Number.isInteger(completion) &&
          completion > 0 &&
          completion <= Buffer.byteLength(content);
        expect(reply.tokens).toBe(valid ? completion : undefined);
      }),
    );
  });

  it('should let the context window trust the reported count instead of tokenizing the reply', () => {
    // 2,000 words are ~2,000 tokens to the tokenizer; the vendor said 10: with a 600-token budget the
    // reply and the question before it both fit only if the reported count is used
    const history = toContextMessages([
      record({ content: 'first question' }),
      record({
        type: 'ai_response',
        sender: 'ai',
        content: 'word '.repeat(2000),
        metadata: { usage: { completion_tokens: 10 } },
      }),
      record({ content: 'next question' }),
    ]);
    const kept = new ContextWindow().fit(history, { contextTokens: 600, maxTokens: 100 });
    expect(kept.map((message) => message.role)).toEqual(['user', 'assistant', 'user']);
  });
});
