// Proves the vendor fakes speak the real wire formats: the official SDKs (OpenAI, Anthropic) and a plain
// fetch + SSE parser (Dify has no official Node SDK) must consume them, including the failure modes.
import Anthropic from '@anthropic-ai/sdk';
import OpenAI, { toFile } from 'openai';
import { performance } from 'node:perf_hooks';
import { AnthropicFake, startAnthropicFake } from './anthropic-fake';
import { DifyFake, pythonJsonDumps, startDifyFake } from './dify-fake';
import { OpenAiFake, startOpenAiFake } from './openai-fake';
import { isObject, JsonObject, readSse, SseEvent, splitIndex } from './sse';

interface RawResponse {
  status: number;
  headers: Headers;
  chunks: Buffer[];
  text: string;
}

async function rawPost(url: string, body: unknown): Promise<RawResponse> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer test-key' },
    body: JSON.stringify(body),
  });
  const chunks: Buffer[] = [];
  if (res.body) for await (const chunk of res.body) chunks.push(Buffer.from(chunk));
  return { status: res.status, headers: res.headers, chunks, text: Buffer.concat(chunks).toString('utf8') };
}

/** True when some network read ends inside a UTF-8 sequence, i.e. the fake really split a character. */
function hasSplitCharacter(chunks: Buffer[]): boolean {
  const strict = new TextDecoder('utf-8', { fatal: true });
  return chunks.some((chunk) => {
    try {
      strict.decode(chunk);
      return false;
    } catch {
      return true;
    }
  });
}

async function collectSse(body: AsyncIterable<Uint8Array>): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  for await (const ev of readSse(body)) events.push(ev);
  return events;
}

function parseObject(data: string): JsonObject {
  const parsed: unknown = JSON.parse(data);
  if (!isObject(parsed)) throw new Error(`not a JSON object: ${data}`);
  return parsed;
}

const MULTIBYTE = 'héllo 你好 😀!';

describe('sse helpers', () => {
  it('readSse follows the event-stream rules across arbitrary read boundaries', async () => {
    const wire = ': comment\r\nevent: a\r\ndata: 1\r\ndata:2\r\n\r\nid: 7\ndata: é\n\nevent: ping\n\n';
    const bytes = Buffer.from(wire);
    // one byte per read: exercises partial lines, \r\n across reads and split characters
    const events = await collectSse(
      (async function* () {
        for (const byte of bytes) yield Uint8Array.of(byte);
      })(),
    );
    expect(events).toEqual([
      { event: 'a', data: '1\n2', id: undefined },
      { event: undefined, data: 'é', id: '7' },
      { event: 'ping', data: '', id: '7' },
    ]);
  });

  it('splitIndex cuts inside the first multi-byte character', () => {
    const buf = Buffer.from('ab你');
    expect(splitIndex(buf)).toBe(3);
    expect(splitIndex(Buffer.from('abcd'))).toBe(2);
  });

  it('pythonJsonDumps matches json.dumps defaults', () => {
    expect(pythonJsonDumps({ a: '你', b: [1, null, true], c: { d: 0.5 } })).toBe(
      '{"a": "\\u4f60", "b": [1, null, true], "c": {"d": 0.5}}',
    );
    expect(pythonJsonDumps({ a: '😀' })).toBe('{"a": "\\ud83d\\ude00"}');
    expect(pythonJsonDumps({ a: '你' }, false)).toBe('{"a": "你"}');
  });
});

