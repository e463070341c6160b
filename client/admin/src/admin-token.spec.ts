import { watchAddressToken, watchExpiry } from './admin-token';

// a JWT whose payload the client reads (exp in seconds); the signature is the server's business
const jwt = (exp: number) =>
  `e30.${Buffer.from(JSON.stringify({ sub: 'admin', exp })).toString('base64url')}.c2ln`;

describe(watchExpiry.name, () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('should say when the token expires, and at once for one already expired', () => {
    const expired = jest.fn();
    watchExpiry(jwt(Math.floor(Date.now() / 1000) + 60), expired);
    jest.advanceTimersByTime(59_000);
    expect(expired).not.toHaveBeenCalled();
    jest.advanceTimersByTime(1_000);
    expect(expired).toHaveBeenCalledTimes(1);
    const late = jest.fn();
    watchExpiry(jwt(Math.floor(Date.now() / 1000) - 1), late);
    expect(late).toHaveBeenCalledTimes(1);
  });

  it('should say nothing once cancelled (a fresh token came)', () => {
    const expired = jest.fn();
    const cancel = watchExpiry(jwt(Math.floor(Date.now() / 1000) + 60), expired);
    cancel();
    jest.advanceTimersByTime(120_000);
    expect(expired).not.toHaveBeenCalled();
  });
});

describe(watchAddressToken.name, () => {
  const addressWindow = () => {
    const listeners = new Map<string, () => void>();
    const stored = new Map<string, string>();
    const win = {
      location: { href: 'https://app.example/admin/', hash: '', search: '' },
      history: {
        state: null,
        replaceState: (_state: unknown, _title: string, url: string) => {
          win.location.href = url;
          win.location.hash = new URL(url).hash;
        },
      },
      sessionStorage: {
        getItem: (key: string) => stored.get(key) ?? null,
        setItem: (key: string, value: string) => stored.set(key, value),
      },
      addEventListener: (type: string, listener: () => void) => listeners.set(type, listener),
      removeEventListener: (type: string) => listeners.delete(type),
    };
    return { win, listeners, stored };
  };

  it('should take a fresh token pasted into the address, and out of it', () => {
    const { win, listeners, stored } = addressWindow();
    const tokens: string[] = [];
    const stop = watchAddressToken(win as never, (token) => tokens.push(token));
    const fresh = jwt(Math.floor(Date.now() / 1000) + 3600);
    win.location.hash = `#token=${fresh}`;
    win.location.href = `https://app.example/admin/#token=${fresh}`;
    listeners.get('hashchange')?.();
    expect(tokens).toEqual([fresh]);
    expect(win.location.href).not.toContain('token=');
    expect([...stored.values()]).toEqual([fresh]);
    // another hash change without a token says nothing
    win.location.hash = '#other';
    listeners.get('hashchange')?.();
    expect(tokens).toEqual([fresh]);
    stop();
    expect(listeners.has('hashchange')).toBe(false);
  });
});
