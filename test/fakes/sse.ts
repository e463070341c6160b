// Shared machinery for the vendor fakes: SSE framing, a scriptable HTTP server base, and a client-side
// SSE reader. Vendor modules only describe their wire format; everything timing/failure related lives here.
import { EventEmitter } from 'node:events';
import { createServer, IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';

export type JsonObject = Record<string, unknown>;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function asString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

// ---------------------------------------------------------------------------------------------
// SSE framing (server side)

export const SSE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
};

/** `event: NAME\ndata: DATA\n\n`, or just `data: DATA\n\n` without a name. */
export function sseFrame(data: string, event?: string): string {
  return `${event === undefined ? '' : `event: ${event}\n`}data: ${data}\n\n`;
}

/** A frame with an event name and no data line (Dify's keep-alive `event: ping`). */
export function sseEventOnly(event: string): string {
  return `event: ${event}\n\n`;
}

/**
 * Where to cut a frame into two network writes: inside the first multi-byte UTF-8 character when there is
 * one (so a decoder that isn't streaming-aware produces U+FFFD), otherwise in the middle.
 */
export function splitIndex(buf: Buffer): number {
  const lead = buf.findIndex((byte) => byte >= 0xc0);
  if (lead >= 0 && lead + 1 < buf.length) return lead + 1;
  return Math.max(1, Math.floor(buf.length / 2));
}

// ---------------------------------------------------------------------------------------------
// SSE reading (client side), per the WHATWG event-stream parsing rules

export interface SseEvent {
  event?: string;
  data: string;
  id?: string;
}

/**
 * Parses an event stream. Unlike a browser EventSource it also yields events that carry a name but no data
 * (Dify's `event: ping`), so tests can see keep-alives.
 */
export async function* readSse(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder('utf-8');
  let buffer = '';
  let data: string[] = [];
  let event: string | undefined;
  let id: string | undefined;
  const dispatch = (): SseEvent | undefined => {
    const out = data.length > 0 || event !== undefined ? { event, data: data.join('\n'), id } : undefined;
    data = [];
    event = undefined;
    return out;
  };
  const takeLines = function* (final: boolean): Generator<string> {
    for (;;) {
      const match = /\r\n|\r|\n/.exec(buffer);
      // a trailing \r may be the first half of \r\n split across reads
      if (!match || (!final && match[0] === '\r' && match.index === buffer.length - 1)) return;
      yield buffer.slice(0, match.index);
      buffer = buffer.slice(match.index + match[0].length);
    }
  };
  const handle = (line: string): SseEvent | undefined => {
    if (line === '') return dispatch();
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') event = value;
    else if (field === 'id') id = value;
    return undefined;
  };
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    for (const line of takeLines(false)) {
      const ev = handle(line);
      if (ev) yield ev;
    }
  }
  buffer += decoder.decode();
  for (const line of takeLines(true)) {
    const ev = handle(line);
    if (ev) yield ev;
  }
}

// ---------------------------------------------------------------------------------------------
// Scriptable fake server

/** Behaviour of the fake for one request. `fake.script` holds defaults; `fake.enqueue()` one-shot overrides. */
export interface FakeScript {
  /** Reply text; default is vendor specific, derived from the last user message (`Echo: <text>`). */
  reply?: string | ((request: RecordedRequest) => string);
  /** Exact content deltas; overrides `reply` + `chunkSize`. */
  chunks?: string[];
  /** Code points per content delta when splitting `reply` (default 4). */
  chunkSize?: number;
  /** Pause between content deltas, ms. */
  delayMs?: number;
  /** Pause before sending anything (status line included), ms: models time-to-first-token. */
  initialDelayMs?: number;
  /** Write every frame as two network writes, cut inside the first multi-byte UTF-8 character if any. */
  splitWrites?: boolean;
  /** Pause between the two halves of a split frame so they arrive as separate reads (default 5 ms). */
  splitPauseMs?: number;
  /** Interleave an empty content delta after every content delta. */
  emptyDeltas?: boolean;
  /** Keep-alive frames before the content, for vendors that have them (Anthropic default 1, Dify 0). */
  pings?: number;
  /** Token counts to report; defaults: prompt ≈ chars/4 of the input, completion = number of deltas. */
  usage?: { promptTokens?: number; completionTokens?: number };
  /** Answer with this HTTP status and the vendor's JSON error body instead of a completion. */
  status?: number;
  /** `retry-after` header (seconds; fractions work with the official SDKs). */
  retryAfter?: number | string;
  /** `retry-after-ms` header, honoured by the OpenAI and Anthropic SDKs. */
  retryAfterMs?: number;
  /** Extra response headers. */
  headers?: Record<string, string>;
  /** Overrides for the vendor error (HTTP error body and in-stream error event). */
  error?: { type?: string; code?: string; message?: string; status?: number };
  /** Send the vendor's in-stream error event after this many content deltas, then end the response. */
  errorAfterChunks?: number;
  /** Destroy the socket after this many content deltas (no terminator, truncated chunked body). */
  cutAfterChunks?: number;
  /**
   * End the response cleanly after this many content deltas, without the vendor's end frames (no
   * finish chunk or `[DONE]`, no `message_stop`, no `message_end`): whole to HTTP, cut short to the
   * vendor's format. 0 sends the head frames only.
   */
  endAfterChunks?: number;
  /** The line ending every frame is written with instead of LF (SSE allows CRLF and a lone CR too). */
  eol?: '\r\n' | '\r';
  /** Never answer; hold the connection until the client gives up. */
  hang?: boolean;
  /** Stall after this many content deltas until the client gives up. */
  hangAfterChunks?: number;
}