describe('OpenAI fake', () => {
  let fake: OpenAiFake;
  let client: OpenAI;

  beforeAll(async () => {
    fake = await startOpenAiFake();
    client = new OpenAI({ apiKey: 'sk-test', baseURL: fake.url, maxRetries: 2 });
  });
  afterAll(() => fake.close());
  beforeEach(() => {
    fake.reset();
    fake.script = {};
  });

  const params = (text = 'hi there'): OpenAI.Chat.Completions.ChatCompletionCreateParamsStreaming => ({
    model: 'gpt-4o-mini',
    messages: [
      { role: 'system', content: 'be brief' },
      { role: 'user', content: text },
    ],
    stream: true,
    stream_options: { include_usage: true },
  });

  it('streams chunks the SDK consumes, with role chunk, finish chunk and usage chunk', async () => {
    fake.script = { usage: { promptTokens: 11, completionTokens: 7 } };
    const stream = await client.chat.completions.create(params());
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);

    expect(chunks[0].object).toBe('chat.completion.chunk');
    expect(chunks[0].choices[0]).toMatchObject({
      index: 0,
      delta: { role: 'assistant', content: '' },
      finish_reason: null,
    });
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe('Echo: hi there');
    const finish = chunks[chunks.length - 2];
    expect(finish.choices[0]).toMatchObject({ delta: {}, finish_reason: 'stop' });
    const usage = chunks[chunks.length - 1];
    expect(usage.choices).toEqual([]);
    expect(usage.usage).toMatchObject({ prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 });
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);

    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0].path).toBe('/v1/chat/completions');
    expect(fake.requests[0].headers.authorization).toBe('Bearer sk-test');
    expect(fake.requests[0].body.stream_options).toEqual({ include_usage: true });
  });

  it('writes the exact SSE framing, ending with data: [DONE]', async () => {
    const raw = await rawPost(`${fake.url}/chat/completions`, params('x'));
    expect(raw.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const frames = raw.text.split('\n\n');
    expect(frames.pop()).toBe('');
    for (const frame of frames) expect(frame).toMatch(/^data: [^\n]+$/);
    expect(frames[frames.length - 1]).toBe('data: [DONE]');
    const usageChunk = parseObject(frames[frames.length - 2].slice('data: '.length));
    expect(usageChunk.choices).toEqual([]);
    // every other chunk carries usage: null when include_usage is on
    expect(parseObject(frames[0].slice('data: '.length)).usage).toBeNull();
  });

  it('omits the usage chunk without include_usage, and the stream helper accumulates', async () => {
    const raw = await rawPost(`${fake.url}/chat/completions`, {
      ...params('abc'),
      stream_options: undefined,
    });
    expect(raw.text).not.toContain('"usage"');
    const final = await client.chat.completions
      .stream({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'abc' }] })
      .finalChatCompletion();
    expect(final.choices[0].message.content).toBe('Echo: abc');
    expect(final.choices[0].finish_reason).toBe('stop');
  });

  it('answers non-streaming requests with a chat.completion', async () => {
    const res = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'parts' }] }],
    });
    expect(res.object).toBe('chat.completion');
    expect(res.choices[0].message).toMatchObject({ role: 'assistant', content: 'Echo: parts' });
    expect(res.usage?.total_tokens).toBe(
      (res.usage?.prompt_tokens ?? 0) + (res.usage?.completion_tokens ?? 0),
    );
  });

  it('also serves the /chat/completions path (baseURL without /v1)', async () => {
    const bare = new OpenAI({ apiKey: 'k', baseURL: fake.url.replace(/\/v1$/, '') });
    const res = await bare.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'q' }],
    });
    expect(res.choices[0].message.content).toBe('Echo: q');
    expect(fake.requests[0].path).toBe('/chat/completions');
  });

  it('keeps multi-byte characters intact when they are split across network writes', async () => {
    fake.script = { reply: MULTIBYTE, chunkSize: 1, splitWrites: true, splitPauseMs: 3 };
    const raw = await rawPost(`${fake.url}/chat/completions`, params());
    expect(hasSplitCharacter(raw.chunks)).toBe(true);

    let text = '';
    for await (const chunk of await client.chat.completions.create(params())) {
      text += chunk.choices[0]?.delta.content ?? '';
    }
    expect(text).toBe(MULTIBYTE);
  });

  it('sends empty deltas when asked', async () => {
    fake.script = { reply: 'abcdefgh', chunkSize: 4, emptyDeltas: true };
    const contents: (string | null | undefined)[] = [];
    for await (const chunk of await client.chat.completions.create(params())) {
      if (chunk.choices[0]) contents.push(chunk.choices[0].delta.content);
    }
    expect(contents).toEqual(['', 'abcd', '', 'efgh', '', undefined]);
  });

  it('429 with retry-after: the SDK surfaces RateLimitError, and retries to success', async () => {
    fake.enqueue({ status: 429, retryAfter: 0.01 });
    const noRetry = new OpenAI({ apiKey: 'k', baseURL: fake.url, maxRetries: 0 });
    const err: unknown = await noRetry.chat.completions.create(params()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    if (!(err instanceof OpenAI.RateLimitError)) return;
    expect(err.status).toBe(429);
    expect(err.code).toBe('rate_limit_exceeded');
    expect(err.headers?.get('retry-after')).toBe('0.01');

    fake.enqueue({ status: 429, retryAfter: 0.01 });
    const res = await client.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'r' }],
    });
    expect(res.choices[0].message.content).toBe('Echo: r');
    expect(fake.requests).toHaveLength(3);
  });

  it('500 once then success', async () => {
    fake.enqueue({ status: 500, retryAfterMs: 5 });
    const res = await client.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'a' }],
    });
    expect(res.choices[0].message.content).toBe('Echo: a');
    expect(fake.requests.map((r) => r.script.status)).toEqual([500, undefined]);
  });

  it('mid-stream error event makes the SDK throw APIError', async () => {
    fake.script = { errorAfterChunks: 2, error: { message: 'boom' } };
    const received: string[] = [];
    const run = async (): Promise<void> => {
      for await (const chunk of await client.chat.completions.create(params())) {
        received.push(chunk.choices[0]?.delta.content ?? '');
      }
    };
    await expect(run()).rejects.toThrow(/boom/);
    expect(received.join('')).toBe('Echo: hi');
    expect(fake.aborted).toBe(0);
  });

  it('a cut connection makes the SDK iteration fail and is not counted as a client abort', async () => {
    fake.script = { cutAfterChunks: 1 };
    const run = async (): Promise<void> => {
      for await (const _chunk of await client.chat.completions.create(params())) {
        // drain
      }
    };
    await expect(run()).rejects.toThrow();
    expect(fake.aborted).toBe(0);
  });

  it('observes the client breaking out of a stream as an abort', async () => {
    fake.script = { delayMs: 30 };
    for await (const chunk of await client.chat.completions.create(params('long question'))) {
      if (chunk.choices[0]?.delta.content) break;
    }
    await fake.waitForAbort();
    expect(fake.aborted).toBe(1);
    expect(fake.requests[0].aborted).toBe(true);
  });

  it('hang: never answers until the client gives up', async () => {
    fake.enqueue({ hang: true });
    const ac = new AbortController();
    const pending = client.chat.completions.create(params(), { signal: ac.signal });
    await fake.waitForRequests(1);
    ac.abort();
    await expect(pending).rejects.toBeInstanceOf(OpenAI.APIUserAbortError);
    await fake.waitForAbort();
  });

  it('hangAfterChunks stalls mid-stream', async () => {
    fake.script = { hangAfterChunks: 1 };
    const ac = new AbortController();
    let text = '';
    const run = async (): Promise<void> => {
      for await (const chunk of await client.chat.completions.create(params(), { signal: ac.signal })) {
        text += chunk.choices[0]?.delta.content ?? '';
        if (text) setTimeout(() => ac.abort(), 20);
      }
    };
    await run().catch(() => undefined);
    expect(text).toBe('Echo');
    await fake.waitForAbort();
  });

  it('records first-chunk times for latency measurements', async () => {
    fake.script = { initialDelayMs: 40 };
    let clientFirst = 0;
    for await (const chunk of await client.chat.completions.create(params())) {
      if (!clientFirst && chunk.choices[0]?.delta.content) clientFirst = performance.now();
    }
    const [record] = fake.requests;
    expect(fake.firstChunkAt).toEqual([record.firstChunkAt]);
    expect(record.firstChunkAt ?? 0).toBeGreaterThanOrEqual(record.receivedAt + 35);
    expect(record.firstChunkAt ?? Infinity).toBeLessThanOrEqual(clientFirst);
  });

  it('transcribes multipart uploads and synthesises speech', async () => {
    const audio = Buffer.from('RIFF....WAVEfmt fake audio');
    const tr = await client.audio.transcriptions.create({
      file: await toFile(audio, 'clip.wav', { type: 'audio/wav' }),
      model: 'whisper-1',
      language: 'en',
    });
    expect(tr.text).toBe(`Transcript of clip.wav (${audio.length} bytes)`);
    const form = fake.requests[0].form;
    expect(form?.fields).toMatchObject({ model: 'whisper-1', language: 'en' });
    expect(form?.files.file.bytes.equals(audio)).toBe(true);

    fake.script = { transcript: 'bonjour' };
    const text = await client.audio.transcriptions.create({
      file: await toFile(audio, 'clip.wav'),
      model: 'whisper-1',
      response_format: 'text',
    });
    expect(String(text).trim()).toBe('bonjour');

    const mp3 = Buffer.from(
      await (await client.audio.speech.create({ model: 'tts-1', voice: 'alloy', input: 'hi' })).arrayBuffer(),
    );
    expect([...mp3.subarray(0, 2)]).toEqual([0xff, 0xfb]);
    const wavRes = await client.audio.speech.create({
      model: 'tts-1',
      voice: 'alloy',
      input: 'hi',
      response_format: 'wav',
    });
    expect(wavRes.headers.get('content-type')).toBe('audio/wav');
    const wav = Buffer.from(await wavRes.arrayBuffer());
    expect(wav.subarray(0, 4).toString('ascii')).toBe('RIFF');
    expect(wav.readUInt32LE(40)).toBe(wav.length - 44);
  });
});

