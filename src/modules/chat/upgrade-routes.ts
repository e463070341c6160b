import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';

// An upgrade request's path, or null when its target cannot be read. The Host header plays no
// part (Nest's adapter built a URL from it: a Host such as `a b` threw and was answered with a
// status line holding the error's text).
export function upgradePath(target: string | undefined): string | null {
  if (!target) return null;
  try {
    return new URL(target, 'ws://upgrade.invalid').pathname;
  } catch {
    return null;
  }
}

// Hands an upgrade to the socket server listening on its exact path (docs/protocol.md,
// "Connecting"), and answers every other one with an HTTP status before closing: 404 for a path
// no socket server listens on (`/chat/ws/`, `/ws`), 400 for a target that cannot be read. Nest's
// adapter destroyed those sockets without a word, so a client saw a reset, not why.
export function routeUpgrade(
  servers: readonly (WebSocketServer & { path?: string })[],
  request: IncomingMessage,
  socket: Duplex,
  head: Buffer,
): void {
  const path = upgradePath(request.url);
  const server = path === null ? undefined : servers.find((candidate) => candidate.path === path);
  if (server) {
    server.handleUpgrade(request, socket, head, (ws: WebSocket) => server.emit('connection', ws, request));
    return;
  }
  refuseUpgrade(socket, path === null ? 400 : 404);
}

const REASONS: Record<number, string> = { 400: 'Bad Request', 404: 'Not Found' };

function refuseUpgrade(socket: Duplex, status: 400 | 404): void {
  const body = REASONS[status];
  // a client that resets meanwhile must not throw on the socket (nothing else listens now)
  socket.on('error', () => socket.destroy());
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${body}\r\nConnection: close\r\nContent-Type: text/plain\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
