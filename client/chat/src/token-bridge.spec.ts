import fc from 'fast-check';
import {
  commandFromMessage,
  isJwtShaped,
  sessionIdFromLocation,
  takeTokenFromLocation,
  TokenBridge,
  tokenFromLocation,
  tokenFromMessage,
} from './token-bridge';

const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl';

describe('token messages from the parent app', () => {
  it('should accept the documented message as an object or as a JSON string', () => {
    expect(tokenFromMessage({ type: 'chatbox:token', token: JWT })).toBe(JWT);
    expect(tokenFromMessage(JSON.stringify({ type: 'chatbox:token', token: JWT }))).toBe(JWT);
  });

  it('should ignore other apps\u2019 messages and anything not shaped like a JWT', () => {
    expect(tokenFromMessage({ type: 'other', token: JWT })).toBeNull();
    expect(tokenFromMessage({ type: 'chatbox:token', token: '<script>' })).toBeNull();
    expect(tokenFromMessage({ type: 'chatbox:token', token: `${JWT}\n` })).toBeNull();
    expect(tokenFromMessage('not json')).toBeNull();
    expect(tokenFromMessage(null)).toBeNull();
  });

  it('should never throw and only ever return a JWT-shaped string, for any input', () => {
    fc.assert(
      fc.property(fc.oneof(fc.anything(), fc.json(), fc.string()), (input) => {
        const token = tokenFromMessage(input);
        expect(token === null || isJwtShaped(token)).toBe(true);
      }),
    );
  });

  it('should find the token in #token= first, then ?token=', () => {
    expect(tokenFromLocation({ hash: `#token=${JWT}`, search: '' })).toBe(JWT);
    expect(tokenFromLocation({ hash: '', search: `?parent_origin=x&token=${JWT}` })).toBe(JWT);
    expect(tokenFromLocation({ hash: '#token=bad', search: '' })).toBeNull();
  });
});

describe('commands from the parent app', () => {
  it('should read open, close and set_session, as objects or JSON strings', () => {
    expect(commandFromMessage({ type: 'chatbox:open' })).toEqual({ type: 'chatbox:open' });
    expect(commandFromMessage('{"type":"chatbox:close"}')).toEqual({ type: 'chatbox:close' });
    expect(commandFromMessage({ type: 'chatbox:set_session', session_id: 'a1-b2' })).toEqual({
      type: 'chatbox:set_session',
      session_id: 'a1-b2',
    });
  });

  it('should ignore anything else, and session ids that are not ids', () => {
    for (const data of [
      null,
      'not json',
      { type: 'chatbox:token', token: 'x' },
      { type: 'chatbox:set_session', session_id: '../../x' },
      { type: 'chatbox:set_session' },
      'x'.repeat(2000),
    ])
      expect(commandFromMessage(data)).toBeNull();
  });
});

describe('the session asked for in the address (the SDK\u2019s sessionId)', () => {
  it('should read ?session_id= when it is an id', () => {
    expect(sessionIdFromLocation({ search: '?parent_origin=x&session_id=a1-b2', hash: '' })).toBe('a1-b2');
    expect(sessionIdFromLocation({ search: '?session_id=..%2Fx', hash: '' })).toBeNull();
    expect(sessionIdFromLocation({ search: '', hash: '' })).toBeNull();
  });
});

