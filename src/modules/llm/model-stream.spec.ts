import type { LlmChunk, LlmProvider, LlmRequest } from '../../infra/llm/llm-provider';
import { LlmProviderError } from '../../infra/llm/llm-provider';
import type { ChatMetrics } from '../metrics/chat-metrics';
import { CircuitBreaker } from './circuit-breaker';
import { LlmEvents } from './llm-events';
import type { ModelEntry } from './llm.registry';
import { ModelStream } from './model-stream';

// a provider answering every call with `chunks`, then ending as the vendor ends a whole reply
function answering(chunks: LlmChunk[]): LlmProvider & { calls: number } {
  const provider = {
    modelId: 'm',
    vendor: 'test',
    calls: 0,
    async *stream(request: LlmRequest): AsyncIterable<LlmChunk> {
      provider.calls++;
      for (const chunk of chunks) {
        if (request.signal.aborted) return;
        yield chunk;
      }
    },
  };
  return provider;
}

const metric = { inc: () => undefined, observe: () => undefined, set: () => undefined };
const metrics = new Proxy({}, { get: () => metric }) as unknown as ChatMetrics;

function entryOf(provider: LlmProvider): ModelEntry {
  return {
    settings: { id: 'm', name: 'm', type: 'demo' },
    provider,
    policy: { attempts: 3, baseMs: 1, maxDelayMs: 10, idleTimeoutMs: 1000 },
    breaker: new CircuitBreaker(5, 1000),
  };
}

async function run(provider: LlmProvider, controller = new AbortController()) {
  const deltas: Array<[string, number]> = [];
  const replaced: string[] = [];
  const result = await new ModelStream(metrics, new LlmEvents()).run(
    entryOf(provider),
    { messages: [{ role: 'user', content: 'hi' }], signal: controller.signal, userId: 'u' },
    { userId: 'u', sessionId: 's' },
    {
      onDelta: (text, offset) => deltas.push([text, offset]),
      onReplace: (text) => replaced.push(text),
    },
  );
  return { result, deltas, replaced };
}

describe(ModelStream.name, () => {
  // Dify's output moderation replaces the whole reply (message_replace): the replacement is the
  // text stored, and pieces after it go after it (docs/protocol.md, "Vendor streams end with the
  // vendor's end")
  it('should make the replacement the reply, and put later pieces after it, when the provider replaces the text', async () => {
    const { result, deltas, replaced } = await run(
      answering([
        { type: 'delta', text: 'FLAGGED ' },
        { type: 'delta', text: 'CONTENT' },
        { type: 'replace', text: 'Sorry.' },
        { type: 'delta', text: ' Ask again.' },
      ]),
    );
    expect(result.failure).toBeUndefined();
    expect(result.text).toBe('Sorry. Ask again.');
    expect(replaced).toEqual(['Sorry.']);
    expect(deltas).toEqual([
      ['FLAGGED ', 0],
      ['CONTENT', 8],
      [' Ask again.', 6],
    ]);
  });

  // a vendor reply that ends properly with no text (a content filter, a refusal with nothing said)
  // was stored as an empty successful answer
  it('should fail, without retrying, when the reply ends properly with no text at all', async () => {
    const provider = answering([
      { type: 'usage', usage: { prompt_tokens: 3, completion_tokens: 0, total_tokens: 3 } },
    ]);
    const { result } = await run(provider);
    expect(result.failure).toBeInstanceOf(LlmProviderError);
    expect(result.failure).toMatchObject({ retryable: false, message: 'test: empty reply' });
    expect(provider.calls).toBe(1);
  });

  it('should fail when a replacement leaves the reply with no text', async () => {
    const { result } = await run(
      answering([
        { type: 'delta', text: 'FLAGGED' },
        { type: 'replace', text: '' },
      ]),
    );
    expect(result.failure).toMatchObject({ message: 'test: empty reply' });
  });

  it('should not fail when the reply brought a file and no text', async () => {
    const { result } = await run(answering([{ type: 'file', url: 'https://files.example/a.png' }]));
    expect(result.failure).toBeUndefined();
  });

  it('should not fail when nothing came because the user stopped the reply', async () => {
    const controller = new AbortController();
    const waiting: LlmProvider = {
      modelId: 'm',
      vendor: 'test',
      // the SDKs end quietly when their request is aborted
      async *stream(request: LlmRequest): AsyncIterable<LlmChunk> {
        await new Promise((resolve) => request.signal.addEventListener('abort', resolve));
        yield* [];
      },
    };
    setTimeout(() => controller.abort('stopped'), 20);
    const { result } = await run(waiting, controller);
    expect(result.failure).toBeUndefined();
    expect(result.text).toBe('');
  });

  // an SDK given an aborted signal may send the request all the same (the vendor bills it): a reply
  // stopped or cut off by a takeover before it was asked never reaches the provider
  it('should not ask the provider for a reply stopped before it was asked', async () => {
    const provider = answering([{ type: 'delta', text: 'never' }]);
    const controller = new AbortController();
    controller.abort('takeover');
    const { result, deltas } = await run(provider, controller);
    expect({ calls: provider.calls, deltas, text: result.text, failure: result.failure }).toEqual({
      calls: 0,
      deltas: [],
      text: '',
      failure: undefined,
    });
  });
});
