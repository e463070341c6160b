import type { IncomingMessage } from 'node:http';
import type { Principal } from '../auth/principal';
import { extractToken, type TokenService } from '../auth/token.service';
import { DomainException } from '../errors/domain.exception';

// each request's verdict on its token: the principal, or the refusal
const verdicts = new WeakMap<IncomingMessage, Principal | DomainException>();

// The principal of a request's bearer token, verified once per request: the admin area, the token
// check before a body, the user's line before a body (all middleware) and the AuthGuard ask in turn,
// and each gets the first one's verdict (the same principal, or the same refusal thrown). Only the
// Authorization header: a query token would end up in access logs and referrers.
export function principalOf(tokens: TokenService, request: IncomingMessage): Principal {
  let verdict = verdicts.get(request);
  if (verdict === undefined) {
    try {
      verdict = tokens.verify(extractToken(request.headers.authorization, undefined));
    } catch (error) {
      // anything but a refusal is a bug, not a verdict: thrown as it is, never kept
      if (!(error instanceof DomainException)) throw error;
      verdict = error;
    }
    verdicts.set(request, verdict);
  }
  if (verdict instanceof DomainException) throw verdict;
  return verdict;
}