export interface UploadedFile {
  name: string;
  type: string;
  size: number;
  bytes: Buffer;
}

export interface RecordedRequest {
  /** 1-based arrival order. */
  seq: number;
  method: string;
  /** Path without the query string, e.g. `/v1/chat/completions`. */
  path: string;
  headers: IncomingHttpHeaders;
  /** Parsed JSON body when it was a JSON object, else `{}`. */
  body: JsonObject;
  rawBody: Buffer;
  /** Multipart fields and files, for multipart/form-data requests. */
  form?: { fields: Record<string, string>; files: Record<string, UploadedFile> };
  /** performance.now() when the request body had been read. */
  receivedAt: number;
  /** performance.now() right after the first non-empty content delta was written. */
  firstChunkAt?: number;
  /** performance.now() when the fake ended the response normally. */
  finishedAt?: number;
  /** The client closed the connection before the response was complete. */
  aborted: boolean;
  /** The merged behaviour used for this request. */
  script: FakeScript;
}

/** One content delta: its vendor frame and the text it carries ('' for empty deltas). */
export interface StreamPiece {
  frame: string;
  text: string;
}

export interface StreamPlan {
  /** Frames before the content (role chunk, message_start, pings, ...). */
  head: string[];
  pieces: StreamPiece[];
  /** Frames after the content (finish chunk, usage, [DONE], message_stop, ...). */
  tail: string[];
  /** The vendor's in-stream error frame, used by `errorAfterChunks`. */
  errorFrame: string;
  headers?: Record<string, string>;
}

export interface Route<S extends FakeScript> {
  method: string;
  path: string | RegExp;
  handle: (call: FakeCall<S>) => Promise<void>;
}

export interface FakeServerConfig<S extends FakeScript> {
  routes: Route<S>[];
  /** The vendor's JSON error body for an HTTP error status. */
  errorBody: (status: number, call: FakeCall<S>) => { body: string; contentType?: string };
  /** Headers every response carries (request ids and the like). */
  commonHeaders?: (call: FakeCall<S>) => Record<string, string>;
}

/** Per-request handle given to route handlers. */
export class FakeCall<S extends FakeScript> {
  closed = false;
  /** Set when the fake itself destroyed the connection, so it isn't counted as a client abort. */
  cutByServer = false;
  private readonly closedPromise: Promise<void>;

  constructor(
    readonly record: RecordedRequest,
    readonly script: S,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    private readonly onFirstChunk: (at: number) => void,
    private readonly config: FakeServerConfig<S>,
  ) {
    this.closedPromise = new Promise((resolve) => res.once('close', () => resolve()));
    res.once('close', () => (this.closed = true));
  }

  /** Resolves after `ms`, or early when the connection closes (so no timer outlives a test). */
  sleep(ms: number): Promise<void> {
    if (ms <= 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.res.off('close', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.res.once('close', done);
    });
  }

  untilClosed(): Promise<void> {
    return this.closedPromise;
  }

  headers(extra?: Record<string, string>): Record<string, string> {
    return { ...this.config.commonHeaders?.(this), ...extra, ...this.script.headers };
  }

  /** The reply text: the script's, or the vendor default derived from the request. */
  replyText(fallback: string): string {
    const { reply } = this.script;
    if (typeof reply === 'function') return reply(this.record);
    return reply ?? fallback;
  }

  /** Content deltas for `text` per `chunks` / `chunkSize` / `emptyDeltas`. */
  pieces(text: string): string[] {
    const size = Math.max(1, this.script.chunkSize ?? 4);
    let pieces = this.script.chunks;
    if (!pieces) {
      const points = Array.from(text);
      pieces = [];
      for (let i = 0; i < points.length; i += size) pieces.push(points.slice(i, i + size).join(''));
    }
    return this.script.emptyDeltas ? pieces.flatMap((p) => [p, '']) : pieces;
  }

