import { JwtService } from '@nestjs/jwt';
import fc from 'fast-check';
import { createHmac, generateKeyPairSync, sign as signData, type KeyObject } from 'node:crypto';
import type { Settings } from '../../config/settings';
import { shownName, wholeTextProblem } from '../display-text';
import { DomainException } from '../errors/domain.exception';
import { ErrorCode } from '../errors/error-code';
import type { Principal } from './principal';
import { extractToken, TokenService } from './token.service';

const SECRET = 'a-forty-character-secret-for-hs256-tests';
const ADMIN_ROLES = ['admin', 'chat_admin'];

type Claims = Record<string, unknown>;
type Signer =
  | { kind: 'hmac'; alg: 'HS256' | 'HS384'; secret: string | Buffer }
  | { kind: 'rsa'; key: KeyObject }
  | { kind: 'ec'; key: KeyObject }
  | { kind: 'none' };

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

// Tokens are built by hand so any claim (even a malformed one) and any algorithm can be tried.
function makeToken(claims: Claims, signer: Signer): string {
  const alg =
    signer.kind === 'hmac'
      ? signer.alg
      : signer.kind === 'rsa'
        ? 'RS256'
        : signer.kind === 'ec'
          ? 'ES256'
          : 'none';
  const input = `${base64url({ alg, typ: 'JWT' })}.${base64url(claims)}`;
  switch (signer.kind) {
    case 'none':
      return `${input}.`;
    case 'hmac': {
      const digest = signer.alg === 'HS256' ? 'sha256' : 'sha384';
      return `${input}.${createHmac(digest, signer.secret).update(input).digest('base64url')}`;
    }
    case 'rsa':
      return `${input}.${signData('sha256', Buffer.from(input), signer.key).toString('base64url')}`;
    case 'ec': {
      const signature = signData('sha256', Buffer.from(input), {
        key: signer.key,
        dsaEncoding: 'ieee-p1363',
      });
      return `${input}.${signature.toString('base64url')}`;
    }
  }
}

