import type { IncomingMessage } from 'node:http';
import { extractToken } from '../../common/auth/token.service';

// A browser cannot set headers on a WebSocket, but it can offer subprotocols: the chat's web clients
// open `new WebSocket(url, ['chatbox', 'bearer.' + jwt])` (the pattern of Kubernetes' API server),
// and the server selects `chatbox`. `?token=` still works (CONTRACT §2), but a proxy's error log
// writes the request line, query and all: until the deployment-edge audit of session 42 every
// socket token nginx tried on an instance that was down landed in its error log (4 of 4). No proxy
// logs Sec-WebSocket-Protocol (docs/protocol.md, "Sockets"; docs/operations.md, "Logs").
export const SOCKET_PROTOCOL = 'chatbox';
export const BEARER_PROTOCOL_PREFIX = 'bearer.';

// The token offered as a `bearer.<jwt>` subprotocol, if any. A JWT's characters (base64url and
// dots) are all tchars (RFC 6455 §4.1: a subprotocol is an RFC 7230 token), so it passes unchanged.
export function protocolToken(header: string | string[] | undefined): string | undefined {
  const offered = Array.isArray(header) ? header.join(',') : header;
  if (!offered) return undefined;
  for (const entry of offered.split(',')) {
    const value = entry.trim();
    if (value.length > BEARER_PROTOCOL_PREFIX.length && value.startsWith(BEARER_PROTOCOL_PREFIX))
      return value.slice(BEARER_PROTOCOL_PREFIX.length);
  }
  return undefined;
}

// The token of an upgrade: `Authorization: Bearer`, else the subprotocol, else `?token=`.
export function upgradeToken(request: IncomingMessage, query: URLSearchParams): string | undefined {
  return (
    extractToken(request.headers.authorization, undefined) ??
    protocolToken(request.headers['sec-websocket-protocol']) ??
    query.get('token') ??
    undefined
  );
}

// ws's handleProtocols: `chatbox` when offered, else the first offered that is not a `bearer.` one,
// else none. ws's default selects the first offered, which would echo a `bearer.<jwt>` offered first
// back in the answer's headers; a browser that offered subprotocols fails a socket whose answer
// selects none, so our clients offer `chatbox` too. A client's own subprotocol (with `?token=`) is
// selected as ws selected it: until the audit of session 42's own changes such a client was refused
// the socket (3 of 3, both paths).
export function selectProtocol(offered: Set<string>): string | false {
  if (offered.has(SOCKET_PROTOCOL)) return SOCKET_PROTOCOL;
  for (const entry of offered) if (!entry.startsWith(BEARER_PROTOCOL_PREFIX)) return entry;
  return false;
}
