import { Readable } from 'node:stream';
import { Agent, EnvHttpProxyAgent, request, type Dispatcher } from 'undici';

// The `fetch` the vendor SDKs (OpenAI, Anthropic: both take one as an option) send their requests
// with: undici's `request`, the lean API of the HTTP client Node's own fetch is built on, with the
// answer handed back as a standard Response. Node's fetch runs the whole WHATWG fetch algorithm on
// every request. Through the OpenAI SDK, against the tests' fake vendor in another process, a title
// (one completion) cost 0.37–0.61 ms of CPU with Node's fetch and 0.22–0.39 ms with this, a reply of
// 40 paced chunks 1.19–1.38 and 0.86–1.08 ms (bench/vendor-fetch-cpu.ts, three rounds; end to end in
// bench/README.md, "Session 19"). Every turn makes one such request, a new session's first two.
//
// What it covers is what the SDKs send: a string URL, a method, headers, and a body that is a string
// or bytes. Anything else (a Request object, a form, a stream, a Blob) goes to Node's fetch, as it
// did before. Redirects are not followed: a vendor API answers where it is asked. The SDKs keep
// their own timeouts and stops: both abort the signal given here, which cancels the request or the
// body being read, with the signal's reason (an AbortError, which is how the SDKs tell a stop).
export const vendorFetch: typeof fetch = async (input, init) => {
  const body = init?.body;
  if (
    (typeof input !== 'string' && !(input instanceof URL)) ||
    !(body === undefined || body === null || typeof body === 'string' || body instanceof Uint8Array)
  )
    return fetch(input, init);
  const answer = await request(input, {
    method: (init?.method ?? 'GET') as Dispatcher.HttpMethod,
    headers: flatHeaders(init?.headers),
    body: body ?? undefined,
    signal: init?.signal ?? undefined,
    dispatcher: sharedAgent,
  });
  const headers = new Headers();
  for (const [name, value] of Object.entries(answer.headers)) {
    if (Array.isArray(value)) for (const one of value) headers.append(name, one);
    else if (value !== undefined) headers.append(name, value);
  }
  // a status that has no body by definition: a Response refuses one
  if (NO_BODY.has(answer.statusCode)) {
    await answer.body.dump();
    return new Response(null, { status: answer.statusCode, headers });
  }
  return new Response(Readable.toWeb(answer.body) as ReadableStream<Uint8Array>, {
    status: answer.statusCode,
    headers,
  });
};

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