// The token the address brought is kept for a reload of the page only (embed audit, session 41: a
// webview loaded for another user signed in with the token kept from the first one's address).
describe('the token kept for a reload', () => {
  const page = (hash: string, navigation: string | undefined, stored = new Map<string, string>()) => {
    const win = {
      location: { href: `https://chat.example/chat/${hash}`, hash, search: '' },
      history: { state: null, replaceState: () => undefined },
      sessionStorage: {
        getItem: (key: string) => stored.get(key) ?? null,
        setItem: (key: string, value: string) => void stored.set(key, value),
        removeItem: (key: string) => void stored.delete(key),
      },
      performance: {
        getEntriesByType: (type: string) =>
          type === 'navigation' && navigation ? [{ type: navigation }] : [],
      },
    };
    return { win: win as never, stored };
  };

  it('should sign a reload in with the kept token', () => {
    const { win, stored } = page(`#token=${JWT}`, 'navigate');
    expect(takeTokenFromLocation(win)).toBe(JWT);
    expect(takeTokenFromLocation(page('', 'reload', stored).win)).toBe(JWT);
  });

  it('should forget it and take none on any other visit, or where the visit is unknown', () => {
    fc.assert(
      fc.property(
        fc.option(fc.constantFrom('navigate', 'back_forward', 'prerender', 'other'), { nil: undefined }),
        (navigation) => {
          const { win, stored } = page(`#token=${JWT}`, 'navigate');
          takeTokenFromLocation(win);
          expect(takeTokenFromLocation(page('', navigation, stored).win)).toBeNull();
          expect(stored.size).toBe(0);
          // and a reload after it asks the host too
          expect(takeTokenFromLocation(page('', 'reload', stored).win)).toBeNull();
        },
      ),
    );
  });

  it('should forget it once the host hands a token over', () => {
    const stored = new Map([['chatbox:token', JWT]]);
    const listeners: Array<(event: unknown) => void> = [];
    const parent = { postMessage: () => undefined };
    const win = {
      location: { search: '', hash: '' },
      parent,
      sessionStorage: { removeItem: (key: string) => void stored.delete(key) },
      addEventListener: (_type: string, listener: (event: unknown) => void) => listeners.push(listener),
      document: { addEventListener: () => undefined },
    };
    new TokenBridge(win as unknown as Window);
    for (const listener of listeners)
      listener({
        source: parent,
        origin: 'https://app.example',
        data: { type: 'chatbox:token', token: JWT },
      });
    expect(stored.size).toBe(0);
  });
});

describe(TokenBridge.name, () => {
  // a chat in an iframe: its parent posts to it from `origin`
  const framed = (
    search: string,
    postMessage: (message: unknown, target: string) => void = () => undefined,
  ) => {
    const listeners: Array<(event: unknown) => void> = [];
    const parent = { postMessage: jest.fn(postMessage) };
    const win = {
      location: { search, hash: '' },
      parent,
      addEventListener: (_type: string, listener: (event: unknown) => void) => listeners.push(listener),
      document: { addEventListener: () => undefined },
    };
    const bridge = new TokenBridge(win as unknown as Window);
    const tokens: string[] = [];
    bridge.onToken((token) => tokens.push(token));
    const send = (origin: string, data: unknown) => {
      for (const listener of listeners) listener({ source: parent, origin, data });
    };
    return { bridge, parent, tokens, send };
  };

  it('should read parent_origin as an origin: a trailing slash and upper case still match', () => {
    const { bridge, parent, tokens, send } = framed(
      `?parent_origin=${encodeURIComponent('HTTPS://App.Example/')}`,
    );
    send('https://app.example', { type: 'chatbox:token', token: JWT });
    expect(tokens).toEqual([JWT]);
    bridge.post({ type: 'chatbox:ready' });
    expect(parent.postMessage).toHaveBeenCalledWith(
      { source: 'chatbox', type: 'chatbox:ready' },
      'https://app.example',
    );
  });

  it('should take tokens only from the parent_origin given, and address it only', () => {
    const { bridge, parent, tokens, send } = framed('?parent_origin=https%3A%2F%2Fapp.example');
    send('https://evil.example', { type: 'chatbox:token', token: JWT });
    expect(tokens).toEqual([]);
    bridge.request('expired');
    expect(parent.postMessage.mock.calls.map(([, target]) => target)).toEqual(['https://app.example']);
  });

  it('should treat parent_origin=null or one that is no origin as not set, and never throw from post', () => {
    for (const value of ['null', 'not a url', 'capacitor%3A%2F%2Flocalhost']) {
      const { bridge, parent, tokens, send } = framed(`?parent_origin=${value}`, (_message, target) => {
        // as a browser's postMessage with a target that is no origin
        if (target !== '*' && !/^https?:\/\//.test(target)) throw new SyntaxError('Invalid target origin');
      });
      expect(() => bridge.post({ type: 'chatbox:ready' })).not.toThrow();
      expect(parent.postMessage.mock.calls.at(-1)?.[1]).toBe('*');
      send('null', { type: 'chatbox:token', token: JWT });
      expect(tokens).toEqual([JWT]);
    }
  });

  it('should never throw from post, even when the parent refuses the message', () => {
    const { bridge } = framed('', () => {
      throw new Error('DataCloneError');
    });
    expect(() => bridge.post({ type: 'chatbox:ready' })).not.toThrow();
  });
});
