import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

// How often a drain looks whether the listener has closed (Nest closes it last, after the sockets).
const LISTENER_POLL_MS = 50;

// The HTTP side of a stop (docs/operations.md, "Stopping"). `http.Server#close` stops the listener
// and closes the keep-alive connections idle at that instant, then waits for every other connection
// to end by itself. Two kinds never do:
// - a keep-alive connection busy at the close: Node answers its later requests with keep-alive, so a
//   client that reuses its pooled connection (fetch does) keeps it open as long as it keeps calling;
//   the chaos run's instance that never exited after SIGTERM was held by one (test/e2e/shutdown);
// - a connection that sent part of a request and then nothing: not idle, so only the headers
//   timeout (a minute or more) would end it.
// From `begin()` on, every response says `Connection: close` (so each connection ends after the
// request it is answering, and its client moves to another instance) and a connection left idle by
// a response is closed; once the listener is closed, a connection with no request being answered
// is cut (nothing on it was read, let alone acked). Requests being answered are never cut here: the
// gateways' drain and main.ts's last resort (past SHUTDOWN_GRACE) bound them.
// A connection upgraded to a WebSocket is its gateway's from then on (the gateway's drain closes
// it) and is no longer tracked here: a socket open for hours would hold an entry and a listener
// for nothing (~250 bytes each; bench/README.md, "Session 23").
export class HttpDrain {
  private draining = false;
  // responses not yet ended, and the connections they are on
  private readonly answering = new Set<ServerResponse>();
  private readonly connections = new Set<Socket>();
  private poll?: NodeJS.Timeout;
  // one listener for every connection's close (the emitter passes the socket as `this`)
  private readonly forget: (this: Socket) => void;

  constructor(private readonly server: Server) {
    const connections = this.connections;
    this.forget = function (this: Socket) {
      connections.delete(this);
    };
    server.on('connection', (socket: Socket) => {
      connections.add(socket);
      socket.on('close', this.forget);
    });
    server.on('upgrade', (_request: IncomingMessage, socket: Socket) => {
      connections.delete(socket);
      socket.removeListener('close', this.forget);
    });
    // first, before the app's handler can send its headers
    server.prependListener('request', (_request: IncomingMessage, response: ServerResponse) =>
      this.track(response),
    );
  }

  begin(): void {
    if (this.draining) return;
    this.draining = true;
    for (const response of this.answering) closeAfter(response);
    this.poll = setInterval(() => {
      if (this.server.listening) return;
      clearInterval(this.poll);
      this.cutUnanswered();
    }, LISTENER_POLL_MS);
    this.poll.unref();
  }

  private track(response: ServerResponse): void {
    if (this.draining) closeAfter(response);
    this.answering.add(response);
    response.once('close', () => {
      this.answering.delete(response);
      // a response whose headers went out with keep-alive before the drain leaves its connection
      // idle: closed now rather than when its client next calls
      if (this.draining) this.server.closeIdleConnections();
    });
  }

  private cutUnanswered(): void {
    const answered = new Set<Socket>();
    for (const response of this.answering) if (response.socket) answered.add(response.socket);
    for (const socket of this.connections) if (!answered.has(socket)) socket.destroy();
  }
}

function closeAfter(response: ServerResponse): void {
  if (!response.headersSent) response.setHeader('connection', 'close');
}
