import type { Logger } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import type { RawData, WebSocket, WebSocketServer } from 'ws';
import type { Principal } from '../../common/auth/principal';
import type { SocketQuota } from '../../common/auth/socket-quota';
import type { Connection } from './connection';
import { newId } from '../../common/ids';
import { describeError } from '../../common/logging/logging';
import { closeSocket } from './close-socket';

// What both sockets (/chat/ws and /ws/chat) do with a socket besides their frames: the connection
// record, liveness (frames and pongs), frames handled one at a time in order, the token's expiry,
// heartbeats, and the last resort for a handler that threw (docs/protocol.md, "Frames").

export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_INTERNAL_ERROR = 1011;
// setTimeout's ceiling (~24.8 days)
const MAX_TIMER_MS = 2_147_483_647;

// A gateway's sockets, bound straight to it: `opened` for each accepted socket, `closed` once it
// has closed. Nest would route each connection through an rxjs Subject to handleConnection and bind
// a closure of its own per socket for handleDisconnect (bench/README.md, "Session 24": RSS per idle
// socket lower in each A/B pair without them; CPU per connect within the runs' spread);
// ChatWsAdapter turns that off and each gateway binds its server here, in afterInit.
export function bindSockets(
  server: WebSocketServer,
  opened: (socket: WebSocket, request: IncomingMessage) => void,
  closed: (socket: WebSocket) => void,
): void {
  // one listener for every socket: ws calls it with the socket as `this`
  const onClose = function (this: WebSocket): void {
    closed(this);
  };
  server.on('connection', (socket: WebSocket, request: IncomingMessage) => {
    socket.on('close', onClose);
    opened(socket, request);
  });
}

// A socket that passed the upgrade's token check, as a connection (its 'error' listener is bound
// by the adapter at the upgrade: socketErrorListener), counted against its user's bound until
// closeConnection.
export function openConnection(socket: WebSocket, principal: Principal, quota: SocketQuota): Connection {
  const connection: Connection = {
    id: newId(),
    socket,
    principal,
    sessionId: '',
    alive: true,
    seenAt: Date.now(),
    pending: null,
  };
  socket.on('pong', () => {
    connection.alive = true;
    connection.seenAt = Date.now();
  });
  socket.on('ping', answerPing);
  quota.opened(principal.userId);
  return connection;
}

// what a socket may have waiting to be sent and still be answered a ping
export const MAX_PONG_BACKLOG_BYTES = 64 * 1024;

// A client's ping is answered while the client reads what it is sent (the servers are made with ws's
// autoPong off: ChatWsAdapter). ws answered every ping: a client that pinged and read nothing had a
// pong queued in memory for each, without bound (3,000,000 pings of 131 bytes: +877 MB; found by a
// black-box attacker audit; docs/protocol.md, "Socket limits"). One function for every socket, as
// onClose: ws calls it with the socket as `this`.
function answerPing(this: WebSocket, data: Buffer): void {
  if (this.readyState === this.OPEN && this.bufferedAmount <= MAX_PONG_BACKLOG_BYTES) this.pong(data);
}

// A socket closed: a connect() still in flight binds nothing, the expiry timer goes, and the socket
// no longer counts against its user's bound (auth_refresh keeps the user: the count stays right).
export function closeConnection(connection: Connection, quota: SocketQuota): void {
  connection.closed = true;
  clearTimeout(connection.expiryTimer);
  connection.expiryHeld = undefined;
  quota.closed(connection.principal.userId);
}

// ws emits 'error' on a socket for a broken frame (bad UTF-8, a bad opcode) and then closes it:
// without a listener the emitter would throw it out of the process. One function for every socket,
// bound as soon as ws accepts it (before a gateway sees it, and whether or not the gateway keeps
// it), logged at debug: it is the client's fault.
export function socketErrorListener(logger: Logger): (error: Error) => void {
  return (error) => logger.debug({ event: 'socket_error', err: describeError(error) });
}

