import type { WebSocket } from 'ws';
import type { Principal } from '../../common/auth/principal';
import type { ServerFrame } from './frames';

// One open socket of one user (or admin) and the session it is bound to.
export interface Connection {
  id: string;
  socket: WebSocket;
  principal: Principal;
  sessionId: string;
  alive: boolean;
  // when the client last showed life (a frame or a pong): a bound admin's lease is renewed only
  // while this is recent
  seenAt: number;
  // while a reconnect replays history, live frames wait here so nothing is missed or doubled
  pending: ServerFrame[] | null;
  expiryTimer?: NodeJS.Timeout;
  // auth_refresh frames received before the token expired and still being handled, and the expiry
  // that came meanwhile: it waits for them (socket-lifecycle.ts, armExpiry)
  refreshing?: number;
  expiryHeld?: (connection: Connection) => void;
  // this server stopped reading the socket (its frames wait: handleInOrder) since its last ping, so
  // a pong may be waiting unread (heartbeat)
  readHeld?: boolean;
  // set when the socket has closed; a connect() still in flight then binds nothing
  closed?: boolean;
  // the last takeover event this socket was shown is an admin_join (or its connection_status named
  // an assisting admin): it is shown no piece of the model's reply until an admin_leave
  assisted?: boolean;
  // an admin's socket whose takeover of this session ended other than by its own admin_leave (a
  // release elsewhere, a lapse): a user_message naming no session is refused until the socket names
  // one, joins one or starts a new chat (ChatService), since it may have been written for the user
  endedTakeover?: string;
}
