import type { IncomingMessage } from 'node:http';
import type { Principal } from '../../common/auth/principal';
import type { TokenService } from '../../common/auth/token.service';
import { DomainException } from '../../common/errors/domain.exception';
import { upgradeToken } from './socket-token';

// `query`: the request's query, parsed once here for the gateway
export type AuthenticatedRequest = IncomingMessage & { principal?: Principal; query?: URLSearchParams };

// Decides an upgrade before any socket exists: 403 for a foreign Origin, 401 for a bad token (in
// `Authorization`, a `bearer.` subprotocol or `?token=`: src/modules/chat/socket-token.ts).
export function checkUpgrade(
  request: AuthenticatedRequest,
  tokens: TokenService,
  allowedOrigins: string[],
): { ok: true } | { ok: false; status: number; reason: string } {
  const origin = request.headers.origin;
  if (origin && !originAllowed(origin, request.headers.host, allowedOrigins)) {
    return { ok: false, status: 403, reason: 'Origin not allowed' };
  }
  const query = new URL(request.url ?? '/', 'http://localhost').searchParams;
  request.query = query;
  try {
    request.principal = tokens.verify(upgradeToken(request, query));
    return { ok: true };
  } catch (error) {
    if (error instanceof DomainException) return { ok: false, status: 401, reason: 'Unauthorized' };
    throw error;
  }
}

// The page's own origin is always allowed (the server serves the chat client itself).
export function originAllowed(origin: string, host: string | undefined, allowed: string[]): boolean {
  if (allowed.includes('*') || allowed.includes(origin)) return true;
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false;
  }
}
