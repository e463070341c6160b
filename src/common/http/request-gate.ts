import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

// The time a request other than an upload has to arrive whole, from its headers (Node's default
// server.requestTimeout, 300 s, until a user's partial bodies held the user's line that long). Only
// a body can take that long, and no such body is over 64 KiB (JSON_BODY_LIMIT_BYTES): ~2.2 KB/s.
export const REQUEST_DEADLINE_MS = 30_000;
// How long an idle keep-alive connection is kept: longer than a proxy keeps its idle connections to
// the app (nginx's upstream keepalive_timeout, 60 s; deploy/nginx/chatbox.conf), so the proxy always
// closes one first. Node's default (5 s) closed them under nginx, and a request nginx sent on one as
// it closed was answered 502 (a POST is never retried). Until the deployment-edge audit of session
// 42 that was 1 to 6 of 90 POSTs sent after an idle pause (docs/operations.md, "Behind a proxy").
// headersTimeout (60 s) need not exceed it: in Node 24 it runs from a request's first byte, never
// over an idle connection (a request after 2 s idle under a 1 s headersTimeout is answered).
export const KEEP_ALIVE_MS = 65_000;
// requests one connection may have in flight (pipelined: sent before the answers to earlier ones)
export const MAX_REQUESTS_IN_FLIGHT = 16;
const UPLOAD_ROUTE = /^\/chat\/uploads\/?(\?|$)/;
const REQUEST_TIMEOUT_RESPONSE = 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n';

type RequestListener = (request: IncomingMessage, response: ServerResponse) => void;

export interface RequestGateOptions {
  deadlineMs?: number;
  maxInFlight?: number;
}

// Every HTTP request passes here before the app sees it (docs/protocol.md, "Bad input"). Install it
// after the app's own 'request' listener (Nest adds Express's when it makes the server): it takes
// that listener's place and calls it for each request it lets through.
//
// Pipelining: Node stops reading a connection only once the answers it holds back for it pass the
// socket's buffer, and the app answers asynchronously: a client that sent 60,000 pipelined requests
// and read nothing had all of them parsed and dispatched at once (2.4 GB of heap held for minutes;
// in a 512 MiB pod, the process died). Past MAX_REQUESTS_IN_FLIGHT unanswered requests on one
// connection, the connection is closed and what it sent beyond is never dispatched. No browser or
// proxy pipelines that deep (nginx never pipelines to its upstreams).
//
// Deadlines: Node's server.requestTimeout (300 s) cuts every request still arriving after it, however
// steadily its bytes come: a 25 MiB upload slower than ~87 KB/s (nginx passes uploads unbuffered) was
// cut at 300 s. A timeout derived from UPLOAD_MAX_BYTES would still cut a slower link, so there is
// none for uploads: one is cut only when its bytes stop (UPLOAD_IDLE_MS, src/modules/uploads/
// multipart-reader.ts). Every other request has REQUEST_DEADLINE_MS (30 s) to arrive whole, by this
// timer (Node's cannot spare one route), and headersTimeout (60 s) still bounds every request's
// headers (docs/protocol.md, "Uploads and files"). A body takes its user's place before it is read
// (src/common/http/request-body.ts), so a body sent slowly holds that place: 300 s was long enough
// for one token's partial bodies to hold the user's line for five minutes (docs/protocol.md, "A
// user's requests at once"). A waiting body's bytes arrive all the same (Node reads a request's first
// 64 KiB and more whether the app asks or not), so a whole body does not miss the deadline by
// waiting. The timer ends with the request's answer or its connection, so a request whose answer
// never went out holds nothing past its connection.
//
// Idle connections are kept KEEP_ALIVE_MS, past the proxy's own idle timeout (see there).
export function guardRequests(server: Server, options: RequestGateOptions = {}): void {
  const deadlineMs = options.deadlineMs ?? REQUEST_DEADLINE_MS;
  const maxInFlight = options.maxInFlight ?? MAX_REQUESTS_IN_FLIGHT;
  server.requestTimeout = 0;
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  const listeners = server.listeners('request') as RequestListener[];
  server.removeAllListeners('request');
  // per connection, the ends of its requests in flight; its close ends them all (one listener each)
  const inFlight = new WeakMap<Socket, Set<() => void>>();
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const socket = request.socket;
    // the rest of what a closed connection had sent, parsed from the same read
    if (socket.destroyed) return;
    let pending = inFlight.get(socket);
    if (!pending) {
      const ends = (pending = new Set());
      inFlight.set(socket, ends);
      socket.once('close', () => {
        for (const end of [...ends]) end();
      });
    }
    if (pending.size >= maxInFlight) {
      socket.destroy();
      return;
    }
    const upload = request.method === 'POST' && UPLOAD_ROUTE.test(request.url ?? '');
    const timer = upload
      ? undefined
      : setTimeout(() => {
          if (request.complete) return;
          // as Node answers its own request timeout
          if (socket.writable && !response.headersSent) socket.write(REQUEST_TIMEOUT_RESPONSE);
          socket.destroy();
        }, deadlineMs);
    timer?.unref();
    const ends = pending;
    const end = () => {
      clearTimeout(timer);
      ends.delete(end);
      response.off('close', end);
    };
    ends.add(end);
    response.once('close', end);
    for (const listener of listeners) listener.call(server, request, response);
  });
}
