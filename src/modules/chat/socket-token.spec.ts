import fc from 'fast-check';
import { BEARER_PROTOCOL_PREFIX, protocolToken, selectProtocol, SOCKET_PROTOCOL } from './socket-token';

// RFC 7230 tchars without the comma and whitespace that separate offered subprotocols
const TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".split('');
const tokenChars = fc.string({ unit: fc.constantFrom(...TCHARS), minLength: 1, maxLength: 300 });
const jwtChars = fc.string({
  unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.'.split('')),
  minLength: 1,
  maxLength: 600,
});

describe(protocolToken.name, () => {
  it('should read the token of `chatbox, bearer.<jwt>` as a browser sends it', () => {
    expect(protocolToken('chatbox, bearer.e30.eyJzdWIiOiJ1In0.c2ln')).toBe('e30.eyJzdWIiOiJ1In0.c2ln');
    expect(protocolToken(['chatbox', 'bearer.a.b.c'])).toBe('a.b.c');
    expect(protocolToken('chatbox')).toBeUndefined();
    expect(protocolToken('bearer.')).toBeUndefined();
    expect(protocolToken(undefined)).toBeUndefined();
    expect(protocolToken('')).toBeUndefined();
  });

  it('should find a JWT among any other offered subprotocols, wherever it is offered', () => {
    fc.assert(
      fc.property(
        jwtChars,
        fc.array(tokenChars.filter((value) => !value.startsWith(BEARER_PROTOCOL_PREFIX))),
        fc.nat(),
        fc.constantFrom(',', ', ', ' ,\t'),
        (jwt, others, at, separator) => {
          const offered = [...others];
          offered.splice(at % (others.length + 1), 0, `${BEARER_PROTOCOL_PREFIX}${jwt}`);
          expect(protocolToken(offered.join(separator))).toBe(jwt);
        },
      ),
    );
  });

  it('should find none where no bearer. subprotocol is offered, whatever the header holds', () => {
    fc.assert(
      fc.property(fc.string(), (header) => {
        fc.pre(!header.includes(BEARER_PROTOCOL_PREFIX));
        expect(protocolToken(header)).toBeUndefined();
      }),
    );
  });
});

describe(selectProtocol.name, () => {
  it('should select chatbox when offered, and never a bearer. subprotocol (it would echo the token)', () => {
    fc.assert(
      fc.property(fc.array(tokenChars), fc.boolean(), (others, withChatbox) => {
        const offered = new Set([...others, `${BEARER_PROTOCOL_PREFIX}a.b.c`]);
        if (withChatbox) offered.add(SOCKET_PROTOCOL);
        expect(selectProtocol(offered)).toBe(offered.has(SOCKET_PROTOCOL) ? SOCKET_PROTOCOL : false);
      }),
    );
  });
});