describe('Anthropic fake', () => {
  let fake: AnthropicFake;
  let client: Anthropic;

  beforeAll(async () => {
    fake = await startAnthropicFake();
    client = new Anthropic({ apiKey: 'sk-ant-test', baseURL: fake.baseURL, maxRetries: 2 });
  });
  afterAll(() => fake.close());
  beforeEach(() => {
    fake.reset();
    fake.script = {};
  });

  const params = (text = 'hello claude') => ({
    model: 'claude-haiku-4-5',
    max_tokens: 100,
    system: 'be brief',
    messages: [{ role: 'user' as const, content: text }],
  });

  it('messages.stream() yields the text, final message and usage', async () => {
    fake.script = { usage: { promptTokens: 21, completionTokens: 5 }, chunkSize: 3 };
    const stream = client.messages.stream(params());
    const deltas: string[] = [];
    stream.on('text', (delta) => deltas.push(delta));
    const final = await stream.finalMessage();
    expect(deltas.join('')).toBe('Echo: hello claude');
    expect(deltas.length).toBeGreaterThan(1);
    expect(final.content).toEqual([expect.objectContaining({ type: 'text', text: 'Echo: hello claude' })]);
    expect(final.stop_reason).toBe('end_turn');
    expect(final.usage).toMatchObject({ input_tokens: 21, output_tokens: 5 });
    // SDK 1.x sends the key as a bearer token (older SDKs used x-api-key)
    const { authorization, 'x-api-key': apiKey } = fake.requests[0].headers;
    expect(apiKey ?? authorization).toMatch(/sk-ant-test$/);
    expect(fake.requests[0].headers['anthropic-version']).toBeDefined();
  });

  it('emits the events in the documented order, with named SSE frames', async () => {
    const stream = await client.messages.create({ ...params('x'), stream: true });
    const types: string[] = [];
    for await (const ev of stream) types.push(ev.type);
    expect(types).toEqual([
      'message_start',
      'content_block_start',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);

    const raw = await rawPost(`${fake.url}/messages`, { ...params('x'), stream: true });
    expect(raw.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const frames = raw.text.split('\n\n');
    expect(frames.pop()).toBe('');
    const names = frames.map((f) => {
      const m = /^event: (\w+)\ndata: (\{.*\})$/.exec(f);
      if (!m) throw new Error(`bad frame ${JSON.stringify(f)}`);
      expect(parseObject(m[2]).type).toBe(m[1]);
      return m[1];
    });
    expect(names.slice(0, 3)).toEqual(['message_start', 'content_block_start', 'ping']);
    const start = parseObject(frames[0].split('data: ')[1]);
    expect(
      isObject(start.message) && isObject(start.message.usage) && start.message.usage.input_tokens,
    ).toEqual(expect.any(Number));
  });

  it('answers non-streaming requests with a Message', async () => {
    const msg = await client.messages.create(params('plain'));
    expect(msg.type).toBe('message');
    expect(msg.content[0]).toMatchObject({ type: 'text', text: 'Echo: plain' });
  });

  it('error event mid-stream makes the SDK throw with the error type', async () => {
    fake.script = { errorAfterChunks: 1 };
    const err: unknown = await client.messages
      .stream(params())
      .finalText()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.APIError);
    if (!(err instanceof Anthropic.APIError)) return;
    expect(err.error).toEqual({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
  });

  it('429 with retry-after: RateLimitError without retries, success with them', async () => {
    fake.enqueue({ status: 429, retryAfter: 0.01 });
    const noRetry = new Anthropic({ apiKey: 'k', baseURL: fake.baseURL, maxRetries: 0 });
    const err: unknown = await noRetry.messages.create(params()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.RateLimitError);
    if (!(err instanceof Anthropic.RateLimitError)) return;
    expect(isObject(err.error) && err.error.error).toMatchObject({ type: 'rate_limit_error' });
    expect(err.headers?.get('retry-after')).toBe('0.01');
    expect(err.requestID).toMatch(/^req_fake/);

    fake.enqueue({ status: 529, retryAfterMs: 5 });
    expect(await client.messages.stream(params('again')).finalText()).toBe('Echo: again');
    expect(fake.requests).toHaveLength(3);
  });

  it('keeps multi-byte characters intact when split across writes', async () => {
    fake.script = { reply: MULTIBYTE, chunkSize: 2, splitWrites: true, splitPauseMs: 3 };
    const raw = await rawPost(`${fake.url}/messages`, { ...params(), stream: true });
    expect(hasSplitCharacter(raw.chunks)).toBe(true);
    expect(await client.messages.stream(params()).finalText()).toBe(MULTIBYTE);
  });

  it('observes aborts', async () => {
    fake.script = { delayMs: 30 };
    const stream = client.messages.stream(params('a long question'));
    stream.on('text', () => stream.abort());
    await stream.done().catch(() => undefined);
    await fake.waitForAbort();
    expect(fake.aborted).toBe(1);
  });
});

describe('Dify fake', () => {
  let fake: DifyFake;

  beforeAll(async () => {
    fake = await startDifyFake();
  });
  afterAll(() => fake.close());
  beforeEach(() => {
    fake.reset();
    fake.script = {};
  });

  const chat = async (body: JsonObject): Promise<{ status: number; events: SseEvent[]; raw: Response }> => {
    const res = await fetch(`${fake.url}/chat-messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer app-test' },
      body: JSON.stringify({ inputs: {}, response_mode: 'streaming', user: 'visitor-1', ...body }),
    });
    return { status: res.status, events: res.body ? await collectSse(res.body) : [], raw: res };
  };
  const dataOf = (events: SseEvent[]): JsonObject[] =>
    events.filter((e) => e.data).map((e) => parseObject(e.data));

  it('streams message events, message_file, pings and message_end with usage', async () => {
    fake.script = {
      pings: 2,
      files: [{ url: 'https://files.example/img.png' }],
      usage: { promptTokens: 9, completionTokens: 3 },
    };
    const { status, events, raw } = await chat({ query: 'hello dify', conversation_id: '' });
    expect(status).toBe(200);
    expect(raw.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(events.filter((e) => e.event === 'ping')).toHaveLength(2);
    const data = dataOf(events);
    const file = data.find((d) => d.event === 'message_file');
    expect(file).toMatchObject({
      type: 'image',
      belongs_to: 'assistant',
      url: 'https://files.example/img.png',
    });
    const messages = data.filter((d) => d.event === 'message');
    expect(messages.map((m) => m.answer).join('')).toBe('Echo: hello dify');
    const end = data[data.length - 1];
    expect(end.event).toBe('message_end');
    expect(end.metadata).toMatchObject({
      usage: { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 },
    });
    const conversationIds = new Set(data.map((d) => d.conversation_id));
    expect(conversationIds.size).toBe(1);
    expect([...conversationIds][0]).toMatch(/^[0-9a-f-]{36}$/);
    for (const m of messages) expect(m).toMatchObject({ task_id: end.task_id, message_id: end.message_id });
    expect(fake.chatCalls).toEqual([
      expect.objectContaining({ query: 'hello dify', user: 'visitor-1', conversationId: '' }),
    ]);
  });

  it('continues a given conversation and records it', async () => {
    const { events } = await chat({ query: 'next', conversation_id: 'conv-42', user: 'visitor-2' });
    expect(dataOf(events).every((d) => d.conversation_id === 'conv-42')).toBe(true);
    expect(fake.chatCalls[0]).toMatchObject({ conversationId: 'conv-42', user: 'visitor-2' });
  });

  it('serialises like Python json.dumps: escaped non-ASCII by default, raw bytes when disabled', async () => {
    fake.script = { reply: MULTIBYTE };
    const escaped = await rawPost(`${fake.url}/chat-messages`, {
      query: 'q',
      response_mode: 'streaming',
      user: 'u',
    });
    expect(escaped.text).toMatch(/^data: \{"event": "message", "conversation_id": "/);
    expect(escaped.chunks.every((c) => c.every((byte) => byte < 0x80))).toBe(true);

    fake.script = {
      reply: MULTIBYTE,
      chunkSize: 1,
      escapeNonAscii: false,
      splitWrites: true,
      splitPauseMs: 3,
    };
    const raw = await rawPost(`${fake.url}/chat-messages`, {
      query: 'q',
      response_mode: 'streaming',
      user: 'u',
    });
    expect(hasSplitCharacter(raw.chunks)).toBe(true);
    const { events } = await chat({ query: 'q' });
    const answer = dataOf(events)
      .filter((d) => d.event === 'message')
      .map((d) => d.answer)
      .join('');
    expect(answer).toBe(MULTIBYTE);
  });

  it('error event mid-stream', async () => {
    fake.script = {
      errorAfterChunks: 1,
      error: { status: 400, code: 'completion_request_error', message: 'bad' },
    };
    const data = dataOf((await chat({ query: 'x' })).events);
    expect(data.map((d) => d.event)).toEqual(['message', 'error']);
    expect(data[1]).toMatchObject({ status: 400, code: 'completion_request_error', message: 'bad' });
  });

  it('HTTP errors use Dify’s {code, message, status} body and retry-after', async () => {
    fake.enqueue({ status: 429, retryAfter: 1 });
    const res = await fetch(`${fake.url}/chat-messages`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(await res.json()).toEqual({
      status: 429,
      code: 'too_many_requests',
      message: 'Too many requests. Please try again later.',
    });
  });

  it('blocking mode, stop and audio-to-text', async () => {
    const blocking = await rawPost(`${fake.url}/chat-messages`, {
      query: 'b',
      response_mode: 'blocking',
      user: 'u',
    });
    expect(parseObject(blocking.text)).toMatchObject({ event: 'message', mode: 'chat', answer: 'Echo: b' });

    const stop = await rawPost(`${fake.url}/chat-messages/task-1/stop`, { user: 'u' });
    expect(parseObject(stop.text)).toEqual({ result: 'success' });
    expect(fake.stoppedTasks).toEqual(['task-1']);

    const form = new FormData();
    form.append('file', new Blob([Buffer.from('audio-bytes')], { type: 'audio/webm' }), 'voice.webm');
    form.append('user', 'visitor-3');
    const res = await fetch(`${fake.url}/audio-to-text`, { method: 'POST', body: form });
    expect(await res.json()).toEqual({ text: 'Transcript of voice.webm (11 bytes)' });
    expect(fake.requests[fake.requests.length - 1].form?.fields.user).toBe('visitor-3');
  });

  it('deletes a conversation for its own user only: 204 (or 200 when scripted), 404 once gone or for another', async () => {
    const remove = (conversationId: string, user: string) =>
      fetch(`${fake.url}/conversations/${conversationId}`, {
        method: 'DELETE',
        headers: { 'content-type': 'application/json', authorization: 'Bearer app-test' },
        body: JSON.stringify({ user }),
      });
    const conversationOf = async (user: string) =>
      String(dataOf((await chat({ query: 'q', conversation_id: '', user })).events)[0].conversation_id);
    const mine = await conversationOf('visitor-1');
    const older = await conversationOf('visitor-1');
    expect(fake.conversations.get(mine)).toBe('visitor-1');

    expect((await remove(mine, 'visitor-2')).status).toBe(404);
    const gone = await remove(mine, 'visitor-1');
    expect([gone.status, await gone.text()]).toEqual([204, '']);
    expect((await remove(mine, 'visitor-1')).status).toBe(404);
    fake.script = { deleteStatus: 200 };
    expect(await (await remove(older, 'visitor-1')).json()).toEqual({ result: 'success' });
    const theirs = await conversationOf('visitor-3');
    fake.enqueue({ status: 503 });
    expect((await remove(theirs, 'visitor-3')).status).toBe(503);

    expect(fake.conversationDeletes.map(({ user, deleted }) => [user, deleted])).toEqual([
      ['visitor-2', false],
      ['visitor-1', true],
      ['visitor-1', false],
      ['visitor-1', true],
      ['visitor-3', false],
    ]);
    expect(fake.conversationDeletes[1]).toMatchObject({
      conversationId: mine,
      authorization: 'Bearer app-test',
    });
    expect(fake.conversations.has(mine)).toBe(false);
  });

  it('observes a client abort and hangs on request', async () => {
    fake.script = { delayMs: 30 };
    const ac = new AbortController();
    const res = await fetch(`${fake.url}/chat-messages`, {
      method: 'POST',
      body: JSON.stringify({ query: 'long', response_mode: 'streaming', user: 'u' }),
      signal: ac.signal,
    });
    const reader = res.body?.getReader();
    await reader?.read();
    ac.abort();
    await fake.waitForAbort();

    fake.enqueue({ hang: true });
    const ac2 = new AbortController();
    const pending = fetch(`${fake.url}/chat-messages`, { method: 'POST', body: '{}', signal: ac2.signal });
    await fake.waitForRequests(2);
    ac2.abort();
    await expect(pending).rejects.toThrow();
    await fake.waitForAbort(2);
  });
});
