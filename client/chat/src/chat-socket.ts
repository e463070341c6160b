import { ApiError, apiJson, socketProtocols, wsUrl } from '../../shared/api';
import { isRecord, parseJson, toFrame, type Frame } from '../../shared/protocol';
import { backoffDelay } from './backoff';
import { LinkLiveness, PROBE_PREFIX } from './link-liveness';

export type LinkState =
  | { kind: 'connecting' }
  | { kind: 'connected' }
  | { kind: 'reconnecting'; retryAt: number }
  | { kind: 'offline' }
  | { kind: 'signed_out' };

// Messages that must reach the server once: kept until their ack, resent after a reconnect with the
// same client_id (the server stores a client_id once). `chat` is a room message. An edit and a reply
// choice are stored events too (one per client_id); a regenerate is not, so it is not resent (a
// second one would answer the turn again).
const RESENT_TYPES = new Set([
  'user_message',
  'file_upload',
  'voice_message',
  'help_request',
  'edit_message',
  'reply_select',
  'chat',
]);

const REFUSED_KEPT = 100;

// Room frames share this socket (docs/protocol.md, "Rooms"); the rooms view listens here while open.
export interface RoomLink {
  onFrame(frame: Record<string, unknown>): void;
  // a (re)connect: the rooms view joins its rooms again with last_seq
  onConnected(): void;
}

export interface ChatSocketOptions {
  token(): string | null;
  // where to resume: the session shown and the last stored seq the thread holds
  resumeFrom(): { sessionId: string; lastSeq: number } | null;
  onFrame(frame: Frame): void;
  onState(state: LinkState): void;
  // the close said the token is no longer good (4401) or the upgrade was refused: `refused` is the
  // token the socket used
  onUnauthorized(refused: string | null): void;
  // 4404: the session asked for is not this user's (or no longer exists)
  onSessionGone(): void;
  // the AI chat's unsent frames changed (one queued, acked, refused or dropped)
  onUnsentChange?(): void;
}

// One WebSocket to /chat/ws that survives drops: exponential backoff, replay from last_seq,
// resend of unacked messages, offline detection.
export class ChatSocket {
  private socket: WebSocket | null = null;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private unacked = new Map<string, Record<string, unknown>>();
  // what the server refused (the newest REFUSED_KEPT), for the user's Retry: sent again as it was
  // (a file's id, an edit's target), not rebuilt from what the screen shows
  private refused = new Map<string, Record<string, unknown>>();
  private stopped = false;
  private opened = false;
  // the token the current socket connected with: a 4401 refuses that one, not a newer one held since
  private usedToken: string | null = null;
  state: LinkState = { kind: 'connecting' };
  rooms: RoomLink | null = null;
  // a link gone silent without a close is noticed, closed and connected again (link-liveness.ts)
  private readonly liveness = new LinkLiveness({
    probe: (clientId) => {
      const token = this.options.token();
      // WebSocket.OPEN: the socket this probe is for is still the open one
      if (token && this.socket?.readyState === 1)
        this.socket.send(JSON.stringify({ type: 'auth_refresh', content: token, client_id: clientId }));
    },
    dead: () => {
      const silent = this.socket;
      this.socket = null;
      silent?.close(1000);
      this.closed(1006, true);
    },
  });

  constructor(private readonly options: ChatSocketOptions) {
    window.addEventListener('online', () => this.reconnectNow());
    window.addEventListener('offline', () => {
      this.setState({ kind: 'offline' });
      this.socket?.close();
    });
  }

  get pendingCount(): number {
    return this.unacked.size;
  }