  usage(promptText: string, pieces: string[]): { promptTokens: number; completionTokens: number } {
    return {
      promptTokens: this.script.usage?.promptTokens ?? Math.max(1, Math.ceil(promptText.length / 4)),
      completionTokens: this.script.usage?.completionTokens ?? pieces.filter((p) => p !== '').length,
    };
  }

  send(status: number, body: string | Buffer, contentType: string, extra?: Record<string, string>): void {
    if (this.closed) return;
    const buf = typeof body === 'string' ? Buffer.from(body) : body;
    this.res.writeHead(status, {
      ...this.headers(extra),
      'content-type': contentType,
      'content-length': buf.length,
    });
    this.res.end(buf, () => (this.record.finishedAt = performance.now()));
  }

  sendJson(status: number, body: unknown, extra?: Record<string, string>): void {
    this.send(status, typeof body === 'string' ? body : JSON.stringify(body), 'application/json', extra);
  }

  /** Vendor error response with `retry-after` headers from the script. */
  sendError(status: number): void {
    const extra: Record<string, string> = {};
    if (this.script.retryAfter !== undefined) extra['retry-after'] = String(this.script.retryAfter);
    if (this.script.retryAfterMs !== undefined) extra['retry-after-ms'] = String(this.script.retryAfterMs);
    const { body, contentType } = this.config.errorBody(status, this);
    this.send(status, body, contentType ?? 'application/json', extra);
  }

  /** Plays a stream plan, applying the script's timing and failure modes. */
  async stream(plan: StreamPlan): Promise<void> {
    if (this.closed) return;
    this.res.writeHead(200, { ...SSE_HEADERS, ...this.headers(plan.headers) });
    this.res.flushHeaders();
    // without this, Nagle would merge the halves of a split frame into one segment
    this.req.socket.setNoDelay(true);
    for (const frame of plan.head) await this.write(frame);
    let sent = 0;
    for (const piece of plan.pieces) {
      if (piece.text !== '' && (await this.interrupt(sent, plan))) return;
      if (sent > 0) await this.sleep(this.script.delayMs ?? 0);
      await this.write(piece.frame);
      if (piece.text !== '') {
        sent += 1;
        if (sent === 1 && !this.closed) this.markFirstChunk();
      }
    }
    if (await this.interrupt(sent, plan)) return;
    for (const frame of plan.tail) await this.write(frame);
    this.end();
  }

  /** Writes one frame as raw bytes, in two writes when `splitWrites` is on. */
  async write(frame: string | Buffer): Promise<void> {
    if (this.closed) return;
    const { eol } = this.script;
    const text = typeof frame === 'string' && eol ? frame.replace(/\n/g, eol) : frame;
    const buf = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
    if (!this.script.splitWrites || buf.length < 2) {
      this.res.write(buf);
      return;
    }
    const at = splitIndex(buf);
    this.res.write(buf.subarray(0, at));
    await this.sleep(this.script.splitPauseMs ?? 5);
    if (!this.closed) this.res.write(buf.subarray(at));
  }

  end(): void {
    if (this.closed) return;
    this.res.end(() => (this.record.finishedAt = performance.now()));
  }

  /** Destroys the connection without finishing the response. */
  cut(): void {
    this.cutByServer = true;
    this.req.socket.destroy();
  }

  private markFirstChunk(): void {
    const at = performance.now();
    this.record.firstChunkAt = at;
    this.onFirstChunk(at);
  }

  /** Applies errorAfterChunks / cutAfterChunks / endAfterChunks / hangAfterChunks; true when the stream must stop. */
  private async interrupt(sent: number, plan: StreamPlan): Promise<boolean> {
    const { errorAfterChunks, cutAfterChunks, endAfterChunks, hangAfterChunks } = this.script;
    if (this.closed) return true;
    if (endAfterChunks === sent) {
      this.end();
      return true;
    }
    if (errorAfterChunks === sent) {
      await this.write(plan.errorFrame);
      this.end();
      return true;
    }
    if (cutAfterChunks === sent) {
      this.cut();
      return true;
    }
    if (hangAfterChunks === sent) {
      await this.untilClosed();
      return true;
    }
    return false;
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(Buffer.isBuffer(part) ? part : Buffer.from(String(part)));
  return Buffer.concat(parts);
}

async function parseMultipart(raw: Buffer, contentType: string): Promise<RecordedRequest['form']> {
  // undici's Response implements multipart parsing, so no hand-written parser is needed
  const form = await new Response(new Uint8Array(raw), {
    headers: { 'content-type': contentType },
  }).formData();
  const fields: Record<string, string> = {};
  const files: Record<string, UploadedFile> = {};
  for (const [key, value] of form.entries()) {
    if (typeof value === 'string') fields[key] = value;
    else {
      const bytes = Buffer.from(await value.arrayBuffer());
      files[key] = { name: value.name, type: value.type, size: bytes.length, bytes };
    }
  }
  return { fields, files };
}

/** Base for the vendor fakes: records requests, dequeues behaviours, tracks aborts and first chunks. */
export class FakeServer<S extends FakeScript> {
  /** Base URL including `/v1`, e.g. `http://127.0.0.1:41234/v1`. */
  url = '';
  /** Default behaviour for every request; mutate freely between requests. */
  script: S;
  readonly requests: RecordedRequest[] = [];
  /** performance.now() of each response's first non-empty content delta, in write order. */
  readonly firstChunkAt: number[] = [];
  /** Requests of each path received whole and not yet answered, and the most there were at once. */
  readonly open = new Map<string, number>();
  readonly mostOpen = new Map<string, number>();
  private readonly queue: Partial<S>[] = [];
  private readonly changes = new EventEmitter();
  private abortedCount = 0;
  private closing = false;
  private readonly server: Server;

