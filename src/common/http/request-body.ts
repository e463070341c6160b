import { isUtf8 } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { json, type ErrorRequestHandler, type Request, type RequestHandler, type Response } from 'express';
import type { TokenService } from '../auth/token.service';
import { DomainException } from '../errors/domain.exception';
import { ErrorCode, httpStatusOf } from '../errors/error-code';
import { untrustedJsonProblem } from '../untrusted-json';
import { drainRest } from './drain-rest';
import { httpRefusalOf, sendError } from './http-errors';
import { principalOf } from './request-principal';
import type { UserRequests } from './user-requests';

// No route takes more than a few fields of JSON (uploads are multipart and read by their own
// route); WS frames have their own limit (WS_MAX_PAYLOAD_BYTES)
export const JSON_BODY_LIMIT_BYTES = 64 * 1024;
// The rest of a refused body is read and dropped after the answer, up to these bounds (nginx's
// lingering close reads a refused client's rest the same way, for its lingering_time of 30 s):
// past the largest body nginx passes to the app (client_max_body_size 26m on /chat/uploads), and
// nginx's own time. Past either the connection is closed.
export const REFUSED_BODY_DRAIN_BYTES = 32 * 1024 * 1024;
export const REFUSED_BODY_DRAIN_MS = 30_000;

export function hasBody(request: IncomingMessage): boolean {
  if (request.headers['transfer-encoding'] !== undefined) return true;
  const length = Number(request.headers['content-length']);
  return Number.isFinite(length) && length > 0;
}

// Reads and drops what is left of a refused request's body, with its answer sent at once (the
// client may still be sending: docs/protocol.md, "Bad input"). A proxy streaming the body to the app
// (nginx's proxy_request_buffering off on /chat/uploads) is still writing it when the answer comes,
// and a connection closed on it then fails its next write (EPIPE): nginx answered its own 502 for
// the app's 401 or 413 and counted the instance failed (max_fails). Until the deployment-edge audit
// of session 42 a refused body past 1 MiB was left unread and its connection closed: 3 of 3 uploads
// past UPLOAD_MAX_BYTES got 502, and 12 tokenless 20 MiB uploads took every instance out of nginx
// (502 for every user for 10 s). The connection stays open while the rest comes, and is closed once
// it passes REFUSED_BODY_DRAIN_BYTES or REFUSED_BODY_DRAIN_MS, after the answer is out.
export function dropRefusedBody(
  request: IncomingMessage,
  response: ServerResponse,
  bounds = { bytes: REFUSED_BODY_DRAIN_BYTES, ms: REFUSED_BODY_DRAIN_MS },
): void {
  if (!hasBody(request) || request.readableEnded) return;
  void drainRest(request, bounds.bytes, bounds.ms).then((drained) => {
    if (drained) return;
    const close = () => request.socket.destroy();
    if (response.writableFinished || response.destroyed) close();
    else response.once('close', close);
  });
}

// A refusal sent before the request's body is read; the body's rest is dropped (dropRefusedBody).
export function refuseUnread(request: Request, response: Response, refusal: DomainException): void {
  dropRefusedBody(request, response);
  // as Nest's filter says it (src/common/errors/http-exception.filter.ts)
  if (refusal.details.retryAfterMs !== undefined)
    response.setHeader('Retry-After', Math.ceil(refusal.details.retryAfterMs / 1000));
  sendError(response, httpStatusOf(refusal.code), refusal.code, refusal.message);
}

// (a) Every route that takes a body needs a token (the @Public() ones — health, metrics, blob —
// take none), so a caller without a valid one is refused before a byte of the body is read or
// parsed; the AuthGuard, which runs only after parsing, still decides per route (roles, public).
export function refuseBodyWithoutToken(tokens: TokenService): RequestHandler {
  return (request, response, next) => {
    if (!hasBody(request)) return next();
    try {
      principalOf(tokens, request);
    } catch (error) {
      if (!(error instanceof DomainException)) return next(error);
      return refuseUnread(request, response, error);
    }
    next();
  };
}

// The routes that read their own body (the multipart upload, POST /chat/uploads); every other
// route's body is JSON
const OWN_BODY_ROUTES = /^\/chat\/uploads\/?$/;

