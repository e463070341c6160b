import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startAnthropicFake } from '../../../test/fakes/anthropic-fake';
import { startDifyFake } from '../../../test/fakes/dify-fake';
import { startOpenAiFake } from '../../../test/fakes/openai-fake';
import type { FakeScript, FakeServer } from '../../../test/fakes/sse';
import type { LlmModelSettings } from '../../config/llm.settings';
import { AnthropicProvider } from './anthropic.provider';
import { DifyProvider } from './dify.provider';
import { type LlmChunk, type LlmProvider, LlmProviderError } from './llm-provider';
import { OpenAiProvider } from './openai.provider';

// A vendor stream is whole only when it carries the vendor's own end (OpenAI: a choice's
// finish_reason; Anthropic: message_stop; Dify: message_end), however cleanly its HTTP body ends: the
// three providers fail alike, retryably, when it is missing (docs/protocol.md, "Vendor streams end
// with the vendor's end"). Each against its vendor's fake, and against a server answering 200 with
// no event, or with a JSON error where the stream should be.
interface Vendor {
  name: string;
  start: () => Promise<FakeServer<FakeScript> & { baseURL?: string }>;
  provider: (endpoint: string) => LlmProvider;
  // the endpoint a server at `origin` is configured with
  endpointOf: (origin: string) => string;
}

const settings = (type: LlmModelSettings['type'], endpoint: string): LlmModelSettings => ({
  id: type,
  name: type,
  type,
  endpoint,
  api_key: 'key',
  model: 'm',
  timeout_ms: 5_000,
});

const VENDORS: Vendor[] = [
  {
    name: 'openai',
    start: startOpenAiFake,
    provider: (endpoint) => new OpenAiProvider(settings('openai', endpoint)),
    endpointOf: (origin) => `${origin}/v1`,
  },
  {
    name: 'anthropic',
    start: startAnthropicFake,
    provider: (endpoint) => new AnthropicProvider(settings('anthropic', endpoint)),
    endpointOf: (origin) => origin,
  },
  {
    name: 'dify',
    start: startDifyFake,
    provider: (endpoint) => new DifyProvider(settings('dify', endpoint)),
    endpointOf: (origin) => `${origin}/v1`,
  },
];

const request = (signal = new AbortController().signal) => ({
  messages: [{ role: 'user' as const, content: 'hello' }],
  signal,
  userId: 'u-1',
});

// the chunks the stream yielded, and how it ended
async function run(stream: AsyncIterable<LlmChunk>): Promise<{ chunks: LlmChunk[]; error?: unknown }> {
  const chunks: LlmChunk[] = [];
  try {
    for await (const chunk of stream) chunks.push(chunk);
  } catch (error) {
    return { chunks, error };
  }
  return { chunks };
}

const textOf = (chunks: LlmChunk[]) =>
  chunks.map((chunk) => (chunk.type === 'delta' ? chunk.text : '')).join('');

// a server answering every request 200 with `body`
async function answering(
  body: string,
  contentType: string,
): Promise<{ origin: string; close: () => Promise<void> }> {
  const server = createServer((incoming, outgoing) => {
    incoming.resume();
    incoming.on('end', () => outgoing.writeHead(200, { 'content-type': contentType }).end(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe.each(VENDORS)('$name stream ends', ({ start, provider, endpointOf }) => {
  let fake: FakeServer<FakeScript> & { baseURL?: string };
  let endpoint: string;

  beforeAll(async () => {
    fake = await start();
    endpoint = fake.baseURL ?? fake.url;
  });
  afterAll(() => fake.close());
  beforeEach(() => fake.reset());

  it("should yield the whole reply and end when the stream ends with the vendor's end", async () => {
    fake.enqueue({ reply: 'all of it' });
    const { chunks, error } = await run(provider(endpoint).stream(request()));
    expect(error).toBeUndefined();
    expect(textOf(chunks)).toBe('all of it');
  });

  it("should fail retryably after the text so far when the stream ends cleanly without the vendor's end", async () => {
    fake.enqueue({ reply: 'abcdefghijkl', chunkSize: 3, endAfterChunks: 2 });
    const { chunks, error } = await run(provider(endpoint).stream(request()));
    expect(textOf(chunks)).toBe('abcdef');
    expect(error).toBeInstanceOf(LlmProviderError);
    expect((error as LlmProviderError).retryable).toBe(true);
  });

  it('should fail retryably when a 200 carries no event at all', async () => {
    const server = await answering('', 'text/event-stream');
    try {
      const { chunks, error } = await run(provider(endpointOf(server.origin)).stream(request()));
      expect(chunks).toEqual([]);
      expect(error).toBeInstanceOf(LlmProviderError);
      expect((error as LlmProviderError).retryable).toBe(true);
    } finally {
      await server.close();
    }
  });

  it('should fail retryably, quoting nothing of it, when a 200 carries a JSON error instead of a stream', async () => {
    const body = JSON.stringify({
      error: {
        message: 'You exceeded your current quota',
        type: 'insufficient_quota',
        code: 'insufficient_quota',
      },
    });
    const server = await answering(body, 'application/json');
    try {
      const { chunks, error } = await run(provider(endpointOf(server.origin)).stream(request()));
      expect(chunks).toEqual([]);
      expect(error).toBeInstanceOf(LlmProviderError);
      expect((error as LlmProviderError).retryable).toBe(true);
      expect(String(error)).not.toContain('quota');
    } finally {
      await server.close();
    }
  });

  it('should not fail as cut off when the request is aborted mid-stream (a stop, a timeout)', async () => {
    fake.enqueue({ reply: 'abcdefghijkl', chunkSize: 3, hangAfterChunks: 1 });
    const controller = new AbortController();
    const chunks: LlmChunk[] = [];
    let error: unknown;
    try {
      for await (const chunk of provider(endpoint).stream(request(controller.signal))) {
        chunks.push(chunk);
        if (chunk.type === 'delta') controller.abort('stopped');
      }
    } catch (caught) {
      error = caught;
    }
    expect(textOf(chunks)).toBe('abc');
    // a stop is no vendor failure: the SDKs end quietly, Dify's reader throws the abort
    expect(error).not.toBeInstanceOf(LlmProviderError);
  });
});