  connect(): void {
    clearTimeout(this.timer);
    // watched again from the new socket's connection_status
    this.liveness.stop();
    const token = this.options.token();
    if (!token) return;
    // one socket at a time: a connect while one is still connecting (Retry now, the `online` event)
    // left that one open, counted against the user's sockets and keeping them present
    const old = this.socket;
    this.socket = null;
    old?.close(1000);
    if (!navigator.onLine) return this.setState({ kind: 'offline' });
    const params = new URLSearchParams();
    this.usedToken = token;
    const resume = this.options.resumeFrom();
    if (resume) {
      params.set('session_id', resume.sessionId);
      params.set('last_seq', String(resume.lastSeq));
    }
    this.opened = false;
    this.setState(this.attempt === 0 ? { kind: 'connecting' } : this.state);
    // the token as a subprotocol: a `?token=` in the URL lands in proxies' error logs (deployment-edge
    // audit of session 42)
    const socket = new WebSocket(wsUrl(params), socketProtocols(token));
    this.socket = socket;
    socket.onopen = () => (this.opened = true);
    socket.onmessage = (event: MessageEvent) => {
      if (socket !== this.socket || typeof event.data !== 'string') return;
      this.liveness.heard();
      const value = parseJson(event.data);
      if (isRoomFrame(value)) return this.receiveRoom(value);
      const frame = toFrame(value);
      if (frame) this.receive(frame);
    };
    socket.onclose = (event: CloseEvent) => {
      if (socket !== this.socket) return;
      this.socket = null;
      this.closed(event.code, this.opened);
    };
  }

  // Reconnects now: another session was chosen, a gap in seq was seen, or a fresh token arrived.
  restart(): void {
    const old = this.socket;
    this.socket = null;
    old?.close(1000);
    this.attempt = 0;
    this.connect();
  }

  reconnectNow(): void {
    if (this.stopped || this.state.kind === 'connected') return;
    this.attempt = 0;
    this.connect();
  }

  send(frame: Record<string, unknown>): boolean {
    this.keep(frame);
    if (this.socket?.readyState !== WebSocket.OPEN || this.state.kind !== 'connected') return false;
    this.socket.send(JSON.stringify(frame));
    if (typeof frame.client_id === 'string') this.liveness.sent();
    return true;
  }

  // Kept until its ack and sent on the next connection_status, as every unacked frame (a frame
  // restored after a reload: docs/protocol.md, "Resends").
  keep(frame: Record<string, unknown>): void {
    const clientId = frame.client_id;
    if (typeof clientId !== 'string' || !RESENT_TYPES.has(String(frame.type))) return;
    this.unacked.set(clientId, frame);
    this.unsentChanged(frame);
  }

  holds(clientId: string): boolean {
    return this.unacked.has(clientId);
  }

  // The AI chat's frames not acked yet, oldest first (the rooms' name their room: not these).
  get unsent(): Array<Record<string, unknown>> {
    return [...this.unacked.values()].filter((frame) => typeof frame.room_id !== 'string');
  }

  forget(clientId: string): void {
    this.acked(clientId);
  }

  // The user's Retry of a refused message: the frame as it was first sent; false when it is not kept.
  retry(clientId: string): boolean {
    const frame = this.refused.get(clientId);
    if (!frame) return false;
    this.refused.delete(clientId);
    this.send(frame);
    return true;
  }

  private refuse(clientId: string): void {
    const frame = this.unacked.get(clientId);
    this.acked(clientId);
    if (!frame) return;
    this.refused.set(clientId, frame);
    if (this.refused.size > REFUSED_KEPT) this.refused.delete(this.refused.keys().next().value as string);
  }

  // Another AI chat session is shown: what the one left had not sent yet (unacked, or refused and
  // kept for a Retry) is taken out, since it would land in the new one; the caller keeps it owed to
  // the session left (unsent-sync.ts). The rooms' unsent messages stay: they name their room,
  // whatever session is shown.
  takeUnsent(): Array<Record<string, unknown>> {
    const taken: Array<Record<string, unknown>> = [];
    for (const kept of [this.refused, this.unacked])
      for (const [clientId, frame] of kept)
        if (typeof frame.room_id !== 'string') {
          kept.delete(clientId);
          taken.push(frame);
        }
    return taken;
  }

  // Another user signed in on this page: the AI chat's unsent messages of the last one are dropped.
  clearUnacked(): void {
    for (const [clientId, frame] of this.unacked)
      if (typeof frame.room_id !== 'string') this.unacked.delete(clientId);
    this.options.onUnsentChange?.();
  }

