import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import OpenAI from 'openai';
import type { LlmModelSettings } from '../../config/llm.settings';
import { startAnthropicFake } from '../../../test/fakes/anthropic-fake';
import { startDifyFake } from '../../../test/fakes/dify-fake';
import { startOpenAiFake } from '../../../test/fakes/openai-fake';
import { AnthropicProvider } from './anthropic.provider';
import { DifyProvider } from './dify.provider';
import type { LlmProvider } from './llm-provider';
import { OpenAiProvider } from './openai.provider';
import { vendorFetch } from './vendor-fetch';

// The SDKs' transport against a real HTTP server on loopback: what goes out, what comes back, and
// the stops, as Node's fetch does them.
describe('vendorFetch', () => {
  let server: Server;
  let base: string;
  let handle: (request: IncomingMessage, body: string, response: ServerResponse) => void;
  const lean = vendorFetch;

  beforeAll(async () => {
    server = createServer((request, response) => {
      const parts: Buffer[] = [];
      request.on('data', (part: Buffer) => parts.push(part));
      request.on('end', () => handle(request, Buffer.concat(parts).toString(), response));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  });

  const echo = (request: IncomingMessage, body: string, response: ServerResponse): void => {
    response.setHeader('content-type', 'application/json');
    response.setHeader('set-cookie', ['a=1', 'b=2']);
    response.end(
      JSON.stringify({ method: request.method, url: request.url, headers: request.headers, body }),
    );
  };

  it('should send the method, headers and body and give back status, headers and body', async () => {
    handle = echo;
    for (const headers of [
      new Headers({ 'x-one': '1', authorization: 'Bearer k' }),
      { 'x-one': '1', authorization: 'Bearer k' },
      [
        ['x-one', '1'],
        ['authorization', 'Bearer k'],
      ] as [string, string][],
    ]) {
      const response = await lean(`${base}/v1/chat?x=1`, { method: 'POST', headers, body: '{"a":"é"}' });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('application/json');
      expect(response.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
      const seen = (await response.json()) as {
        method: string;
        url: string;
        headers: Record<string, string>;
        body: string;
      };
      expect(seen).toMatchObject({ method: 'POST', url: '/v1/chat?x=1', body: '{"a":"é"}' });
      expect(seen.headers).toMatchObject({ 'x-one': '1', authorization: 'Bearer k' });
    }
  });

  it('should give each part of a streamed body as it comes, before the answer ends', async () => {
    let finish!: () => void;
    handle = (_request, _body, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write('data: one\n\n');
      finish = () => response.end('data: two\n\n');
    };
    const response = await lean(`${base}/stream`, { method: 'POST', body: '{}' });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const first = await reader.read();
    expect(Buffer.from(first.value as Uint8Array).toString()).toBe('data: one\n\n');
    finish();
    let rest = '';
    for (let part = await reader.read(); !part.done; part = await reader.read())
      rest += Buffer.from(part.value).toString();
    expect(rest).toBe('data: two\n\n');
  });

  it('should reject with an AbortError when stopped before the answer, and error the body when stopped during it', async () => {
    handle = () => undefined;
    const before = new AbortController();
    const pending = lean(`${base}/slow`, { method: 'POST', body: '{}', signal: before.signal });
    setTimeout(() => before.abort(), 20);
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });

    handle = (_request, _body, response) => {
      response.writeHead(200);
      response.write('part');
    };
    const during = new AbortController();
    const response = await lean(`${base}/half`, { method: 'POST', body: '{}', signal: during.signal });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    during.abort();
    await expect(reader.read()).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('should send nothing when the signal was aborted before the call', async () => {
    let asked = 0;
    handle = (...args) => {
      asked++;
      echo(...args);
    };
    const stopped = new AbortController();
    stopped.abort();
    await expect(
      lean(`${base}/never`, { method: 'POST', body: '{}', signal: stopped.signal }),
    ).rejects.toMatchObject({ name: 'AbortError' });
    await lean(`${base}/after`, { method: 'POST', body: '{}' }).then((response) => response.text());
    expect(asked).toBe(1);
  });

  it('should hold the vendor back while nobody reads, and lose nothing of the body', async () => {
    // far more than loopback's socket buffers hold: without the parser pausing, the whole body
    // would sit in the Response's stream and the server would finish sending at once
    const pieces = 512;
    const piece = (index: number): Buffer => Buffer.alloc(64 * 1024, index % 251);
    const sent = createHash('sha256');
    for (let index = 0; index < pieces; index++) sent.update(piece(index));
    let finished = false;
    handle = (_request, _body, response) => {
      response.writeHead(200, { 'content-type': 'application/octet-stream' });
      response.on('finish', () => (finished = true));
      let index = 0;
      const more = (): void => {
        while (index < pieces) if (!response.write(piece(index++))) return void response.once('drain', more);
        response.end();
      };
      more();
    };
    const response = await lean(`${base}/big`, { method: 'GET' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(finished).toBe(false);
    const received = createHash('sha256');
    let bytes = 0;
    let parts = 0;
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    for (let part = await reader.read(); !part.done; part = await reader.read()) {
      received.update(part.value);
      bytes += part.value.byteLength;
      // an empty part would mean a parser resumed with nothing to give (it once looped so)
      expect(part.value.byteLength).toBeGreaterThan(0);
      parts++;
    }
    expect(bytes).toBe(64 * 1024 * pieces);
    expect(received.digest('hex')).toBe(sent.digest('hex'));
    expect(parts).toBeLessThan(pieces * 8);
    expect(finished).toBe(true);
  });

  it("should close the vendor's connection when the reader cancels the body", async () => {
    let closed!: Promise<unknown>;
    handle = (_request, _body, response) => {
      closed = once(response, 'close');
      response.writeHead(200);
      response.write('part');
    };
    const response = await lean(`${base}/cancel`, { method: 'POST', body: '{}' });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    await reader.cancel();
    await closed;
  });

  it('should give no body for a 204 and keep error statuses as they are', async () => {
    handle = (_request, _body, response) => {
      response.writeHead(204);
      response.end();
    };
    const empty = await lean(`${base}/none`, { method: 'DELETE' });
    expect(empty.status).toBe(204);
    expect(empty.body).toBeNull();
    handle = (_request, _body, response) => {
      response.writeHead(429, { 'retry-after': '2' });
      response.end('{"error":{"message":"slow down"}}');
    };
    const refused = await lean(`${base}/busy`, { method: 'POST', body: '{}' });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('2');
    expect(await refused.text()).toBe('{"error":{"message":"slow down"}}');
  });

  it("should leave a form, a stream or a Request to Node's fetch", async () => {
    handle = echo;
    const form = new FormData();
    form.append('file', new Blob(['abc']), 'a.txt');
    const sent = await lean(`${base}/upload`, { method: 'POST', body: form });
    const seen = (await sent.json()) as { headers: Record<string, string>; body: string };
    expect(seen.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    expect(seen.body).toContain('abc');
    const viaRequest = await lean(new Request(`${base}/r`, { method: 'PUT', body: 'x' }));
    expect(await viaRequest.json()).toMatchObject({ method: 'PUT', body: 'x' });
  });

  it('should reject when nothing listens', async () => {
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as AddressInfo).port;
    closed.close();
    await once(closed, 'close');
    await expect(lean(`http://127.0.0.1:${port}/`, { method: 'POST', body: '{}' })).rejects.toThrow();
  });

  it('should carry any header values and body text as sent when given any', async () => {
    handle = echo;
    const token = fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/).filter((name) => !RESERVED.has(name));
    const value = fc.stringMatching(/^[\x21-\x7e]([\x20-\x7e]{0,30}[\x21-\x7e])?$/);
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(token, value, { maxKeys: 6 }),
        fc.string({ maxLength: 300 }),
        async (headers, body) => {
          const response = await lean(`${base}/p`, { method: 'POST', headers, body });
          const seen = (await response.json()) as { headers: Record<string, string>; body: string };
          expect(seen.body).toBe(body);
          for (const [name, text] of Object.entries(headers)) expect(seen.headers[name]).toBe(text);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('should carry an OpenAI SDK request and its answer', async () => {
    handle = (request, body, response) => {
      const sent = JSON.parse(body) as { model: string };
      response.setHeader('content-type', 'application/json');
      response.end(
        JSON.stringify({
          id: 'c1',
          object: 'chat.completion',
          created: 1,
          model: sent.model,
          choices: [
            {
              index: 0,
              message: { role: 'assistant', content: `hi ${request.headers.authorization}` },
              finish_reason: 'stop',
            },
          ],
        }),
      );
    };
    const client = new OpenAI({ apiKey: 'k1', baseURL: `${base}/v1`, maxRetries: 0, fetch: lean });
    const completion = await client.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'x' }],
    });
    expect(completion.choices[0].message.content).toBe('hi Bearer k1');
  });
});

// headers undici or HTTP sets itself
const RESERVED = new Set([
  'host',
  'content-length',
  'connection',
  'transfer-encoding',
  'keep-alive',
  'upgrade',
  'expect',
  'te',
  'trailer',
]);

// Every vendor provider sends through this transport: Node's fetch marks each request it sends
// (`sec-fetch-mode`, `accept-language: *`, from the WHATWG fetch algorithm); undici's request does not.
describe('the vendor providers', () => {
  const ask = async (provider: LlmProvider): Promise<string> => {
    let text = '';
    for await (const chunk of provider.stream({
      messages: [{ role: 'user', content: 'hi' }],
      signal: new AbortController().signal,
      userId: 'u1',
    }))
      if (chunk.type === 'delta') text += chunk.text;
    return text;
  };

  it.each([
    ['openai', startOpenAiFake, (endpoint: string) => new OpenAiProvider(model('openai', endpoint))],
    [
      'anthropic',
      startAnthropicFake,
      (endpoint: string) => new AnthropicProvider(model('anthropic', endpoint.replace(/\/v1$/, ''))),
    ],
    ['dify', startDifyFake, (endpoint: string) => new DifyProvider(model('dify', endpoint))],
  ] as const)('should send %s requests through undici, not Node fetch', async (_type, start, make) => {
    const fake = await start({ reply: 'hello there' });
    try {
      expect(await ask(make(fake.url))).toBe('hello there');
      expect(fake.requests.length).toBeGreaterThan(0);
      for (const request of fake.requests) {
        expect(request.headers['sec-fetch-mode']).toBeUndefined();
        expect(request.headers['accept-language']).toBeUndefined();
      }
    } finally {
      await fake.close();
    }
  });
});

function model(type: 'openai' | 'anthropic' | 'dify', endpoint: string): LlmModelSettings {
  return { id: `${type}-m`, name: type, type, endpoint, api_key: 'k', model: 'm', timeout_ms: 5000 };
}
