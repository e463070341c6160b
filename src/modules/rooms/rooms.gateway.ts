import { Inject, Logger, type BeforeApplicationShutdown, type OnModuleDestroy } from '@nestjs/common';
import { type OnGatewayInit, WebSocketGateway } from '@nestjs/websockets';
import type { RawData, WebSocket, WebSocketServer } from 'ws';
import { SETTINGS, type Settings } from '../../config/settings';
import { TokenService } from '../../common/auth/token.service';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { untrustedJsonProblem } from '../../common/untrusted-json';
import type { Connection } from '../realtime/connection';
import {
  armExpiry,
  bindSockets,
  CLOSE_GOING_AWAY,
  closeAfterCrash,
  handleInOrder,
  heartbeat,
  isAuthRefreshFrame,
  closeConnection,
  openConnection,
} from '../realtime/socket-lifecycle';
import { RoomHub } from './room-hub';
import { RoomSocketsService } from './room-sockets.service';
import { RoomMessagesService } from './room-messages.service';
import { ChatMetrics } from '../metrics/chat-metrics';
import { SocketQuota } from '../../common/auth/socket-quota';
import { SESSION_LOCK } from '../../infra/lock/lock';
import type { WriteLock } from '../../infra/lock/write.lock';
import type { AuthenticatedRequest } from '../chat/ws-upgrade';
import { closeSocket } from '../realtime/close-socket';

// how long a socket told to go elsewhere at shutdown has to close before it is cut
const CLOSE_WAIT_MS = 2_000;

// The rooms socket, `GET /ws/chat` (docs/protocol.md, "Rooms"). Authenticated at the upgrade by the
// same adapter and token check as /chat/ws (a bad token never gets a socket); a token that expires
// without `auth_refresh` closes it (4401). Transport only: frames go to RoomSocketsService.
@WebSocketGateway({ path: '/ws/chat' })
export class RoomsGateway implements OnGatewayInit, OnModuleDestroy, BeforeApplicationShutdown {
  private readonly logger = new Logger('rooms-ws');
  private readonly connections = new Map<WebSocket, Connection>();
  private heartbeat?: NodeJS.Timeout;
  private server?: WebSocketServer;
  // shutting down: a socket that opens now is told to go elsewhere at once
  private draining = false;

  constructor(
    private readonly sockets: RoomSocketsService,
    private readonly hub: RoomHub,
    private readonly tokens: TokenService,
    @Inject(SETTINGS) private readonly settings: Settings,
    private readonly quota: SocketQuota,
    private readonly messages: RoomMessagesService,
    @Inject(SESSION_LOCK) private readonly lock: WriteLock,
    private readonly metrics: ChatMetrics,
  ) {}

  afterInit(server: WebSocketServer): void {
    this.server = server;
    bindSockets(
      server,
      (socket, request) => this.handleConnection(socket, request),
      (socket) => this.handleDisconnect(socket),
    );
    this.heartbeat = setInterval(() => this.beat(), this.settings.heartbeatMs);
  }

  handleConnection(socket: WebSocket, request: AuthenticatedRequest): void {
    const principal = request.principal;
    if (!principal || this.draining) {
      socket.close(CLOSE_GOING_AWAY, 'server shutting down');
      return;
    }
    const connection = openConnection(socket, principal, this.quota);
    // counted with /chat/ws's (ChatGateway)
    this.metrics.connections.set(this.quota.count());
    this.connections.set(socket, connection);
    this.armExpiry(connection);
    this.hub.send(connection, {
      type: 'connection_status',
      user_id: principal.userId,
      timestamp: new Date().toISOString(),
      metadata: {
        status: 'connected',
        token_expires_at: new Date(principal.expiresAt).toISOString(),
        // as on /chat/ws (ConnectionsService): what the client counts a message against
        max_message_length: this.settings.maxMessageLength,
      },
    });
    handleInOrder(
      connection,
      this.sockets.attach(connection),
      (data, isBinary, receivedAt, inOrder) => this.onFrame(connection, data, isBinary, receivedAt, inOrder),
      (error) => closeAfterCrash(connection, error, this.logger),
      // a refresh is not held behind a slow frame (docs/protocol.md, "Frames")
      isAuthRefreshFrame,
    );
  }

  handleDisconnect(socket: WebSocket): void {
    const connection = this.connections.get(socket);
    if (!connection) return;
    this.connections.delete(socket);
    closeConnection(connection, this.quota);
    this.metrics.connections.set(this.quota.count());
    void this.sockets
      .detach(connection)
      .catch((error: unknown) => closeAfterCrash(connection, error, this.logger));
  }

