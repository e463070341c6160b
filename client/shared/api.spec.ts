import { ApiError, apiJson } from './api';

// The shared fetch helper: the bearer token, the query, and a caller's AbortSignal reach fetch.
describe(apiJson.name, () => {
  const realFetch = globalThis.fetch;
  const globals = globalThis as unknown as { window?: unknown };
  beforeEach(() => {
    globals.window = { location: { href: 'https://app.example/admin/' } };
  });
  afterEach(() => {
    globalThis.fetch = realFetch;
    delete globals.window;
  });

  it('should hand the caller’s signal to fetch, and report an aborted request as ABORTED', async () => {
    const seen: Array<RequestInit | undefined> = [];
    globalThis.fetch = jest.fn((_: unknown, init?: RequestInit) => {
      seen.push(init);
      return new Promise<Response>((_, reject) =>
        init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError'))),
      );
    }) as typeof fetch;
    const controller = new AbortController();
    const answer = apiJson('admin/metrics', 'token', { query: { buckets: '12' }, signal: controller.signal });
    controller.abort();
    await expect(answer).rejects.toEqual(new ApiError('ABORTED', 0));
    expect(seen[0]?.signal).toBe(controller.signal);
    expect(seen[0]?.headers).toMatchObject({ authorization: 'Bearer token' });
  });

  it('should report a network failure as NETWORK', async () => {
    globalThis.fetch = jest.fn(() => Promise.reject(new TypeError('failed'))) as typeof fetch;
    await expect(apiJson('sessions', 'token')).rejects.toMatchObject({ code: 'NETWORK', status: 0 });
  });
});
