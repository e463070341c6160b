import { createServer, type Server } from 'node:http';
import { Logger, type INestApplicationContext } from '@nestjs/common';
import { getConnectionToken } from '@nestjs/mongoose';
import { WsAdapter } from '@nestjs/platform-ws';
import { ConnectionStates, type Connection } from 'mongoose';
import type { MessageMappingProperties } from '@nestjs/websockets';
import type { Observable } from 'rxjs';
import type { ServerOptions, VerifyClientCallbackAsync, WebSocket, WebSocketServer } from 'ws';
import { SETTINGS, type Settings } from '../../config/settings';
import { TokenService } from '../../common/auth/token.service';
import { ChatGateway } from './chat.gateway';
import { checkUpgrade, type AuthenticatedRequest } from './ws-upgrade';
import { SocketQuota } from '../../common/auth/socket-quota';
import { acceptedFrameBytes } from './envelope-parser';
import { socketErrorListener } from '../realtime/socket-lifecycle';
import { routeUpgrade } from './upgrade-routes';
import { selectProtocol } from './socket-token';

// @nestjs/platform-ws with two changes: the upgrade is authenticated by `verifyClient` (Nest guards
// do not run on connect, nestjs/nest#882), and the gateway reads frames itself, once, instead of
// the adapter's rxjs pipeline and per-message JSON routing.
export class ChatWsAdapter extends WsAdapter {
  private readonly tokens: TokenService;
  private readonly settings: Settings;
  private readonly database: Connection;
  private readonly quota: SocketQuota;
  private readonly socketError = socketErrorListener(new Logger('ws'));

  constructor(private readonly app: INestApplicationContext) {
    super(app);
    this.tokens = app.get(TokenService);
    this.settings = app.get<Settings>(SETTINGS);
    this.database = app.get<Connection>(getConnectionToken());
    this.quota = app.get(SocketQuota);
  }

  override create(port: number, options: ServerOptions & { path?: string } = {}) {
    const verifyClient: VerifyClientCallbackAsync = (info, done) => {
      if (this.app.get(ChatGateway).draining) return done(false, 503, 'Shutting down');
      // without MongoDB a socket can neither open its session nor store a message: refused at
      // once (the client retries with backoff) rather than left waiting for server selection
      if (this.database.readyState !== ConnectionStates.connected)
        return done(false, 503, 'Database unavailable');
      let verdict: ReturnType<typeof checkUpgrade>;
      try {
        verdict = checkUpgrade(info.req, this.tokens, this.settings.allowedOrigins);
      } catch {
        // an upgrade request is untrusted input too: whatever it makes throw refuses it, nothing more
        verdict = { ok: false, status: 400, reason: 'Bad Request' };
      }
      if (!verdict.ok) return done(false, verdict.status, verdict.reason);
      const refusal = this.quota.admit((info.req as AuthenticatedRequest).principal?.userId ?? '');
      if (refusal)
        return done(
          false,
          refusal.status,
          refusal.reason,
          refusal.retryAfterSeconds ? { 'Retry-After': String(refusal.retryAfterSeconds) } : undefined,
        );
      done(true);
    };
    // frames up to TRANSPORT_LIMIT_FACTOR × the accepted size are read and refused with a clear
    // MESSAGE_TOO_LONG (a pasted document); beyond that ws closes the socket with 1009
    const maxPayload = acceptedFrameBytes(this.settings) * TRANSPORT_LIMIT_FACTOR;
    // pings are answered by the socket's own listener, only while the client reads (socket-lifecycle.ts)
    return super.create(port, {
      ...options,
      verifyClient,
      maxPayload,
      perMessageDeflate: false,
      autoPong: false,
      // `chatbox` beside a `bearer.<jwt>` subprotocol (src/modules/chat/socket-token.ts)
      handleProtocols: selectProtocol,
    });
  }

  // Nest's own upgrade listener destroyed a request for a path no gateway listens on without an
  // answer, and answered a Host it could not parse with a status line holding the error's text;
  // routeUpgrade answers both with an HTTP status (404, 400).
  protected override ensureHttpServerExists(
    port: number,
    httpServer: Server = createServer(),
  ): Server | undefined {
    if (this.httpServersRegistry.has(port)) return undefined;
    this.httpServersRegistry.set(port, httpServer);
    httpServer.on('upgrade', (request, socket, head: Buffer) =>
      routeUpgrade((this.wsServersRegistry.get(port) ?? []) as WebSocketServer[], request, socket, head),
    );
    return httpServer;
  }

  // Nest binds a closure of its own to each socket's 'error', logging a client's broken frame as an
  // error; one shared listener instead (socketErrorListener), ~100 bytes less per socket.
  override bindErrorHandler(server: WebSocketServer): WebSocketServer {
    server.on('connection', (socket: WebSocket) => socket.on('error', this.socketError));
    server.on('error', (error) => this.logger.error(error));
    return server;
  }

  // each gateway binds its sockets itself (bindSockets in afterInit), not through Nest's per-connection
  // rxjs Subject and per-socket close closure
  override bindClientConnect(): void {}

  override bindClientDisconnect(): void {}

  override bindMessageHandlers(
    _client: WebSocket,
    _handlers: MessageMappingProperties[],
    _transform: (data: unknown) => Observable<unknown>,
  ): void {
    // frames are read by ChatGateway.handleConnection
  }
}

const TRANSPORT_LIMIT_FACTOR = 16;