// Frames of one socket are handled one at a time, in order, after `start` (the socket's binding);
// the chain never rejects: an error no handler mapped goes to `crashed`, never out of the process.
// A frame's handling waits for Redis (the rate limit) or the store, so a client can send faster
// than its frames are handled: past MAX_WAITING_FRAMES frames or MAX_WAITING_BYTES read and not yet
// handled, the socket is no longer read (ws's pause: TCP's own flow control holds the rest on the
// client's side) until the handlers are down to half of both (docs/protocol.md, "Frames").
// Frames `aside` picks (auth_refresh: it has no place in the conversation) go on a chain of their
// own, in order among themselves, and are not held behind a slow one of the others (a voice message
// waits for its transcription: a refresh sent in time waited behind it and the socket was closed
// "Token expired."). They count towards the same bounds. What such a frame's handler hands to
// `inOrder` (a refusal's error and close) runs in the frame's place among the others: a refused
// refresh closed the socket ahead of the frames sent before it, which were then never handled (the
// fixes audit of session 34; socket-lifecycle.spec.ts).
export function handleInOrder(
  connection: Connection,
  start: Promise<unknown>,
  // `receivedAt`: when the frame was read off the socket (a frame may wait behind the others);
  // `inOrder`: given for a frame handled aside
  onFrame: (
    data: RawData,
    isBinary: boolean,
    receivedAt: Date,
    inOrder?: (task: () => unknown) => void,
  ) => Promise<void>,
  crashed: (error: unknown) => void,
  aside: (data: RawData, isBinary: boolean) => boolean = () => false,
): void {
  const socket = connection.socket;
  let chain = start.catch(crashed);
  let asideChain = chain;
  let waitingFrames = 0;
  let waitingBytes = 0;
  socket.on('message', (data: RawData, isBinary: boolean) => {
    // read after this server closed the socket (closeSocket reads on so the close completes): its
    // client gets no answer to it and sends it again on its next socket
    if (socket.readyState !== socket.OPEN) return;
    const receivedAt = new Date();
    // a frame read once the token ran out, with no refresh sent in time still being handled, is
    // not handled: the expiry's close (4401) follows, and the client sends it again on a socket
    // with a new token (nothing of it was acked). Its timer may fire late behind a busy event loop.
    if (
      receivedAt.getTime() >= connection.principal.expiresAt &&
      !connection.refreshing &&
      !aside(data, isBinary)
    )
      return;
    // seen, but not alive: only a pong tells the client reads what it is sent (heartbeat)
    connection.seenAt = receivedAt.getTime();
    const bytes = rawBytes(data);
    waitingFrames++;
    waitingBytes += bytes;
    if ((waitingFrames >= MAX_WAITING_FRAMES || waitingBytes >= MAX_WAITING_BYTES) && !socket.isPaused) {
      socket.pause();
      // its pong is not read either until it is read again (heartbeat)
      connection.readHeld = true;
    }
    const handled = () => {
      waitingFrames--;
      waitingBytes -= bytes;
      if (socket.isPaused && waitingFrames <= MAX_WAITING_FRAMES / 2 && waitingBytes <= MAX_WAITING_BYTES / 2)
        socket.resume();
    };
    if (aside(data, isBinary)) {
      // its place among the others: what its handler leaves to run in order, once it is done
      let place!: (task?: () => unknown) => void;
      const left = new Promise<(() => unknown) | undefined>((resolve) => (place = resolve));
      // a refresh received before the token expired holds the expiry until it is handled (armExpiry)
      const inTime = receivedAt.getTime() < connection.principal.expiresAt;
      if (inTime) connection.refreshing = (connection.refreshing ?? 0) + 1;
      asideChain = asideChain
        .then(() => onFrame(data, isBinary, receivedAt, (task) => place(task)))
        .catch(crashed)
        .then(() => {
          if (inTime) refreshHandled(connection);
          place();
        });
      chain = chain
        .then(() => left)
        .then((task) => task?.())
        .catch(crashed)
        .then(handled);
    } else
      chain = chain
        .then(() => onFrame(data, isBinary, receivedAt))
        .catch(crashed)
        .then(handled);
  });
}

// An `auth_refresh` (handleInOrder's `aside`), told without parsing every frame: only a text frame
// that names the type is parsed here, and it is parsed again by its handler. One larger than
// ASIDE_MAX_BYTES (a token is a few KB) or spelled otherwise (escaped) is handled in order.
export function isAuthRefreshFrame(data: RawData, isBinary: boolean): boolean {
  if (isBinary || !Buffer.isBuffer(data) || data.length > ASIDE_MAX_BYTES || !data.includes('"auth_refresh"'))
    return false;
  try {
    const value: unknown = JSON.parse(data.toString());
    return (
      typeof value === 'object' && value !== null && (value as { type?: unknown }).type === 'auth_refresh'
    );
  } catch {
    return false;
  }
}

const ASIDE_MAX_BYTES = 16 * 1024;

// frames a socket may have read and not yet handled before it is paused; and their bytes (a frame
// may be up to 16 × WS_MAX_PAYLOAD_BYTES, read only to be refused MESSAGE_TOO_LONG)
export const MAX_WAITING_FRAMES = 32;
export const MAX_WAITING_BYTES = 1024 * 1024;

export function rawBytes(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((sum, part) => sum + part.length, 0);
  return data instanceof ArrayBuffer ? data.byteLength : data.length;
}

