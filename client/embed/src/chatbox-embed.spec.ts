import { chatUrlOf } from './chatbox-embed';

describe('chatUrlOf', () => {
  const where = { baseUrl: 'https://chat.example' };

  it("should pin parent_origin to an http(s) page's origin, and name the session asked for", () => {
    const url = chatUrlOf(where, 'https://app.example/page?x=1', 's7');
    expect(url.toString()).toBe(
      'https://chat.example/chat/?parent_origin=https%3A%2F%2Fapp.example&session_id=s7',
    );
  });

  it('should leave parent_origin out for a page whose origin is opaque or not http(s)', () => {
    for (const [page, origin] of [
      ['about:blank', undefined],
      ['capacitor://localhost/index.html', undefined],
      ['file:///app/index.html', undefined],
      // a sandboxed iframe: its address is https, its origin is opaque
      ['https://app.example/', 'null'],
    ] as const)
      expect(chatUrlOf(where, page, undefined, origin).searchParams.has('parent_origin')).toBe(false);
  });
});
