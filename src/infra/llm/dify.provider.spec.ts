import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { type DifyFake, pythonJsonDumps, startDifyFake } from '../../../test/fakes/dify-fake';
import type { LlmModelSettings } from '../../config/llm.settings';
import { isAbort, type LlmChunk, type LlmMessage, LlmProviderError, type LlmRequest } from './llm-provider';
import { parseEvent, withEarlierTurns } from './dify-events';
import { DifyProvider } from './dify.provider';

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

describe(`${DifyProvider.name} images`, () => {
  const KEY = 'app-secret-key-123';
  let fake: DifyFake;
  const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3, 0xff]);
  const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 9, 8, 7]);

  beforeAll(async () => {
    fake = await startDifyFake();
  });
  afterAll(() => fake.close());
  beforeEach(() => fake.reset());

  const provider = (overrides: Partial<LlmModelSettings> = {}) =>
    new DifyProvider({
      id: 'dify',
      name: 'Dify',
      type: 'dify',
      endpoint: fake.url,
      api_key: KEY,
      vision: true,
      ...overrides,
    });

  const request = (messages: LlmMessage[], overrides: Partial<LlmRequest> = {}): LlmRequest => ({
    messages,
    signal: new AbortController().signal,
    userId: 'user-7',
    providerState: { conversation_id: 'conv-1' },
    ...overrides,
  });

  async function drain(stream: AsyncIterable<LlmChunk>): Promise<LlmChunk[]> {
    const chunks: LlmChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    return chunks;
  }

  async function failure(stream: AsyncIterable<LlmChunk>): Promise<unknown> {
    try {
      await drain(stream);
    } catch (error) {
      return error;
    }
    throw new Error('expected the stream to fail');
  }

  it('should upload each image of the newest turn as multipart and name them in files when the model has vision', async () => {
    const chunks = await drain(
      provider().stream(
        request([
          { role: 'user', content: 'hi' },
          { role: 'assistant', content: 'hello' },
          {
            role: 'user',
            content: 'what is this?',
            images: [
              { mimeType: 'image/png', data: png },
              { mimeType: 'image/jpeg', data: jpeg },
            ],
          },
        ]),
      ),
    );
    expect(chunks).toContainEqual({ type: 'delta', text: expect.any(String) });
    const uploads = fake.uploads;
    expect(uploads).toHaveLength(2);
    expect(uploads.map((upload) => upload.user)).toEqual(['user-7', 'user-7']);
    expect(uploads.map((upload) => upload.authorization)).toEqual([`Bearer ${KEY}`, `Bearer ${KEY}`]);
    expect(uploads.map((upload) => upload.file?.type)).toEqual(['image/png', 'image/jpeg']);
    // Dify tells a file's type by its extension
    expect(uploads.map((upload) => upload.file?.name)).toEqual(['image-1.png', 'image-2.jpg']);
    expect(uploads[0].file?.bytes.equals(png)).toBe(true);
    expect(uploads[1].file?.bytes.equals(jpeg)).toBe(true);
    const [chat] = fake.chatCalls;
    expect(chat.query).toBe('what is this?');
    expect(chat.conversationId).toBe('conv-1');
    expect(chat.files).toEqual(
      uploads.map((upload) => ({ type: 'image', transfer_method: 'local_file', upload_file_id: upload.id })),
    );
    // the uploads finish before the message that names them is sent
    expect(fake.requests.map((recorded) => recorded.path).at(-1)).toBe('/v1/chat-messages');
  });

  it('should upload nothing and send no files when the newest turn has no images, even if an earlier one had', async () => {
    await drain(
      provider().stream(
        request([
          { role: 'user', content: 'look', images: [{ mimeType: 'image/png', data: png }] },
          { role: 'assistant', content: 'a cat' },
          { role: 'user', content: 'and its colour?' },
        ]),
      ),
    );
    expect(fake.uploads).toHaveLength(0);
    expect(fake.chatCalls[0].files).toBeUndefined();
    expect(fake.requests[0].rawBody.toString('utf8')).not.toContain('"files"');
  });

  it('should send the images of earlier turns too, the newest three, when the conversation starts mid-session', async () => {
    const images = [1, 2, 3, 4].map((seed) => Buffer.from([0x89, 0x50, 0x4e, 0x47, seed]));
    await drain(
      provider().stream(
        request(
          [
            { role: 'user', content: 'one', images: [{ mimeType: 'image/png', data: images[0] }] },
            { role: 'assistant', content: 'first' },
            { role: 'user', content: 'two', images: [{ mimeType: 'image/png', data: images[1] }] },
            { role: 'user', content: 'three', images: [{ mimeType: 'image/png', data: images[2] }] },
            { role: 'assistant', content: 'second' },
            { role: 'user', content: 'four', images: [{ mimeType: 'image/png', data: images[3] }] },
          ],
          { providerState: undefined },
        ),
      ),
    );
    expect(fake.uploads.map((upload) => upload.file?.bytes)).toEqual(images.slice(1));
    expect(fake.chatCalls[0].query).toContain('Earlier in this conversation:');
    expect(fake.chatCalls[0].files).toHaveLength(3);
  });

  it('should send the turns since its own newest answer as a transcript, with their images, in a conversation it holds', async () => {
    const earlier = Buffer.from([0x89, 0x50, 0x4e, 0x47, 42]);
    await drain(
      provider().stream(
        request(
          [
            { role: 'system', content: 'be brief' },
            { role: 'user', content: 'one' },
            { role: 'assistant', content: 'dify said' },
            { role: 'user', content: 'two', images: [{ mimeType: 'image/png', data: earlier }] },
            { role: 'assistant', content: 'another model said' },
            { role: 'user', content: 'three' },
          ],
          { since: 3 },
        ),
      ),
    );
    const [chat] = fake.chatCalls;
    expect(chat.conversationId).toBe('conv-1');
    expect(chat.query).toBe(
      'Earlier in this conversation:\nUser: two\nAssistant: another model said\n\nThe user now says:\nthree',
    );
    expect(fake.uploads.map((upload) => upload.file?.bytes)).toEqual([earlier]);
    expect(chat.files).toHaveLength(1);
  });

  it('should upload nothing when the request is detached (a session title)', async () => {
    await drain(
      provider().stream(
        request([{ role: 'user', content: 'title?', images: [{ mimeType: 'image/png', data: png }] }], {
          detached: true,
        }),
      ),
    );
    expect(fake.uploads).toHaveLength(0);
    expect(fake.chatCalls[0].files).toBeUndefined();
  });

  const withImage = (): LlmMessage[] => [
    { role: 'user', content: 'see', images: [{ mimeType: 'image/png', data: png }] },
  ];

  it('should fail like a refused request, without the key and without asking for a reply, when Dify refuses the upload', async () => {
    fake.enqueue({ status: 415 });
    const error = await failure(provider().stream(request(withImage())));
    expect(error).toBeInstanceOf(LlmProviderError);
    expect((error as LlmProviderError).retryable).toBe(false);
    expect((error as LlmProviderError).message).toBe('dify image upload: HTTP 415');
    expect(JSON.stringify(error) + String(error)).not.toContain(KEY);
    expect(fake.chatCalls).toHaveLength(0);
  });

  it('should fail retryably with the retry-after when the upload is rate limited or Dify errs', async () => {
    fake.enqueue({ status: 429, retryAfter: 2 });
    const limited = (await failure(provider().stream(request(withImage())))) as LlmProviderError;
    expect(limited).toMatchObject({
      retryable: true,
      retryAfterMs: 2000,
      message: 'dify image upload: HTTP 429',
    });
    fake.enqueue({ status: 503 });
    const down = (await failure(provider().stream(request(withImage())))) as LlmProviderError;
    expect(down).toMatchObject({ retryable: true, message: 'dify image upload: HTTP 503' });
    expect(fake.chatCalls).toHaveLength(0);
  });

  it('should fail retryably without the key when the upload cannot connect', async () => {
    const closed = await startDifyFake();
    const endpoint = closed.url;
    await closed.close();
    const error = await failure(provider({ endpoint }).stream(request(withImage())));
    expect(error).toBeInstanceOf(LlmProviderError);
    expect(error).toMatchObject({ retryable: true, message: 'dify image upload: connection failed' });
    expect(String(error)).not.toContain(KEY);
  });

  it('should fail without asking for a reply when the upload answers without a file id', async () => {
    // a proxy in front of Dify answering 200 with something that is not Dify's file record
    const proxy = createServer((incoming, outgoing) => {
      incoming.resume();
      incoming.on('end', () =>
        outgoing.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'),
      );
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const { port } = proxy.address() as AddressInfo;
    try {
      const error = await failure(
        provider({ endpoint: `http://127.0.0.1:${port}/v1` }).stream(request(withImage())),
      );
      expect(error).toMatchObject({ retryable: false, message: 'dify image upload: no file id' });
    } finally {
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  it('should time out retryably when the upload never answers', async () => {
    fake.enqueue({ hang: true });
    const error = await failure(provider({ timeout_ms: 100 }).stream(request(withImage())));
    expect(error).toMatchObject({ retryable: true, message: 'dify image upload: timeout' });
    await fake.waitForAbort();
    expect(fake.chatCalls).toHaveLength(0);
  });

  it('should abort an upload in flight when the request signal aborts (stop_generation)', async () => {
    fake.enqueue({ hang: true });
    const controller = new AbortController();
    const pending = failure(provider().stream(request(withImage(), { signal: controller.signal })));
    await fake.waitForRequests(1);
    controller.abort('stopped');
    const error = await pending;
    expect(isAbort(error)).toBe(true);
    await fake.waitForAbort();
    expect(fake.chatCalls).toHaveLength(0);
  });

  it('should cancel the other uploads when one fails', async () => {
    fake.enqueue({ status: 500 }, { hang: true });
    const two: LlmMessage[] = [
      {
        role: 'user',
        content: 'both',
        images: [
          { mimeType: 'image/png', data: png },
          { mimeType: 'image/jpeg', data: jpeg },
        ],
      },
    ];
    const error = await failure(provider().stream(request(two)));
    expect(error).toMatchObject({ retryable: true, message: 'dify image upload: HTTP 500' });
    await fake.waitForAbort();
  });
});

describe(`${DifyProvider.name} transcribe`, () => {
  const audio = {
    data: Buffer.from([1, 2, 3]),
    mimeType: 'audio/webm',
    fileName: 'voice.webm',
    userId: 'u1',
  };

  // a server standing in for Dify (or a proxy in front of it) that answers 200 with `body`
  async function answering(body: string, contentType = 'text/html') {
    const server = createServer((incoming, outgoing) => {
      incoming.resume();
      incoming.on('end', () => outgoing.writeHead(200, { 'content-type': contentType }).end(body));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const provider = new DifyProvider({
      id: 'dify',
      name: 'Dify',
      type: 'dify',
      endpoint: `http://127.0.0.1:${port}/v1`,
      api_key: 'k',
    });
    return { provider, close: () => new Promise((resolve) => server.close(resolve)) };
  }

  it('should read the transcript of a JSON answer, and fail as no transcript on JSON without one', async () => {
    const dify = await answering('{"text": " hello there "}', 'application/json');
    const empty = await answering('null', 'application/json');
    try {
      expect(await dify.provider.transcribe(audio)).toBe('hello there');
      await expect(empty.provider.transcribe(audio)).rejects.toMatchObject({
        name: 'LlmProviderError',
        message: 'dify: no transcript',
      });
    } finally {
      await Promise.all([dify.close(), empty.close()]);
    }
  });

  // response.json()'s SyntaxError quotes the body, and its message was logged
  it('should fail with a fixed message, quoting nothing of the body, when a 200 answer is not JSON', async () => {
    const dify = await answering('<html>private words the user said</html>');
    try {
      const error = await dify.provider.transcribe(audio).catch((failure: unknown) => failure);
      expect(error).toBeInstanceOf(LlmProviderError);
      expect(error).toMatchObject({ retryable: true, message: 'dify transcription: unreadable answer' });
      expect(String(error)).not.toContain('private');
    } finally {
      await dify.close();
    }
  });
});

describe(`${DifyProvider.name} stream`, () => {
  let fake: DifyFake;

  beforeAll(async () => {
    fake = await startDifyFake();
  });
  afterAll(() => fake.close());
  beforeEach(() => fake.reset());

  const stream = (signal = new AbortController().signal) =>
    new DifyProvider({ id: 'dify', name: 'Dify', type: 'dify', endpoint: fake.url, api_key: 'k' }).stream({
      messages: [{ role: 'user', content: 'hi' }],
      signal,
      userId: 'u-1',
    });

  async function drain(chunks: AsyncIterable<LlmChunk>): Promise<LlmChunk[]> {
    const all: LlmChunk[] = [];
    for await (const chunk of chunks) all.push(chunk);
    return all;
  }

  // output moderation: message_replace's answer replaces all the reply's text so far (Dify's API)
  it('should yield a replace chunk with the answer of message_replace, after the text it replaces', async () => {
    fake.enqueue({ reply: 'FLAGGED CONTENT', replaceWith: 'Sorry, I cannot help with that.' });
    const chunks = await drain(stream());
    const kinds = chunks.map((chunk) => chunk.type);
    expect(kinds.lastIndexOf('delta')).toBeLessThan(kinds.indexOf('replace'));
    expect(chunks).toContainEqual({ type: 'replace', text: 'Sorry, I cannot help with that.' });
    expect(chunks.filter((chunk) => chunk.type === 'replace')).toHaveLength(1);
  });

  // Closing the connection does not stop a Dify task, only its stop call does, which needs the
  // task's id from the first event: a stop before it let the task run on (DifyTask)
  it('should end at once when stopped before Dify answers, and still stop the task once its first event names it', async () => {
    fake.enqueue({ initialDelayMs: 300, reply: 'word '.repeat(40), chunkSize: 5, delayMs: 20 });
    const controller = new AbortController();
    const chunks = stream(controller.signal);
    const pending = drain(chunks).then(
      () => undefined,
      (error: unknown) => error,
    );
    await fake.waitForRequests(1);
    const stoppedAt = Date.now();
    controller.abort('stopped');
    const error = await pending;
    expect({ abort: isAbort(error), prompt: Date.now() - stoppedAt < 200 }).toEqual({
      abort: true,
      prompt: true,
    });
    expect(fake.stoppedTasks).toHaveLength(0);
    // the stop call, then the connection closed
    await fake.waitForRequests(2);
    expect(fake.stoppedTasks).toHaveLength(1);
    await fake.waitForAbort(1);
  });

  it('should stop the task when the caller stops and leaves the stream without asking for more', async () => {
    fake.enqueue({ reply: 'word '.repeat(40), chunkSize: 5, delayMs: 20 });
    const controller = new AbortController();
    const chunks = stream(controller.signal);
    for await (const chunk of chunks)
      if (chunk.type === 'delta') {
        controller.abort('stopped');
        break;
      }
    await fake.waitForRequests(2);
    expect(fake.stoppedTasks).toHaveLength(1);
    await fake.waitForAbort(1);
  });

  // SSE lines may end in CRLF or a lone CR: the last CR (message_end's blank line) was held back as
  // the possible first half of a CRLF and never read, so a whole reply failed as cut off
  it('should read the reply to its message_end whatever the line endings, one byte at a time included', async () => {
    for (const eol of ['\r\n', '\r'] as const)
      for (const splitWrites of [false, true]) {
        fake.enqueue({ reply: 'line é end', eol, splitWrites });
        const chunks = await drain(stream());
        expect(chunks.map((chunk) => (chunk.type === 'delta' ? chunk.text : '')).join('')).toBe('line é end');
        expect(chunks.some((chunk) => chunk.type === 'usage')).toBe(true);
      }
  });
});
