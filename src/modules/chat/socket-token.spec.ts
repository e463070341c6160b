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
  it('should select chatbox when offered, else the first other one offered, and never a bearer. one (it would echo the token)', () => {
    fc.assert(
      fc.property(fc.array(tokenChars), fc.boolean(), fc.boolean(), (others, withChatbox, bearerFirst) => {
        const bearer = `${BEARER_PROTOCOL_PREFIX}a.b.c`;
        const offered = new Set(bearerFirst ? [bearer, ...others] : [...others, bearer]);
        if (withChatbox) offered.add(SOCKET_PROTOCOL);
        const firstOther = [...offered].find((entry) => !entry.startsWith(BEARER_PROTOCOL_PREFIX));
        const selected = selectProtocol(offered);
        expect(selected).toBe(offered.has(SOCKET_PROTOCOL) ? SOCKET_PROTOCOL : (firstOther ?? false));
        if (selected !== false) expect(selected.startsWith(BEARER_PROTOCOL_PREFIX)).toBe(false);
      }),
    );
  });

  // Until the audit of session 42's own changes a client offering a subprotocol of its own (with
  // `?token=`) was refused the socket: ws's default had selected it (3 of 3, both paths)
  it("should select a client's own subprotocol as ws did before the bearer one existed", () => {
    expect(selectProtocol(new Set(['v1.chat']))).toBe('v1.chat');
    expect(selectProtocol(new Set([`${BEARER_PROTOCOL_PREFIX}x`]))).toBe(false);
  });
});
