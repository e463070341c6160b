import { sign, type SignOptions } from 'jsonwebtoken';
import { TEST_JWT_SECRET } from './env';

// Real HS256 tokens as a parent app would sign them.
export function userToken(
  sub: string,
  options: {
    roles?: string[];
    name?: string;
    expiresInSeconds?: number;
    secret?: string;
    extra?: SignOptions;
  } = {},
): string {
  const payload: Record<string, unknown> = { sub, roles: options.roles ?? [] };
  if (options.name) payload.name = options.name;
  return sign(payload, options.secret ?? TEST_JWT_SECRET, {
    algorithm: 'HS256',
    expiresIn: options.expiresInSeconds ?? 3600,
    ...options.extra,
  });
}

export function adminToken(sub: string, name = 'Ada Admin'): string {
  return userToken(sub, { roles: ['chat_admin'], name });
}

export function unsignedToken(sub: string): string {
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${encode({ alg: 'none', typ: 'JWT' })}.${encode({ sub, exp: Math.floor(Date.now() / 1000) + 3600 })}.`;
}

export function uniqueUser(prefix = 'user'): string {
  return `${prefix}-${Math.random().toString(36).slice(2, 10)}`;
}
