import type { RequestHandler } from 'express';
import { DomainException } from '../errors/domain.exception';
import { ErrorCode } from '../errors/error-code';
import { refuseUnread } from '../http/request-body';
import { principalOf } from '../http/request-principal';
import type { TokenService } from './token.service';

// Everything under it is for admins (CONTRACT §3).
export const ADMIN_AREA = '/chat/admin';

// Mounted on ADMIN_AREA before routing and before any body is read: without a valid token 401, with
// a non-admin's 403, whatever the path or method, routed or not. Paths with no route answered 404
// to anyone, which told a non-admin what is routed there. An admin goes on to the routes (or their
// 404); @AdminOnly() on each route still says the same per route. No preflight to spare: the app
// sends no CORS headers, so no browser on another origin could call these anyway.
export function adminArea(tokens: TokenService): RequestHandler {
  return (request, response, next) => {
    try {
      // the verdict the AuthGuard gets too (the token is verified once per request)
      const principal = principalOf(tokens, request);
      if (!principal.isAdmin) throw new DomainException(ErrorCode.FORBIDDEN);
    } catch (error) {
      if (!(error instanceof DomainException)) return next(error);
      return refuseUnread(request, response, error);
    }
    next();
  };
}
