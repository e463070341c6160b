import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import type { Algorithm } from 'jsonwebtoken';
import { SETTINGS, type Settings } from '../../config/settings';
import { shownName, wholeTextProblem } from '../display-text';
import { DomainException } from '../errors/domain.exception';
import { ErrorCode } from '../errors/error-code';
import type { Principal } from './principal';

// The single token check for HTTP and WebSocket: signature with the configured algorithms only
// (never `none`), `exp` required and strict, `nbf` honoured with JWT_CLOCK_TOLERANCE, `sub` required
// and whole Unicode, `name` cleaned (docs/protocol.md, "Tokens").
@Injectable()
export class TokenService {
  // A key object, made once: given a string, jsonwebtoken parses it as a public key on every verify
  // and, after that throws, makes a secret key of it (26 → 6 µs per HS256 verify in isolation).
  private readonly key: KeyObject;
  private readonly algorithms: Algorithm[];
  private readonly adminRoles: Set<string>;
  private readonly nbfToleranceMs: number;

  constructor(
    private readonly jwt: JwtService,
    @Inject(SETTINGS) settings: Settings,
  ) {
    if (settings.jwt.publicKey) {
      this.key = createPublicKey(settings.jwt.publicKey);
      this.algorithms = ['RS256', 'ES256'];
    } else {
      this.key = createSecretKey(Buffer.from(settings.jwt.secret as string));
      this.algorithms = ['HS256'];
    }
    this.adminRoles = new Set(settings.jwt.adminRoles);
    this.nbfToleranceMs = settings.jwt.clockToleranceMs;
  }

  verify(token: string | undefined): Principal {
    if (!token) throw new DomainException(ErrorCode.UNAUTHORIZED, 'Missing token.');
    let claims: Record<string, unknown>;
    try {
      // JwtVerifyOptions types the key as string | Buffer; jsonwebtoken, which it is passed to, takes
      // a KeyObject (and then skips the conversion)
      const key = this.key as unknown as string;
      claims = this.jwt.verify<Record<string, unknown>>(token, {
        secret: key,
        publicKey: key,
        algorithms: this.algorithms,
        // checked below: jsonwebtoken's clockTolerance would stretch `exp` as well
        ignoreNotBefore: true,
      });
    } catch {
      throw new DomainException(ErrorCode.UNAUTHORIZED, 'Invalid or expired token.');
    }
    // Until the timers audit of session 43 `nbf` had no leeway: a parent app whose clock ran a second
    // ahead and stamped nbf = iat had its token refused (the upgrade 401, an auth_refresh closed 4401).
    const { nbf } = claims;
    if (nbf !== undefined && (typeof nbf !== 'number' || nbf * 1000 > Date.now() + this.nbfToleranceMs))
      throw new DomainException(ErrorCode.UNAUTHORIZED, 'Invalid or expired token.');
    const { sub, roles, name, exp } = claims;
    if (typeof sub !== 'string' || sub.length === 0 || sub.length > 256) {
      throw new DomainException(ErrorCode.UNAUTHORIZED, 'Token has no subject.');
    }
    // The store's UTF-8 writes U+FFFD for a lone surrogate, in documents and in queries alike: two
    // subjects that differ only in one would be one user there. Until the text-limits audit of session
    // 42 `base\uDFFF` listed `base\uD800`'s session and its name (its first message) (3 of 3 runs).
    if (wholeTextProblem(sub) !== undefined)
      throw new DomainException(ErrorCode.UNAUTHORIZED, 'Token subject is not valid Unicode.');
    if (typeof exp !== 'number') throw new DomainException(ErrorCode.UNAUTHORIZED, 'Token has no expiry.');
    // an expiry past what a date can hold (signed, but no instant): every expiry check and timer of
    // the socket threw on it (INTERNAL, and a close the client retried for ever)
    if (!Number.isFinite(new Date(exp * 1000).getTime()))
      throw new DomainException(ErrorCode.UNAUTHORIZED, 'Token expiry is out of range.');
    const roleList = Array.isArray(roles)
      ? roles.filter((role): role is string => typeof role === 'string')
      : [];
    return {
      userId: sub,
      roles: roleList,
      // shown to the user and to other admins as the admin's name: held to the rule of a name people
      // see (shownName), none when nothing visible remains
      name: typeof name === 'string' ? shownName(name) : undefined,
      isAdmin: roleList.some((role) => this.adminRoles.has(role)),
      expiresAt: exp * 1000,
    };
  }
}

// Bearer header first, then ?token= (browsers and webviews cannot set WS headers).
export function extractToken(
  authorization: string | undefined,
  query: URLSearchParams | undefined,
): string | undefined {
  if (authorization) {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization);
    if (match) return match[1];
  }
  return query?.get('token') ?? undefined;
}
