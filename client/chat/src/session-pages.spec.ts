import { loadSessionPage, mergeSessionPage, nextPageCursor, type SessionSummary } from './session-pages';

const session = (id: string, at: string): SessionSummary => ({
  id,
  name: id,
  last_message_at: at,
  message_count: 1,
  admin_assisted: false,
  is_active: false,
});

// The Conversations list pages through GET /chat/sessions (client audit t21: it stopped at the newest
// 100, though a full page names the next in `Link: <…&before=…>; rel="next"`).
describe('session list pages', () => {
  const globals = globalThis as unknown as { window?: unknown };
  const realFetch = globalThis.fetch;
  beforeEach(() => {
    globals.window = { location: { href: 'https://app.example/chat/' } };
  });
  afterEach(() => {
    globalThis.fetch = realFetch;
    delete globals.window;
  });

  it("should read the next page's cursor from the Link header, and nothing from anything else", () => {
    expect(
      nextPageCursor('</chat/sessions?limit=100&before=2026-01-01T00%3A00%3A00.000Z_abc>; rel="next"'),
    ).toBe('2026-01-01T00:00:00.000Z_abc');
    expect(
      nextPageCursor('<https://other.example/x?before=c1>; rel="prev", </chat/sessions?before=c2>; rel=next'),
    ).toBe('c2');
    for (const link of [null, '', 'garbage', '</chat/sessions?limit=100>; rel="next"', '<::>; rel="next"'])
      expect(nextPageCursor(link)).toBeNull();
  });

  it('should ask for the page after the cursor with the same filter, and say whether one follows', async () => {
    const asked: string[] = [];
    globalThis.fetch = jest.fn(async (url: URL | string) => {
      asked.push(String(url));
      const last = String(url).includes('before=');
      return {
        ok: true,
        status: 200,
        headers: new Headers(
          last ? {} : { link: '</chat/sessions?archived=true&limit=100&before=c1>; rel="next"' },
        ),
        json: async () => [session(last ? 'old' : 'new', '2026-01-01T00:00:00.000Z')],
      } as unknown as Response;
    }) as typeof fetch;
    const first = await loadSessionPage('token', true);
    expect(first).toMatchObject({ items: [{ id: 'new' }], next: 'c1' });
    const second = await loadSessionPage('token', true, first.next ?? undefined);
    expect(second).toMatchObject({ items: [{ id: 'old' }], next: null });
    expect(new URL(asked[1]).searchParams.get('before')).toBe('c1');
    expect(new URL(asked[1]).searchParams.get('archived')).toBe('true');
  });

  it('should add a page below the ones shown, each session once, most recent first', () => {
    const shown = [session('a', '2026-01-03T00:00:00.000Z'), session('b', '2026-01-02T00:00:00.000Z')];
    // b had new activity between the reads: the later page names it again
    const merged = mergeSessionPage(shown, [
      session('b', '2026-01-02T00:00:00.000Z'),
      session('c', '2026-01-01T00:00:00.000Z'),
    ]);
    expect(merged.map((entry) => entry.id)).toEqual(['a', 'b', 'c']);
  });
});