  private acked(clientId: string): void {
    const frame = this.unacked.get(clientId);
    if (frame && this.unacked.delete(clientId)) this.unsentChanged(frame);
  }

  private unsentChanged(frame: Record<string, unknown>): void {
    if (typeof frame.room_id !== 'string') this.options.onUnsentChange?.();
  }

  stop(): void {
    this.stopped = true;
    this.liveness.stop();
    clearTimeout(this.timer);
    this.socket?.close(1000);
  }

  private receive(frame: Frame): void {
    // the answer to a liveness probe: the socket's own business
    if (frame.client_id?.startsWith(PROBE_PREFIX)) return;
    if (frame.type === 'connection_status') {
      const socket = this.socket;
      this.attempt = 0;
      this.liveness.start();
      this.setState({ kind: 'connected' });
      this.options.onFrame(frame);
      // the handler connected again (another session, its history to replay): the next socket's
      // status resends; this one is closed, and the new one still connecting (send would throw)
      if (this.socket !== socket) return;
      // what the server never acked goes again; the same client_id is stored once
      for (const pending of this.unacked.values()) socket?.send(JSON.stringify(pending));
      if (this.unacked.size > 0) this.liveness.sent();
      this.rooms?.onConnected();
      return;
    }
    if (frame.type === 'ack' && frame.client_id) this.acked(frame.client_id);
    if (frame.type === 'error' && frame.client_id && frame.error && frame.error.code !== 'INTERNAL')
      this.refuse(frame.client_id); // refused for good: resending would fail the same way
    this.options.onFrame(frame);
  }

  private receiveRoom(frame: Record<string, unknown>): void {
    const clientId = typeof frame.client_id === 'string' ? frame.client_id : undefined;
    if (clientId && frame.type === 'ack') this.acked(clientId);
    if (clientId && frame.type === 'error' && isRecord(frame.error) && frame.error.code !== 'INTERNAL')
      this.refuse(clientId);
    this.rooms?.onFrame(frame);
  }

  private closed(code: number, opened: boolean): void {
    this.liveness.stop();
    if (this.stopped) return;
    // the token refused is the one this socket used: a newer one held since (the parent's push, an
    // auth_refresh not answered yet, a role change's) is tried once, whatever the device's clock says
    // of it (the server decides); the parent is asked only when the token in hand is the one refused
    if (code === 4401 && this.options.token() !== this.usedToken) {
      this.attempt = 0;
      return this.connect();
    }
    if (code === 4401 || code === 4403) return this.signOut(this.usedToken);
    if (code === 4404) this.options.onSessionGone();
    if (!navigator.onLine) return this.setState({ kind: 'offline' });
    const delay = backoffDelay(this.attempt++);
    this.setState({ kind: 'reconnecting', retryAt: Date.now() + delay });
    this.timer = setTimeout(() => this.connect(), delay);
    // a refused upgrade (HTTP 401: bad signature, expired) reaches the page as 1006 without an open,
    // as a network drop does: one authenticated GET tells them apart
    if (!opened && this.usedToken) this.checkToken(this.usedToken);
  }

  private checkToken(token: string): void {
    void apiJson('models', token).then(
      () => undefined,
      (error: unknown) => {
        const refused = error instanceof ApiError && error.status === 401;
        // still retrying with that token: it will not heal by waiting
        if (!refused || this.stopped || this.state.kind !== 'reconnecting') return;
        if (this.usedToken !== token || this.options.token() !== token) return;
        // the retry already under way (with the same token) goes too
        clearTimeout(this.timer);
        const retrying = this.socket;
        this.socket = null;
        retrying?.close(1000);
        this.signOut(token);
      },
    );
  }

  private signOut(token: string | null): void {
    this.setState({ kind: 'signed_out' });
    this.options.onUnauthorized(token);
  }

  private setState(state: LinkState): void {
    this.state = state;
    this.options.onState(state);
  }
}

// Every room frame names its room; presence may come without one.
function isRoomFrame(value: unknown): value is Record<string, unknown> {
  return isRecord(value) && (typeof value.room_id === 'string' || value.type === 'presence');
}
