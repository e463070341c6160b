import fc from 'fast-check';
import { pythonJsonDumps } from '../../../test/fakes/dify-fake';
import { LlmProviderError } from './llm-provider';
import { parseEvent, withEarlierTurns } from './dify.provider';

describe('parseEvent (Dify SSE data)', () => {
  it('should read Python json.dumps payloads with \\uXXXX escapes', () => {
    const data = pythonJsonDumps({ event: 'message', answer: 'Grüße 👋', conversation_id: 'c1' });
    expect(data).toContain('\\u00fc');
    expect(parseEvent(data)).toEqual({ event: 'message', answer: 'Grüße 👋', conversation_id: 'c1' });
  });

  it('should return an object, undefined, or throw a retryable LlmProviderError when given any data', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json()), (data) => {
        try {
          const event = parseEvent(data);
          if (event !== undefined) expect(typeof event).toBe('object');
        } catch (error) {
          expect(error).toBeInstanceOf(LlmProviderError);
          expect((error as LlmProviderError).retryable).toBe(true);
        }
      }),
    );
  });
});

describe('withEarlierTurns', () => {
  const turn = fc.record({
    role: fc.constantFrom<'user' | 'assistant' | 'system'>('user', 'assistant', 'system'),
    content: fc.string({ maxLength: 40 }),
  });

  it('should send the newest message alone when nothing came before, else lead it with every earlier non-empty turn in order', () => {
    fc.assert(
      fc.property(fc.array(turn, { maxLength: 8 }), fc.string({ maxLength: 40 }), (earlier, newest) => {
        const query = withEarlierTurns(earlier, newest);
        const kept = earlier.filter((message) => message.role !== 'system' && message.content.trim() !== '');
        if (kept.length === 0) return expect(query).toBe(newest);
        expect(query.endsWith(`\nThe user now says:\n${newest}`)).toBe(true);
        let from = 0;
        for (const message of kept) {
          const line = `${message.role === 'user' ? 'User' : 'Assistant'}: ${message.content}`;
          const at = query.indexOf(line, from);
          expect(at).toBeGreaterThanOrEqual(from);
          from = at + line.length;
        }
      }),
    );
  });
});
