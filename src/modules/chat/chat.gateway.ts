import { Inject, Logger, type BeforeApplicationShutdown } from '@nestjs/common';
import { type OnGatewayInit, WebSocketGateway } from '@nestjs/websockets';
import type { RawData, WebSocket, WebSocketServer } from 'ws';
import { SETTINGS, type Settings } from '../../config/settings';
import { toErrorFrame } from '../../protocol/frames';
import { DomainException } from '../../common/errors/domain.exception';
import { unexpectedError } from '../../common/errors/store-outage';
import { DEFAULT_MESSAGES, ErrorCode } from '../../common/errors/error-code';
import { ChatMetrics } from '../metrics/chat-metrics';
import { ChatService } from './chat.service';
import { ConnectionsService } from './connections.service';
import { ClientHub } from '../realtime/client-hub';
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
  rawBytes,
} from '../realtime/socket-lifecycle';
import { acceptedFrameBytes, validateEnvelope } from './envelope-parser';
import { RoomSocketsService } from '../rooms/room-sockets.service';
import { isRoomClientFrame } from '../../protocol/rooms';
import { ReplyService } from '../replies/reply.service';
import { keepAliveMs } from '../sessions/session-rules';
import type { AuthenticatedRequest } from './ws-upgrade';
import { SocketQuota } from '../../common/auth/socket-quota';
import { SESSION_LOCK } from '../../infra/lock/lock';
import type { WriteLock } from '../../infra/lock/write.lock';
import { closeSocket } from '../realtime/close-socket';

// RFC 6455 §7.4.1 (IANA registry): try again later
const CLOSE_TRY_AGAIN = 1013;
const CLOSE_CODES: Partial<Record<ErrorCode, number>> = {
  [ErrorCode.UNAUTHORIZED]: 4401,
  [ErrorCode.FORBIDDEN]: 4403,
  [ErrorCode.NOT_FOUND]: 4404,
};

// Transport only: binds sockets, reads frames, maps errors to `error` frames, keeps heartbeats.
@WebSocketGateway({ path: '/chat/ws' })
export class ChatGateway implements OnGatewayInit, BeforeApplicationShutdown {
  private readonly logger = new Logger('ws');
  private readonly connections = new WeakMap<WebSocket, Connection>();
  private heartbeat?: NodeJS.Timeout;
  private sweeper?: NodeJS.Timeout;
  private keeper?: NodeJS.Timeout;
  private server?: WebSocketServer;
  draining = false;

  constructor(
    private readonly chat: ChatService,
    private readonly lifecycle: ConnectionsService,
    private readonly replies: ReplyService,
    private readonly hub: ClientHub,
    private readonly metrics: ChatMetrics,
    @Inject(SETTINGS) private readonly settings: Settings,
    private readonly rooms: RoomSocketsService,
    private readonly quota: SocketQuota,
    @Inject(SESSION_LOCK) private readonly lock: WriteLock,
  ) {}

  afterInit(server: WebSocketServer): void {
    this.server = server;
    bindSockets(
      server,
      (socket, request) => this.handleConnection(socket, request),
      (socket) => this.handleDisconnect(socket),
    );
    this.heartbeat = setInterval(() => this.beat(), this.settings.heartbeatMs);
    this.sweeper = setInterval(() => {
      this.lifecycle
        .sweep()
        .catch((error: unknown) =>
          this.logger.error({ event: 'sweep_failed', err: String(error) }, 'sweep failed'),
        );
    }, this.settings.sweepIntervalMs);
    // sessions with sockets here are kept from looking idle at each sweep, and between sweeps when
    // RECONNECT_TIMEOUT is short beside the sweep interval (docs/protocol.md, "Idle sessions")
    const keepAlive = keepAliveMs(this.settings);
    if (keepAlive < this.settings.sweepIntervalMs)
      this.keeper = setInterval(() => {
        this.lifecycle
          .keepAlive()
          .catch((error: unknown) =>
            this.logger.error({ event: 'keep_alive_failed', err: String(error) }, 'keep-alive failed'),
          );
      }, keepAlive);
  }

  handleConnection(socket: WebSocket, request: AuthenticatedRequest): void {
    const principal = request.principal;
    if (!principal || this.draining) {
      socket.close(CLOSE_GOING_AWAY, 'server shutting down');
      return;
    }
    const query = request.query ?? new URL(request.url ?? '/', 'http://localhost').searchParams;
    const connection = openConnection(socket, principal, this.quota);
    // both paths' sockets (docs/operations.md): until the edge audit /ws/chat's were left out
    this.metrics.connections.set(this.quota.count());
    this.connections.set(socket, connection);
    this.rooms.register(connection);
    this.armExpiry(connection);
    const lastSeqText = query.get('last_seq');
    const lastSeq = lastSeqText !== null && /^\d{1,15}$/.test(lastSeqText) ? Number(lastSeqText) : undefined;
    // frames wait until the session is bound; a failed bind ends the socket (fatal error frame)
    handleInOrder(
      connection,
      this.lifecycle
        .connect(connection, query.get('session_id') ?? undefined, lastSeq)
        .catch((error: unknown) => this.fail(connection, error, undefined, true)),
      (data, isBinary, receivedAt, inOrder) => this.onFrame(connection, data, isBinary, receivedAt, inOrder),
      (error) => this.guard(connection, error),
      // a refresh is not held behind a slow frame (docs/protocol.md, "Frames")
      isAuthRefreshFrame,
    );
  }

  handleDisconnect(socket: WebSocket): void {
    const connection = this.connections.get(socket);
    if (!connection) return;
    // a socket may close while connect() still awaits its session: connect() sees this and binds nothing
    closeConnection(connection, this.quota);
    this.metrics.connections.set(this.quota.count());
    this.lifecycle.disconnect(connection);
    void this.rooms.detach(connection).catch((error: unknown) => this.guard(connection, error));
  }

