import { SignedMediaSource, signedFileUrl } from './uploads';

// GET /chat/files/:id?redirect=false as the server answers it: each call signs a new link.
function filesApi(ttlMs: number) {
  let signed = 0;
  const fetchMock = jest.fn(async () => {
    signed++;
    return new Response(
      JSON.stringify({
        url: `/chat/blob?key=a&signature=${signed}`,
        expires_at: new Date(Date.now() + ttlMs).toISOString(),
      }),
      { status: 200, headers: { 'content-type': 'application/json' } },
    );
  });
  return fetchMock;
}

describe('signed file links', () => {
  const globals = globalThis as { window?: unknown; fetch: typeof fetch };
  const realFetch = globals.fetch;
  let now: number;
  let file = 0;
  // a file of its own per test: the module keeps its cache between tests
  let url: string;

  beforeEach(() => {
    globals.window = { location: { href: 'http://chat.test/chat/' } };
    now = 1_700_000_000_000;
    jest.spyOn(Date, 'now').mockImplementation(() => now);
    url = `/chat/files/f-${++file}`;
  });
  afterEach(() => {
    jest.restoreAllMocks();
    globals.fetch = realFetch;
    delete globals.window;
  });

  // docs/protocol.md, "Uploads and files": a link is reused only while it is surely still good
  it('should reuse a signed link until shortly before it expires, not past it', async () => {
    const api = filesApi(20_000);
    globals.fetch = api as unknown as typeof fetch;
    const first = await signedFileUrl(url, 'token');
    now += 10_000;
    expect(await signedFileUrl(url, 'token')).toBe(first);
    // 16 s in: inside the 30 s reuse window, but within 5 s of the link's expiry
    now += 6_000;
    expect(await signedFileUrl(url, 'token')).not.toBe(first);
    expect(api).toHaveBeenCalledTimes(2);
  });

  it('should reuse a long-lived link for the reuse window only', async () => {
    const api = filesApi(300_000);
    globals.fetch = api as unknown as typeof fetch;
    const first = await signedFileUrl(url, 'token');
    now += 29_000;
    expect(await signedFileUrl(url, 'token')).toBe(first);
    now += 2_000;
    expect(await signedFileUrl(url, 'token')).not.toBe(first);
  });

  it('should re-sign a player whose link failed, once per failure', async () => {
    const api = filesApi(300_000);
    globals.fetch = api as unknown as typeof fetch;
    const shown: string[] = [];
    const media = new SignedMediaSource(url, 'token', (signed) => shown.push(signed));
    await media.start();
    expect(shown).toHaveLength(1);
    // the link expired: a seek answers 403 and the element errors; a fresh link, not the cached one
    expect(await media.failed()).toBe(true);
    expect(shown).toHaveLength(2);
    expect(shown[1]).not.toBe(shown[0]);
    // the fresh link fails before it played anything: not re-signed again (a file gone would loop)
    expect(await media.failed()).toBe(false);
    expect(shown).toHaveLength(2);
    // it played, then its link expired too: that is a new failure
    media.played();
    expect(await media.failed()).toBe(true);
    expect(shown).toHaveLength(3);
    expect(api).toHaveBeenCalledTimes(3);
  });
});
