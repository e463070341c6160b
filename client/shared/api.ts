import { codeOfStatus } from './errors';
import { isRecord } from './protocol';

// The HTTP API lives beside the pages: /chat/ for the chat page, ../chat/ for /admin/.
export function apiBase(): URL {
  return new URL('../chat/', window.location.href);
}

// The socket's token goes in the subprotocols, never the URL (`?token=` still works, but a proxy's
// error log writes the URL's query: docs/protocol.md, "Sockets"). The server selects `chatbox`.
export function socketProtocols(token: string): string[] {
  return ['chatbox', `bearer.${token}`];
}

export function wsUrl(params: URLSearchParams): string {
  const url = new URL('ws', apiBase());
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.search = params.toString();
  return url.toString();
}

export class ApiError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
  ) {
    super(code);
  }
}

// GET/POST JSON (a `body` is sent as JSON) with the bearer token; failures become ApiError with the
// server's code (ABORTED: the caller's `signal` ended the request).
export async function apiJson<T>(
  path: string,
  token: string,
  init: {
    method?: string;
    query?: Record<string, string | undefined>;
    body?: unknown;
    signal?: AbortSignal;
    // the answer's headers (a list's `Link` to its next page), before its body is read
    onHeaders?: (headers: Headers) => void;
  } = {},
): Promise<T> {
  const url = new URL(path, apiBase());
  for (const [key, value] of Object.entries(init.query ?? {}))
    if (value !== undefined && value !== '') url.searchParams.set(key, value);
  let response: Response;
  try {
    response = await fetch(url, {
      method: init.method ?? 'GET',
      headers: {
        authorization: `Bearer ${token}`,
        accept: 'application/json',
        ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
      ...(init.signal ? { signal: init.signal } : {}),
    });
  } catch {
    throw new ApiError(init.signal?.aborted ? 'ABORTED' : 'NETWORK', 0);
  }
  if (response.ok) init.onHeaders?.(response.headers);
  const body: unknown = await response.json().catch(() => undefined);
  if (init.signal?.aborted) throw new ApiError('ABORTED', 0);
  if (!response.ok) throw new ApiError(errorCodeOf(body) ?? codeOfStatus(response.status), response.status);
  return body as T;
}

export function errorCodeOf(body: unknown): string | undefined {
  if (!isRecord(body)) return undefined;
  if (typeof body.code === 'string') return body.code;
  if (isRecord(body.error) && typeof body.error.code === 'string') return body.error.code;
  return undefined;
}

// The JWT payload, read without verifying (the server verifies); used for display and expiry only.
export function tokenClaims(token: string): { sub?: string; name?: string; roles: string[]; exp?: number } {
  try {
    const part = token.split('.')[1] ?? '';
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/'));
    const claims: unknown = JSON.parse(json);
    if (!isRecord(claims)) return { roles: [] };
    return {
      sub: typeof claims.sub === 'string' ? claims.sub : undefined,
      name: typeof claims.name === 'string' ? claims.name : undefined,
      roles: Array.isArray(claims.roles) ? claims.roles.filter((role) => typeof role === 'string') : [],
      exp: typeof claims.exp === 'number' ? claims.exp : undefined,
    };
  } catch {
    return { roles: [] };
  }
}
