import fc from 'fast-check';
import { pythonJsonDumps } from '../../../test/fakes/dify-fake';
import { LlmProviderError } from './llm-provider';
import { parseEvent } from './dify.provider';

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