// Last resort for an error that escaped every handler (a bug): logged, and only this socket ends
// (1011), so its client reconnects and resumes; every other socket and the process go on.
export function closeAfterCrash(connection: Connection, error: unknown, logger: Logger): void {
  logger.error(
    { user_id: connection.principal.userId, event: 'handler_crash', err: describeError(error) },
    'a socket handler threw; closing that socket',
  );
  try {
    closeSocket(connection.socket, CLOSE_INTERNAL_ERROR, 'internal error');
  } catch {
    connection.socket.terminate();
  }
}

// A token that expires without auth_refresh ends the connection (`expired`). The timer is armed
// only once the expiry is two heartbeats away or less (`heartbeat` arms the others in time): an
// idle socket with a long-lived token holds no timer (~370 bytes each, measured, since their
// durations all differ). A refresh taken re-arms it for the new token.
export function armExpiry(
  connection: Connection,
  heartbeatMs: number,
  expired: (connection: Connection) => void,
  now = Date.now(),
): void {
  clearTimeout(connection.expiryTimer);
  connection.expiryTimer = undefined;
  connection.expiryHeld = undefined;
  const remaining = Math.max(0, connection.principal.expiresAt - now);
  if (remaining > 2 * heartbeatMs) return;
  connection.expiryTimer = setTimeout(() => expire(connection, expired), Math.min(remaining, MAX_TIMER_MS));
  connection.expiryTimer.unref();
}

// The token ran out. A refresh received before that and still being handled decides instead
// (docs/protocol.md, "Frames"): taken, it re-arms the expiry for its token; refused, the expiry ends
// the socket once it is handled (refreshHandled), and REFRESH_WAIT_MS after the expiry at the
// latest. Its rate check waits for Redis: frozen, for the 2 s of its commandTimeout, and a refresh
// sent 993 ms before the expiry was lost, the socket closed "Token expired." (timers audit).
function expire(connection: Connection, expired: (connection: Connection) => void): void {
  connection.expiryTimer = undefined;
  if (!connection.refreshing) return expired(connection);
  connection.expiryHeld = expired;
  connection.expiryTimer = setTimeout(() => {
    connection.expiryHeld = undefined;
    expired(connection);
  }, REFRESH_WAIT_MS);
  connection.expiryTimer.unref();
}

function refreshHandled(connection: Connection): void {
  connection.refreshing = (connection.refreshing ?? 1) - 1;
  const expired = connection.expiryHeld;
  if (connection.refreshing > 0 || !expired) return;
  clearTimeout(connection.expiryTimer);
  connection.expiryTimer = undefined;
  connection.expiryHeld = undefined;
  expired(connection);
}

// how long past its token's expiry a socket waits for a refresh received in time (a Redis that
// answers nothing holds its rate check 2 s, then the check falls back to this instance's memory)
export const REFRESH_WAIT_MS = 10_000;

// One heartbeat: a socket that answered no ping since the last one is ended, the others pinged,
// and expiry timers armed for tokens that now run out within two heartbeats. Only a pong counts: it
// comes after everything the socket was sent before the ping, so a client that reads nothing answers
// none, whatever it sends. Until the third black-box audit any frame of the client's counted too: a
// socket sending a typing indicator every 5 s and reading nothing stayed open while its unsent frames
// grew towards write-data's 4 MiB (49 such sockets of one user: 137 MB after 180 s).
// A socket this server stopped reading since its ping (handleInOrder's pause: its frames came faster
// than they were handled) may have its pong waiting in TCP behind them: it is not ended until a beat
// finds it read all along since the one before. Such a client was ended as dead when its frames were
// handled slower than a heartbeat apart (a loaded machine, a frozen store). It costs no memory: what
// it sends waits in TCP, what it is sent is bounded by write-data.
export function heartbeat(
  connections: Iterable<Connection>,
  heartbeatMs: number,
  expired: (connection: Connection) => void,
): void {
  const now = Date.now();
  for (const connection of connections) {
    // every socket's token runs out in time, answering or not: until an auth audit in session 40
    // this came after the liveness check, so a client that kept its socket's reading held (a
    // backlog of frames) and answered no ping was never armed, and went on being served past its
    // token's expiry (13,000–14,000 frames acked in the 10 s after it; auth-expiry-busy.e2e-spec.ts)
    if (!connection.expiryTimer) armExpiry(connection, heartbeatMs, expired, now);
    if (!connection.alive) {
      if (connection.readHeld) connection.readHeld = connection.socket.isPaused;
      else connection.socket.terminate();
      continue;
    }
    connection.alive = false;
    connection.readHeld = connection.socket.isPaused;
    connection.socket.ping();
  }
}
