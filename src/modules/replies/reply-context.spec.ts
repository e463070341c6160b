import fc from 'fast-check';
import type { MessageRecord } from '../sessions/session.types';
import { ContextWindow } from '../llm/context-window';
import { firstUnseen, toContextMessages } from './reply-context';

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

describe(firstUnseen.name, () => {
  const history = [
    record({ id: 'u1', content: 'first' }),
    record({ id: 'a1', type: 'ai_response', sender: 'ai', content: 'dify answers', model_id: 'dify' }),
    record({ id: 'u2', content: 'switch' }),
    record({ id: 'a2', type: 'ai_response', sender: 'ai', content: 'openai answers', model_id: 'gpt' }),
    record({ id: 'h1', type: 'user_message', sender: 'admin', content: 'an admin answers' }),
    record({ id: 'u3', content: 'back to dify' }),
  ];
  const system = { role: 'system' as const, content: 'be brief' };

  it("should point just past the model's own newest answer when it is in the context", () => {
    const messages = [system, ...toContextMessages(history)];
    const index = firstUnseen(messages, history, 'dify');
    expect(messages.slice(index).map((message) => message.content)).toEqual([
      'switch',
      'openai answers',
      'an admin answers',
      'back to dify',
    ]);
  });

  it('should count every kept turn as unseen when the model never answered or its answer was trimmed away', () => {
    const messages = [system, ...toContextMessages(history)];
    expect(firstUnseen(messages, history, 'claude')).toBe(0);
    const trimmed = [system, ...toContextMessages(history).slice(2)];
    expect(firstUnseen(trimmed, history, 'dify')).toBe(0);
  });

  it('should never point before a message the model answered nor past the end', () => {
    const ids = ['dify', 'gpt'];
    fc.assert(
      fc.property(
        fc.array(fc.record({ answer: fc.boolean(), model: fc.constantFrom(...ids) }), { maxLength: 12 }),
        fc.constantFrom(...ids),
        fc.nat({ max: 12 }),
        (turns, modelId, dropped) => {
          const records = turns.map((turn, position) =>
            turn.answer
              ? record({ id: `r${position}`, type: 'ai_response', sender: 'ai', model_id: turn.model })
              : record({ id: `r${position}` }),
          );
          // the context window keeps the newest turns
          const kept = toContextMessages(records).slice(dropped);
          const index = firstUnseen(kept, records, modelId);
          expect(index).toBeGreaterThanOrEqual(0);
          expect(index).toBeLessThanOrEqual(kept.length);
          const newestAnswer = records.findLast(
            (candidate) => candidate.type === 'ai_response' && candidate.model_id === modelId,
          );
          // nothing after the index is the model's newest answer or older than it
          const order = new Map(records.map((candidate, position) => [candidate.id, position]));
          const answerAt = newestAnswer ? (order.get(newestAnswer.id) ?? -1) : -1;
          for (const message of kept.slice(index))
            expect(order.get(message.key ?? '')!).toBeGreaterThan(answerAt);
        },
      ),
    );
  });
});