  private async onFrame(
    connection: Connection,
    data: RawData,
    isBinary: boolean,
    receivedAt: Date,
    // a frame handled aside (auth_refresh): its refusal in its place among the others
    inOrder: (task: () => unknown) => void = (task) => task(),
  ): Promise<void> {
    if (connection.socket.readyState !== connection.socket.OPEN || !connection.sessionId) return;
    if (isBinary) {
      this.fail(connection, new DomainException(ErrorCode.INVALID_MESSAGE, 'Frames must be JSON text.'));
      return;
    }
    if (rawBytes(data) > acceptedFrameBytes(this.settings)) {
      this.fail(
        connection,
        new DomainException(ErrorCode.MESSAGE_TOO_LONG, DEFAULT_MESSAGES[ErrorCode.MESSAGE_TOO_LONG]),
      );
      return;
    }
    let value: unknown;
    try {
      // V8's JSON.parse is iterative: deep input does not overflow it; the validators check the rest
      value = JSON.parse(data.toString());
    } catch {
      this.fail(
        connection,
        new DomainException(ErrorCode.INVALID_MESSAGE, 'Each frame must be one JSON object.'),
      );
      return;
    }
    // room frames (src/protocol/rooms.ts) share this socket: told apart by type and room_id
    if (isRoomClientFrame(value)) {
      await this.rooms.handle(connection, value, receivedAt);
      return;
    }
    const parsed = validateEnvelope(value, this.settings.maxMessageLength);
    if (!parsed.ok) {
      inOrder(() =>
        this.fail(connection, new DomainException(parsed.code, parsed.message), parsed.client_id),
      );
      return;
    }
    // an error about another session (an admin's join or leave) names that session, and so does one
    // answering an admin's message: the session it was for, taken before it is handled (a takeover
    // ending meanwhile moves the socket back to the admin's own session, and the dashboard drops an
    // error of another session: docs/protocol.md, "Takeover handoff")
    // Only an admin's: a plain user's refusal names the user's own session, never the one the frame
    // named. Until the review of session 44's changes a user's admin_join naming another user's
    // session was refused with where that session stood (its seq), telling whether it existed and how
    // it grew (3 of 3 runs; test/e2e/takeover.e2e-spec.ts).
    const about = connection.principal.isAdmin
      ? (parsed.message.session_id ?? connection.sessionId)
      : undefined;
    try {
      await this.chat.handle(connection, parsed.message);
      if (parsed.message.type === 'auth_refresh') this.armExpiry(connection);
    } catch (error) {
      // an error naming a session other than the socket's carries where that session stands (CONTRACT
      // §2): read from the store when this instance knows nothing of it (standing stamps the rest)
      const seq =
        about !== undefined && about !== connection.sessionId ? await this.chat.seqOf(about) : undefined;
      inOrder(() => this.fail(connection, error, parsed.message.client_id, false, about, seq));
    }
  }

  private guard(connection: Connection, error: unknown): void {
    closeAfterCrash(connection, error, this.logger);
  }

  private armExpiry(connection: Connection): void {
    armExpiry(connection, this.settings.heartbeatMs, this.expired);
  }

  private readonly expired = (connection: Connection): void =>
    this.fail(connection, new DomainException(ErrorCode.UNAUTHORIZED, 'Token expired.'));

  private fail(
    connection: Connection,
    error: unknown,
    clientId?: string,
    fatal = false,
    sessionId = connection.sessionId,
    seq?: number,
  ): void {
    const exception =
      error instanceof DomainException
        ? error
        : unexpectedError(error, this.logger, {
            user_id: connection.principal.userId,
            session_id: connection.sessionId,
          });
    const recoverable = exception.recoverable && !fatal;
    this.metrics.errors.inc({ code: exception.code });
    const frame = toErrorFrame(exception.code, exception.message, {
      recoverable,
      sessionId,
      clientId,
      retryAfterMs: exception.details.retryAfterMs,
    });
    if (seq !== undefined) frame.seq = seq;
    this.hub.send(connection, frame);
    // a socket whose session could not be bound for a passing reason (the store or the lock busy)
    // is closed with 1013, try again later: 1008 would tell its client not to come back
    if (!recoverable)
      closeSocket(
        connection.socket,
        CLOSE_CODES[exception.code] ?? (exception.recoverable ? CLOSE_TRY_AGAIN : 1008),
        exception.code,
      );
  }

  private beat(): void {
    heartbeat(this.hub.all(), this.settings.heartbeatMs, this.expired);
  }

  // Graceful shutdown (docs/protocol.md, "Graceful shutdown"): refuse new sockets, tell clients to
  // reconnect elsewhere (1001), let the replies running finish within the grace period (none starts
  // from SIGTERM on: a queued one is left, its turn answered where the user comes back: ReplyDrain),
  // then store what is left as interrupted; every reply's task and the writes the sockets' last
  // frames started finish before the store client closes (WriteLock.stopped).
  async beforeApplicationShutdown(): Promise<void> {
    this.draining = true;
    clearInterval(this.heartbeat);
    clearInterval(this.sweeper);
    clearInterval(this.keeper);
    for (const connection of this.hub.all())
      closeSocket(connection.socket, CLOSE_GOING_AWAY, 'server shutting down');
    this.logger.log(
      { event: 'shutdown', connections: this.hub.count, replies: this.replies.activeCount },
      'draining',
    );
    await this.replies.drain(this.settings.shutdownGraceMs);
    await this.replies.stopAll('shutdown');
    this.server?.clients.forEach((socket) => socket.terminate());
    await this.lock.stopped();
  }
}
