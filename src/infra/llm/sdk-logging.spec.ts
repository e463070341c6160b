import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LlmModelSettings } from '../../config/llm.settings';
import { AnthropicProvider } from './anthropic.provider';
import { type LlmProvider, LlmProviderError } from './llm-provider';
import { OpenAiProvider } from './openai.provider';

// Anything the vendor SDKs write to the console. Caught before any client exists: the SDKs bind
// the console's methods the first time they log.
const printed = jest.fn();
beforeAll(() => {
  for (const level of ['log', 'error', 'warn', 'info', 'debug'] as const)
    jest.spyOn(console, level).mockImplementation(printed);
});
afterAll(() => jest.restoreAllMocks());

// a vendor answering 200 with `events`: one of them is not JSON and quotes what the model said
async function answering(events: string): Promise<{ origin: string; close: () => Promise<void> }> {
  const server = createServer((incoming, outgoing) => {
    incoming.resume();
    incoming.on('end', () => outgoing.writeHead(200, { 'content-type': 'text/event-stream' }).end(events));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const SECRET = "the user's secret diagnosis is X";

const settings = (type: LlmModelSettings['type'], endpoint: string): LlmModelSettings => ({
  id: type,
  name: type,
  type,
  endpoint,
  api_key: 'key',
  model: 'm',
});

// The SDKs log through the console by default: a malformed event made them print its raw chunk
// (model output: user data) as plain lines outside the JSON logs (black-box audit). They are built
// silent; the failure reaches our logs through LlmEvents, as type and message.
describe.each([
  {
    name: 'openai',
    events: `data: {"choices":[{"index":0,"delta":{"content":"${SECRET}"}}]},oops\n\n`,
    provider: (origin: string): LlmProvider => new OpenAiProvider(settings('openai', `${origin}/v1`)),
  },
  {
    name: 'anthropic',
    events: `event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"text":"${SECRET}"},oops\n\n`,
    provider: (origin: string): LlmProvider => new AnthropicProvider(settings('anthropic', origin)),
  },
])('$name SDK logging', ({ name, events, provider }) => {
  it('should print nothing, and fail retryably without quoting the event, when an event is malformed', async () => {
    const server = await answering(events);
    let failure: unknown;
    try {
      for await (const chunk of provider(server.origin).stream({
        messages: [{ role: 'user', content: 'hi' }],
        signal: new AbortController().signal,
        userId: 'u-1',
      }))
        void chunk;
    } catch (error) {
      failure = error;
    } finally {
      await server.close();
    }
    expect(printed).not.toHaveBeenCalled();
    // V8's SyntaxError quotes the text it could not parse: the failure is ours, and names the vendor
    expect(failure).toBeInstanceOf(LlmProviderError);
    expect(failure).toMatchObject({ retryable: true, message: `${name}: unreadable answer` });
    expect(String(failure)).not.toContain('secret');
  });
});