// (b) A body of any other type than JSON (text/plain, a form, none named) was skipped by the parser,
// and its route ran as if there were none: a PATCH answered 200 and changed nothing. It is refused
// with 415 before it is read, except on the routes that read their own (docs/protocol.md, "Bad input").
export const refuseOtherBodyTypes: RequestHandler = (request, response, next) => {
  if (!hasBody(request) || request.is('application/json')) return next();
  if (request.method === 'POST' && OWN_BODY_ROUTES.test(request.path)) return next();
  dropRefusedBody(request, response);
  sendError(response, 415, ErrorCode.UNSUPPORTED_MEDIA_TYPE, 'Send the request body as application/json.');
};

// (c) A user's request with a body waits for its place in the user's line (docs/protocol.md, "A
// user's requests at once") before a byte of the body is read, and past the line's bound is refused
// 429 unread. The line was an interceptor, after the parser: one token's 8,000 connections, each
// sending 65,535 of a 65,536-byte body, held every body for the 300 s request deadline (+500 MB of
// external memory, no answer). Now a user's bodies in memory are bounded by the line's places, and
// a body that does not arrive whole within the request deadline (30 s) is cut with 408
// (src/common/http/request-gate.ts). Runs after (a): the token is valid here.
export function awaitUserPlace(tokens: TokenService, requests: UserRequests): RequestHandler {
  return (request, response, next) => {
    if (!hasBody(request)) return next();
    requests.enter(principalOf(tokens, request).userId, request, response).then(
      () => next(),
      (error: unknown) => {
        if (!(error instanceof DomainException)) return next(error);
        // a client that left while it waited: nobody to answer
        if (!request.socket.destroyed && !response.headersSent) refuseUnread(request, response, error);
      },
    );
  };
}

// The JSON parser's `verify`, on the body's bytes (decompressed) before they are decoded: JSON is
// UTF-8 (RFC 8259 §8.1), checked strictly. The parser's own decoding turned invalid bytes into
// U+FFFD, and a session was renamed "caf\uFFFD" from "caf\xE9". Other charsets it takes (UTF-16,
// UTF-32) are refused as any other charset is (415).
export function strictUtf8(
  _request: IncomingMessage,
  _response: ServerResponse,
  body: Buffer,
  charset: string,
): void {
  if (charset !== 'utf-8')
    throw Object.assign(new Error('charset'), { status: 415, type: 'charset.unsupported' });
  if (!isUtf8(body))
    throw Object.assign(new Error('invalid UTF-8'), { status: 400, type: 'entity.utf8.invalid' });
}

// (d) Parsed JSON goes through the same check as WebSocket frames before class-transformer (the
// ValidationPipe) can walk it: no __proto__/constructor/prototype keys, bounded depth and size.
export const refuseUntrustedJson: RequestHandler = (request, response, next) => {
  const body: unknown = request.body;
  if (body === undefined) return next();
  const problem = untrustedJsonProblem(body);
  if (problem === undefined) return next();
  sendError(response, 400, ErrorCode.INVALID_MESSAGE, problem);
};

// body-parser's errors (too large, bad encoding or charset, not JSON) answered here as the 4xx they
// are; anything else goes on to Nest's filter.
export const answerBodyErrors: ErrorRequestHandler = (error, _request, response, next) => {
  const refusal = httpRefusalOf(error);
  if (!refusal || response.headersSent) return next(error);
  sendError(response, refusal.status, refusal.code, refusal.message);
};

// The app is created with `bodyParser: false`; this is its body handling, in order: token check,
// type check, the user's place, JSON parsing (strict: an object or array, of valid UTF-8), the
// untrusted-JSON check, and the parser's errors.
export function requestBodyPipeline(
  tokens: TokenService,
  requests: UserRequests,
): Array<RequestHandler | ErrorRequestHandler> {
  return [
    refuseBodyWithoutToken(tokens),
    refuseOtherBodyTypes,
    awaitUserPlace(tokens, requests),
    json({ limit: JSON_BODY_LIMIT_BYTES, strict: true, verify: strictUtf8 }),
    refuseUntrustedJson,
    answerBodyErrors,
  ];
}