  private async onFrame(
    connection: Connection,
    data: RawData,
    isBinary: boolean,
    receivedAt: Date,
    // a frame handled aside (auth_refresh): its refusal in its place among the others
    inOrder: (task: () => unknown) => void = (task) => task(),
  ): Promise<void> {
    if (connection.closed) return;
    if (isBinary)
      return this.sockets.fail(
        connection,
        new DomainException(ErrorCode.INVALID_MESSAGE, 'Frames must be JSON text.'),
      );
    let value: unknown;
    try {
      // V8's JSON.parse is iterative; the room parser checks depth, size and prototype keys next
      value = JSON.parse(data.toString());
    } catch {
      return this.sockets.fail(
        connection,
        new DomainException(ErrorCode.INVALID_MESSAGE, 'Each frame must be one JSON object.'),
      );
    }
    if (isAuthRefresh(value)) {
      // checked as every other frame is (docs/protocol.md, "Input limits"): until the edge audit a
      // refresh with a `__proto__` key, nesting 40 deep or a key of its own was taken and acked
      const problem = refreshProblem(value);
      if (problem !== undefined)
        return this.sockets.fail(
          connection,
          new DomainException(ErrorCode.INVALID_MESSAGE, problem),
          typeof value.client_id === 'string' ? value.client_id.slice(0, 128) : undefined,
        );
      return await this.refresh(connection, value, inOrder);
    }
    await this.sockets.handle(connection, value, receivedAt);
  }

  // `auth_refresh` with the new token in `content`, as on /chat/ws (CONTRACT §2), with a budget of
  // its own (as there: a token check per frame, unbudgeted, could keep a core busy)
  private async refresh(
    connection: Connection,
    frame: { content?: unknown; client_id?: unknown },
    inOrder: (task: () => unknown) => void,
  ): Promise<void> {
    const clientId = typeof frame.client_id === 'string' ? frame.client_id.slice(0, 128) : undefined;
    try {
      await this.messages.checkRate(connection.principal.userId, 'room-auth');
      const principal = this.tokens.verify(typeof frame.content === 'string' ? frame.content : undefined);
      if (principal.userId !== connection.principal.userId)
        throw new DomainException(ErrorCode.UNAUTHORIZED, 'The new token is for another user.');
      // a role taken away or given closes the socket, as on /chat/ws (ChatService.authRefresh)
      if (principal.isAdmin !== connection.principal.isAdmin)
        throw new DomainException(
          ErrorCode.UNAUTHORIZED,
          'The new token changes your role; connect again with it.',
        );
      connection.principal = principal;
      this.armExpiry(connection);
      this.hub.send(connection, {
        type: 'ack',
        user_id: principal.userId,
        timestamp: new Date().toISOString(),
        ...(clientId !== undefined ? { client_id: clientId } : {}),
        metadata: { token_expires_at: new Date(principal.expiresAt).toISOString() },
      });
    } catch (error) {
      inOrder(() => this.sockets.fail(connection, error, clientId));
    }
  }

  private armExpiry(connection: Connection): void {
    armExpiry(connection, this.settings.heartbeatMs, this.expired);
  }

  private readonly expired = (connection: Connection): void =>
    this.sockets.fail(connection, new DomainException(ErrorCode.UNAUTHORIZED, 'Token expired.'));

  private beat(): void {
    heartbeat(this.connections.values(), this.settings.heartbeatMs, this.expired);
  }

  // SIGTERM (Nest calls every onModuleDestroy before any shutdown hook): every socket is told to go
  // elsewhere (1001) at once. In the shutdown hook it was told only after the chat replies' drain
  // (ChatGateway's hook runs first), up to SHUTDOWN_GRACE later, and a member could ask @ai of an
  // instance that no longer starts replies (docs/protocol.md, "Graceful shutdown").
  onModuleDestroy(): void {
    this.draining = true;
    clearInterval(this.heartbeat);
    for (const connection of this.connections.values())
      closeSocket(connection.socket, CLOSE_GOING_AWAY, 'server shutting down');
  }

  // One that has not closed within CLOSE_WAIT_MS is cut: an open socket would hold the HTTP server's
  // close, and with it the process, forever.
  async beforeApplicationShutdown(): Promise<void> {
    const deadline = Date.now() + CLOSE_WAIT_MS;
    while ((this.server?.clients.size ?? 0) > 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
    this.server?.clients.forEach((socket) => socket.terminate());
    // the writes their last frames started finish before the store client closes
    await this.lock.stopped();
  }
}

function isAuthRefresh(value: unknown): value is { content?: unknown; client_id?: unknown } {
  return typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'auth_refresh';
}

const REFRESH_FIELDS: ReadonlySet<string> = new Set(['type', 'content', 'client_id']);

// Why a refresh frame may not be used: prototype keys, depth and size as any frame, then only the
// fields a refresh has (docs/protocol.md, "Rooms", "Sockets")
export function refreshProblem(value: object): string | undefined {
  const problem = untrustedJsonProblem(value);
  if (problem !== undefined) return problem;
  const other = Object.keys(value).find((key) => !REFRESH_FIELDS.has(key));
  return other === undefined ? undefined : `Field "${other.slice(0, 40)}" is not allowed.`;
}