// JWT_CLOCK_TOLERANCE at its default (5 s) unless given
function settingsWith(
  jwt: Omit<Settings['jwt'], 'clockToleranceMs'> & { clockToleranceMs?: number },
): Settings {
  return { jwt: { clockToleranceMs: 5000, ...jwt } } as Settings;
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

function validClaims(overrides: Claims = {}): Claims {
  return { sub: 'user-1', exp: nowSeconds() + 3600, ...overrides };
}

// The outcome of verify(): the principal, or the error code of the DomainException it threw.
function outcome(service: TokenService, token: string | undefined): Principal | ErrorCode {
  try {
    return service.verify(token);
  } catch (error) {
    if (error instanceof DomainException) return error.code;
    throw error;
  }
}

function expectRejected(service: TokenService, token: string | undefined): void {
  expect(outcome(service, token)).toBe(ErrorCode.UNAUTHORIZED);
}

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const otherRsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const otherEc = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pem = (key: KeyObject): string => key.export({ type: 'spki', format: 'pem' }).toString();

describe(TokenService.name, () => {
  describe('with JWT_SECRET (HS256)', () => {
    const service = new TokenService(
      new JwtService({}),
      settingsWith({ secret: SECRET, adminRoles: ADMIN_ROLES }),
    );

    type SigningChoice = 'right' | 'wrong-secret' | 'none' | 'hs384' | 'rs256';
    const signerFor = (choice: SigningChoice): Signer => {
      switch (choice) {
        case 'right':
          return { kind: 'hmac', alg: 'HS256', secret: SECRET };
        case 'wrong-secret':
          return { kind: 'hmac', alg: 'HS256', secret: `${SECRET}x` };
        case 'none':
          return { kind: 'none' };
        case 'hs384':
          return { kind: 'hmac', alg: 'HS384', secret: SECRET };
        case 'rs256':
          return { kind: 'rsa', key: rsa.privateKey };
      }
    };

    const subject = fc.oneof(
      fc.constant(undefined),
      fc.constant(''),
      { arbitrary: fc.string({ minLength: 1, maxLength: 64 }), weight: 4 },
      // any code point, and text holding half a pair
      fc.string({ unit: 'binary', minLength: 1, maxLength: 64 }),
      fc
        .tuple(fc.string({ maxLength: 8 }), fc.constantFrom('\uD800', '\uDFFF', '\uD83D'))
        .map(([text, half]) => `${text}${half}`),
      fc.integer(),
      fc.constant(null),
    );
    // offsets in seconds from now; kept away from the exp boundary so a second ticking over cannot flip them
    const expiry = fc.oneof(
      fc.record({ kind: fc.constant('past' as const), offset: fc.integer({ min: -1_000_000, max: 0 }) }),
      {
        arbitrary: fc.record({
          kind: fc.constant('future' as const),
          offset: fc.integer({ min: 60, max: 1_000_000 }),
        }),
        weight: 3,
      },
      fc.record({ kind: fc.constant('missing' as const), offset: fc.constant(0) }),
      fc.record({ kind: fc.constant('garbage' as const), offset: fc.constant(0) }),
      // past what a date can hold (the clock's limit, year 275760): signed, but no instant
      fc.record({
        kind: fc.constant('beyond' as const),
        offset: fc.oneof(
          fc.constant(1e13),
          fc.constant(9e15),
          fc.double({ min: 8_640_000_000_001, max: 1e300, noNaN: true }),
        ),
      }),
    );
    const notBefore = fc.oneof(
      fc.record({ kind: fc.constant('absent' as const), offset: fc.constant(0) }),
      fc.record({ kind: fc.constant('past' as const), offset: fc.integer({ min: -1_000_000, max: 0 }) }),
      fc.record({ kind: fc.constant('future' as const), offset: fc.integer({ min: 60, max: 1_000_000 }) }),
      // within JWT_CLOCK_TOLERANCE (5 s): a parent app's clock a little ahead of ours
      fc.record({ kind: fc.constant('soon' as const), offset: fc.integer({ min: 1, max: 3 }) }),
      fc.record({ kind: fc.constant('garbage' as const), offset: fc.constant(0) }),
    );
    const roles = fc.oneof(
      fc.constant(undefined),
      fc.array(
        fc.oneof(
          fc.constantFrom('admin', 'chat_admin', 'user', 'editor', 'Admin'),
          fc.string(),
          fc.integer(),
        ),
      ),
      fc.string(),
      fc.integer(),
      fc.constant(null),
      fc.dictionary(fc.string(), fc.string()),
    );
    const name = fc.option(
      fc.oneof(fc.string({ maxLength: 60 }), fc.string({ unit: 'binary', maxLength: 260 })),
      { nil: undefined },
    );
    const signing = fc.oneof(
      { arbitrary: fc.constant<SigningChoice>('right'), weight: 4 },
      fc.constantFrom<SigningChoice>('wrong-secret', 'none', 'hs384', 'rs256'),
    );

    it('should return a principal exactly when the token is valid and throw UNAUTHORIZED otherwise', () => {
      let accepted = 0;
      fc.assert(
        fc.property(
          subject,
          expiry,
          notBefore,
          roles,
          name,
          signing,
          (sub, exp, nbf, roleClaim, nameClaim, choice) => {
            const now = nowSeconds();
            const claims: Claims = { iat: now };
            if (sub !== undefined) claims.sub = sub;
            if (exp.kind === 'past' || exp.kind === 'future') claims.exp = now + exp.offset;
            if (exp.kind === 'garbage') claims.exp = 'tomorrow';
            if (exp.kind === 'beyond') claims.exp = exp.offset;
            if (nbf.kind !== 'absent') claims.nbf = nbf.kind === 'garbage' ? 'soon' : now + nbf.offset;
            if (roleClaim !== undefined) claims.roles = roleClaim;
            if (nameClaim !== undefined) claims.name = nameClaim;

            const shouldAccept =
              choice === 'right' &&
              typeof sub === 'string' &&
              sub.length > 0 &&
              wholeTextProblem(sub) === undefined &&
              exp.kind === 'future' &&
              nbf.kind !== 'future' &&
              nbf.kind !== 'garbage';
            const result = outcome(service, makeToken(claims, signerFor(choice)));

            if (!shouldAccept) {
              expect(result).toBe(ErrorCode.UNAUTHORIZED);
              return;
            }
            accepted++;
            const expectedRoles = Array.isArray(roleClaim)
              ? roleClaim.filter((role): role is string => typeof role === 'string')
              : [];
            expect(result).toEqual({
              userId: sub,
              roles: expectedRoles,
              name: nameClaim !== undefined ? shownName(nameClaim) : undefined,
              isAdmin: expectedRoles.some((role) => ADMIN_ROLES.includes(role)),
              expiresAt: (claims.exp as number) * 1000,
            });
          },
        ),
        { numRuns: 500 },
      );
      // the generators must reach the accepting branch, not only the rejecting one
      expect(accepted).toBeGreaterThan(10);
    });

    it('should accept a token when it is signed with the secret and not expired', () => {
      const exp = nowSeconds() + 600;
      const principal = service.verify(makeToken(validClaims({ exp, name: 'Ada' }), signerFor('right')));
      expect(principal).toEqual({
        userId: 'user-1',
        roles: [],
        name: 'Ada',
        isAdmin: false,
        expiresAt: exp * 1000,
      });
    });

    // the store writes U+FFFD for a lone surrogate: `x\uD800` and `x\uDFFF` would be one user there
    it('should throw UNAUTHORIZED saying so when sub is not whole Unicode, and take a whole pair', () => {
      for (const sub of ['user\uD800', 'user\uDFFF', '\uDE00user', 'a\uD83D\uD83Db']) {
        expect(() => service.verify(makeToken(validClaims({ sub }), signerFor('right')))).toThrow(
          'Token subject is not valid Unicode.',
        );
      }
      expect(service.verify(makeToken(validClaims({ sub: 'user😀' }), signerFor('right'))).userId).toBe(
        'user😀',
      );
    });

    // the name is shown to the user and other admins (docs/protocol.md, "Tokens")
    it('should clean the name claim: whole characters, no control or bidi control, at most 200 units', () => {
      const nameOf = (name: string) =>
        service.verify(makeToken(validClaims({ name }), signerFor('right'))).name;
      expect(nameOf(`${'a'.repeat(199)}😀 Support`)).toBe('a'.repeat(199));
      expect(nameOf('Ada\uD800')).toBe('Ada');
      expect(nameOf('Ada \u202Eevil.exe')).toBe('Ada evil.exe');
      expect(nameOf('Ada\u001b[2J\u0000')).toBe('Ada[2J');
      expect(nameOf('\u202E \u200B\u0000')).toBeUndefined();
      expect(nameOf('')).toBeUndefined();
    });

    it('should mark the principal as admin when roles contain a configured admin role', () => {
      for (const role of ADMIN_ROLES) {
        const principal = service.verify(
          makeToken(validClaims({ roles: ['viewer', role] }), signerFor('right')),
        );
        expect(principal.isAdmin).toBe(true);
        expect(principal.roles).toEqual(['viewer', role]);
      }
    });

    it('should not mark the principal as admin when roles only resemble an admin role', () => {
      const principal = service.verify(
        makeToken(validClaims({ roles: ['Admin', 'administrator'] }), signerFor('right')),
      );
      expect(principal.isAdmin).toBe(false);
    });

    it('should default roles to an empty list when the claim is missing or not an array', () => {
      expect(service.verify(makeToken(validClaims(), signerFor('right'))).roles).toEqual([]);
      const garbage = service.verify(makeToken(validClaims({ roles: 'admin' }), signerFor('right')));
      expect(garbage.roles).toEqual([]);
      expect(garbage.isAdmin).toBe(false);
    });

    it('should use the configured admin roles when they differ from the defaults', () => {
      const custom = new TokenService(
        new JwtService({}),
        settingsWith({ secret: SECRET, adminRoles: ['support'] }),
      );
      expect(custom.verify(makeToken(validClaims({ roles: ['support'] }), signerFor('right'))).isAdmin).toBe(
        true,
      );
      expect(custom.verify(makeToken(validClaims({ roles: ['admin'] }), signerFor('right'))).isAdmin).toBe(
        false,
      );
    });

    it('should throw UNAUTHORIZED when the token is missing or empty', () => {
      expectRejected(service, undefined);
      expectRejected(service, '');
      expect(() => service.verify(undefined)).toThrow(DomainException);
    });

    it('should throw UNAUTHORIZED when the token is not a JWT', () => {
      expectRejected(service, 'not-a-token');
      expectRejected(service, 'a.b.c');
    });

    it('should throw UNAUTHORIZED when the token uses alg none', () => {
      expectRejected(service, makeToken(validClaims(), { kind: 'none' }));
      // a none token that still carries the right HS256 signature must not pass either
      const signed = makeToken(validClaims(), signerFor('right'));
      const [, payload, signature] = signed.split('.');
      expectRejected(service, `${base64url({ alg: 'none', typ: 'JWT' })}.${payload}.${signature}`);
    });

    it('should throw UNAUTHORIZED when the payload was changed after signing', () => {
      const signed = makeToken(validClaims({ roles: [] }), signerFor('right'));
      const [header, , signature] = signed.split('.');
      expectRejected(service, `${header}.${base64url(validClaims({ roles: ['admin'] }))}.${signature}`);
    });

    it('should throw UNAUTHORIZED when exp is exactly now', () => {
      expectRejected(service, makeToken(validClaims({ exp: nowSeconds() }), signerFor('right')));
    });

    it('should throw UNAUTHORIZED when sub is longer than 256 characters', () => {
      expectRejected(service, makeToken(validClaims({ sub: 'u'.repeat(257) }), signerFor('right')));
      expect(
        service.verify(makeToken(validClaims({ sub: 'u'.repeat(256) }), signerFor('right'))).userId,
      ).toHaveLength(256);
    });
  });

  describe('with JWT_PUBLIC_KEY (RS256)', () => {
    const service = new TokenService(
      new JwtService({}),
      settingsWith({ publicKey: pem(rsa.publicKey), adminRoles: ADMIN_ROLES }),
    );

    it('should accept a token when it is signed with the matching RSA private key', () => {
      const principal = service.verify(
        makeToken(validClaims({ roles: ['chat_admin'] }), { kind: 'rsa', key: rsa.privateKey }),
      );
      expect(principal.userId).toBe('user-1');
      expect(principal.isAdmin).toBe(true);
    });

    it('should reject every other signer when the server holds an RSA public key', () => {
      const wrongSigners: Signer[] = [
        { kind: 'rsa', key: otherRsa.privateKey },
        { kind: 'ec', key: ec.privateKey },
        { kind: 'none' },
        { kind: 'hmac', alg: 'HS256', secret: SECRET },
        // algorithm confusion: the public key PEM used as an HMAC secret
        { kind: 'hmac', alg: 'HS256', secret: pem(rsa.publicKey) },
      ];
      fc.assert(
        fc.property(
          fc.constantFrom(...wrongSigners),
          fc.string({ minLength: 1, maxLength: 20 }),
          (signer, sub) => {
            expectRejected(service, makeToken(validClaims({ sub }), signer));
          },
        ),
        { numRuns: 50 },
      );
    });

    it('should throw UNAUTHORIZED when a correctly signed RS256 token is expired or not yet valid', () => {
      const key: Signer = { kind: 'rsa', key: rsa.privateKey };
      expectRejected(service, makeToken(validClaims({ exp: nowSeconds() - 10 }), key));
      expectRejected(service, makeToken(validClaims({ nbf: nowSeconds() + 600 }), key));
      expectRejected(service, makeToken({ sub: 'user-1' }, key));
    });

    // Found by the timers black-box audit in session 43: a token whose nbf was 1 s ahead was refused
    it('should take an nbf up to JWT_CLOCK_TOLERANCE ahead, and hold exp to the second', () => {
      const key: Signer = { kind: 'rsa', key: rsa.privateKey };
      const token = (claims: Claims) => makeToken(validClaims(claims), key);
      expect(outcome(service, token({ nbf: nowSeconds() + 1 }))).toMatchObject({ userId: 'user-1' });
      expect(outcome(service, token({ nbf: nowSeconds() + 4 }))).toMatchObject({ userId: 'user-1' });
      expectRejected(service, token({ nbf: nowSeconds() + 60 }));
      expectRejected(service, token({ exp: nowSeconds() - 1 }));
      const strict = new TokenService(
        new JwtService({}),
        settingsWith({ publicKey: pem(rsa.publicKey), adminRoles: ADMIN_ROLES, clockToleranceMs: 0 }),
      );
      expectRejected(strict, token({ nbf: nowSeconds() + 2 }));
      expect(outcome(strict, token({ nbf: nowSeconds() }))).toMatchObject({ userId: 'user-1' });
    });
  });

  describe('with JWT_PUBLIC_KEY (ES256)', () => {
    const service = new TokenService(
      new JwtService({}),
      settingsWith({ publicKey: pem(ec.publicKey), adminRoles: ADMIN_ROLES }),
    );

    it('should accept a token when it is signed with the matching EC private key', () => {
      const principal = service.verify(
        makeToken(validClaims({ name: 'Grace' }), { kind: 'ec', key: ec.privateKey }),
      );
      expect(principal).toMatchObject({ userId: 'user-1', name: 'Grace', isAdmin: false });
    });

    it('should reject every other signer when the server holds an EC public key', () => {
      const wrongSigners: Signer[] = [
        { kind: 'ec', key: otherEc.privateKey },
        { kind: 'rsa', key: rsa.privateKey },
        { kind: 'none' },
        { kind: 'hmac', alg: 'HS256', secret: pem(ec.publicKey) },
      ];
      for (const signer of wrongSigners) expectRejected(service, makeToken(validClaims(), signer));
    });
  });
});

describe('extractToken', () => {
  const token = fc.stringMatching(/^[A-Za-z0-9._~+/=-]{1,80}$/);

  it('should return the bearer token when the Authorization header carries one', () => {
    fc.assert(
      fc.property(token, fc.constantFrom('Bearer', 'bearer', 'BEARER'), (value, scheme) => {
        expect(extractToken(`${scheme} ${value}`, undefined)).toBe(value);
      }),
    );
  });

  it('should prefer the header when both the header and ?token= are present', () => {
    expect(extractToken('Bearer from-header', new URLSearchParams('token=from-query'))).toBe('from-header');
  });

  it('should fall back to ?token= when the header is missing or not a bearer token', () => {
    const query = new URLSearchParams('session_id=s1&token=from-query');
    expect(extractToken(undefined, query)).toBe('from-query');
    expect(extractToken('Basic dXNlcjpwYXNz', query)).toBe('from-query');
    expect(extractToken('Bearer two words', query)).toBe('from-query');
    expect(extractToken('Bearer', query)).toBe('from-query');
  });

  it('should return undefined when there is no token anywhere', () => {
    expect(extractToken(undefined, undefined)).toBeUndefined();
    expect(extractToken(undefined, new URLSearchParams('session_id=s1'))).toBeUndefined();
    expect(extractToken('Basic abc', new URLSearchParams())).toBeUndefined();
  });
});