  constructor(
    private readonly config: FakeServerConfig<S>,
    script: S,
  ) {
    this.script = script;
    this.changes.setMaxListeners(0);
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        console.error('fake server handler failed', err);
        if (!res.headersSent) res.writeHead(500).end(String(err));
        else res.destroy();
      });
    });
  }

  /** Number of responses the client closed before they were complete. */
  get aborted(): number {
    return this.abortedCount;
  }

  /** Queues one-shot behaviours, consumed one per request in arrival order, merged over `script`. */
  enqueue(...behaviours: Partial<S>[]): void {
    this.queue.push(...behaviours);
  }

  /** Resolves once `count` client aborts have been seen in total (immediately if already so). */
  waitForAbort(count = 1, timeoutMs = 5000): Promise<void> {
    return this.waitFor(() => this.abortedCount >= count, timeoutMs, `${count} aborted response(s)`);
  }

  /** Resolves once `count` requests have arrived in total. */
  waitForRequests(count: number, timeoutMs = 5000): Promise<void> {
    return this.waitFor(() => this.requests.length >= count, timeoutMs, `${count} request(s)`);
  }

  /** Forgets recorded requests, aborts, first-chunk times and queued behaviours. */
  reset(): void {
    this.requests.length = 0;
    this.firstChunkAt.length = 0;
    this.queue.length = 0;
    this.abortedCount = 0;
    this.open.clear();
    this.mostOpen.clear();
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}/v1`;
    return this;
  }

  /** Stops listening and drops every open connection, including hung ones. */
  async close(): Promise<void> {
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private waitFor(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!done()) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`fake server: timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.changes.off('change', check);
      };
      this.changes.on('change', check);
      check();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rawBody = await readBody(req);
    const contentType = req.headers['content-type'] ?? '';
    let body: JsonObject = {};
    let form: RecordedRequest['form'];
    if (contentType.startsWith('multipart/form-data')) form = await parseMultipart(rawBody, contentType);
    else if (rawBody.length > 0) {
      try {
        const parsed: unknown = JSON.parse(rawBody.toString('utf8'));
        if (isObject(parsed)) body = parsed;
      } catch {
        // not JSON: keep rawBody only
      }
    }
    const script = { ...this.script, ...this.queue.shift() } as S;
    const record: RecordedRequest = {
      seq: this.requests.length + 1,
      method: req.method ?? 'GET',
      path: (req.url ?? '/').split('?')[0],
      headers: req.headers,
      body,
      rawBody,
      form,
      receivedAt: performance.now(),
      aborted: false,
      script,
    };
    const call = new FakeCall<S>(record, script, req, res, (at) => this.firstChunkAt.push(at), this.config);
    res.once('close', () => {
      if (res.writableFinished || call.cutByServer || this.closing) return;
      record.aborted = true;
      this.abortedCount += 1;
      this.changes.emit('change');
    });
    this.requests.push(record);
    const open = (this.open.get(record.path) ?? 0) + 1;
    this.open.set(record.path, open);
    this.mostOpen.set(record.path, Math.max(open, this.mostOpen.get(record.path) ?? 0));
    res.once('close', () => this.open.set(record.path, (this.open.get(record.path) ?? 1) - 1));
    this.changes.emit('change');

    await call.sleep(script.initialDelayMs ?? 0);
    if (script.hang) return call.untilClosed();
    if (script.status !== undefined && script.status >= 400) return call.sendError(script.status);
    const route = this.config.routes.find(
      (r) =>
        r.method === record.method &&
        (typeof r.path === 'string' ? r.path === record.path : r.path.test(record.path)),
    );
    if (!route) return call.sendError(404);
    await route.handle(call);
  }
}
