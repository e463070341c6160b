import { Agent, EnvHttpProxyAgent, type Dispatcher } from 'undici';

// The `fetch` the vendor SDKs (OpenAI, Anthropic: both take one as an option) send their requests
// with: a dispatch on undici's agent (the HTTP client Node's own fetch is built on), with the
// answer handed back as a standard Response. Node's fetch runs the whole WHATWG fetch algorithm on
// every request. Through the OpenAI SDK, against the tests' fake vendor in another process, a title
// (one completion) cost 0.37–0.61 ms of CPU with Node's fetch and 0.22–0.39 ms with this, a reply of
// 40 paced chunks 1.19–1.38 and 0.86–1.08 ms (bench/vendor-fetch-cpu.ts, three rounds; end to end in
// bench/README.md, "Session 19"; those numbers were undici's `request`, this is a step leaner, see
// ResponseHandler). Every turn makes one such request, a new session's first two.
//
// What it covers is what the SDKs send: a string URL, a method, headers, and a body that is a string
// or bytes. Anything else (a Request object, a form, a stream, a Blob) goes to Node's fetch, as it
// did before. Redirects are not followed: a vendor API answers where it is asked. The SDKs keep
// their own timeouts and stops: both abort the signal given here, which cancels the request or the
// body being read, with the signal's reason (an AbortError, which is how the SDKs tell a stop).
// A request whose init carries ON_DATA has it called on every piece of its answer's body as it
// arrives (LlmRequest.onData): the SDKs take `fetchOptions` per request and hand them to this fetch
// as they are, a symbol-keyed property included (a spread copies it). Through Node's fetch (the
// cases above it does not cover) it is not called.
export const ON_DATA = Symbol('chatbox.vendorFetch.onData');
// (typed as no property at all: it is one no fetch type names, and it fits every `fetchOptions`)
export function onDataInit(onData: (() => void) | undefined): Record<never, never> {
  return onData ? { [ON_DATA]: onData } : {};
}

export const vendorFetch: typeof fetch = (input, init) => {
  const body = init?.body;
  if (
    (typeof input !== 'string' && !(input instanceof URL)) ||
    !(body === undefined || body === null || typeof body === 'string' || body instanceof Uint8Array)
  )
    return fetch(input, init);
  const signal = init?.signal ?? undefined;
  if (signal?.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<Response>((resolve, reject) => {
    const url = typeof input === 'string' ? new URL(input) : input;
    sharedAgent.dispatch(
      {
        origin: url.origin,
        path: url.pathname + url.search,
        method: (init?.method ?? 'GET') as Dispatcher.HttpMethod,
        headers: flatHeaders(init?.headers),
        body: body ?? undefined,
      },
      new ResponseHandler(
        resolve,
        reject,
        signal,
        (init as { [ON_DATA]?: () => void } | undefined)?.[ON_DATA],
      ),
    );
  });
};

// One request's answer as a Response, fed straight from undici's parser: the body's chunks go into
// the Response's stream as they come, with no Node stream between (undici's `request` hands out a
// Node Readable, which `Readable.toWeb` then copies chunk by chunk into a web stream: 0.05 ms of CPU
// per streamed reply and per title, bench/README.md, "Session 20"). The parser pauses while the
// stream holds HIGH_WATER_MARK chunks nobody has read, and resumes when the SDK reads again.
class ResponseHandler implements Dispatcher.DispatchHandler {
  private request?: Dispatcher.DispatchController;
  private body?: ReadableStreamDefaultController<Uint8Array>;
  private answered = false;
  private ended = false;

  constructor(
    private readonly resolve: (response: Response) => void,
    private readonly reject: (error: unknown) => void,
    private readonly signal: AbortSignal | undefined,
    private readonly arrived?: () => void,
  ) {
    signal?.addEventListener('abort', this.stop, { once: true });
  }

  // the SDK stopped (a user's stop, a timeout): the request goes, and so does what awaits it
  private readonly stop = (): void => {
    const reason = this.signal?.reason as Error;
    this.request?.abort(reason);
    this.fail(reason);
  };

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.request = controller;
    if (this.ended) controller.abort(this.signal?.reason as Error);
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    raw: Record<string, string | string[] | undefined>,
  ): void {
    // 1xx: informational, the answer follows
    if (statusCode < 200 || this.ended) return;
    const headers = new Headers();
    for (const name in raw) {
      const value = raw[name];
      if (Array.isArray(value)) for (const one of value) headers.append(name, one);
      else if (value !== undefined) headers.append(name, value);
    }
    this.answered = true;
    // a status that has no body by definition: a Response refuses one
    if (NO_BODY.has(statusCode)) {
      this.resolve(new Response(null, { status: statusCode, headers }));
      return;
    }
    const stream = new ReadableStream<Uint8Array>(
      {
        start: (body) => {
          this.body = body;
        },
        pull: () => controller.resume(),
        cancel: (reason: unknown) => {
          this.finish();
          controller.abort(reason instanceof Error ? reason : new Error('body cancelled'));
        },
      },
      { highWaterMark: HIGH_WATER_MARK },
    );
    this.resolve(new Response(stream, { status: statusCode, headers }));
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    // the parser resumed hands an empty piece, which must not count against the stream's room (it
    // would pause the parser again on every resume, and it would never move on)
    if (this.ended || this.body === undefined || chunk.length === 0) return;
    this.arrived?.();
    this.body.enqueue(chunk);
    if ((this.body.desiredSize ?? 0) <= 0) controller.pause();
  }

  onResponseEnd(): void {
    if (this.ended) return;
    this.finish();
    this.body?.close();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.fail(error);
  }

  private fail(error: unknown): void {
    if (this.ended) return;
    this.finish();
    if (!this.answered) this.reject(error);
    else this.body?.error(error);
  }

  private finish(): void {
    this.ended = true;
    this.signal?.removeEventListener('abort', this.stop);
  }
}

const HIGH_WATER_MARK = 16;

// one pool of kept-alive connections per origin for every vendor client of the process, as Node's
// fetch has; through HTTP_PROXY / HTTPS_PROXY (NO_PROXY) when NODE_USE_ENV_PROXY=1, as Node's fetch
// then goes
const sharedAgent: Dispatcher =
  process.env.NODE_USE_ENV_PROXY === '1' ? new EnvHttpProxyAgent() : new Agent();

const NO_BODY = new Set([101, 204, 205, 304]);

// Headers as the SDKs give them (a Headers object, pairs, or a record) as undici's flat list.
function flatHeaders(headers: RequestInit['headers']): string[] {
  const flat: string[] = [];
  if (headers === undefined) return flat;
  const pairs: Iterable<[string, string | undefined]> =
    headers instanceof Headers || Array.isArray(headers)
      ? (headers as Iterable<[string, string]>)
      : Object.entries(headers);
  for (const [name, value] of pairs)
    if (value !== undefined && value !== null) flat.push(name, String(value));
  return flat;
}
