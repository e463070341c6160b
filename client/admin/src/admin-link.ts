import type { Frame } from '../../shared/protocol';
import { newClientId } from '../../chat/src/chat-client';
import { ChatSocket, type LinkState } from '../../chat/src/chat-socket';

// The server may take ~11 s to ack admin_join (it waits for cut-off AI replies to be stored before
// logging the join): wait well past that, and a later ack still counts (see `handle`).
export const JOIN_TIMEOUT_MS = 20_000;
// errors that leave a held session held: the frame was not handled, or was refused for itself
const KEEPS_HOLD = new Set(['RATE_LIMITED', 'MESSAGE_TOO_LONG', 'INVALID_MESSAGE', 'INTERNAL']);

interface Held {
  sessionId: string;
  // the join's ack seq: an admin_leave at or before it (a replayed, earlier takeover's) ends nothing
  seq?: number;
}

// The admin's own WebSocket: admin_join/admin_leave and the admin's messages go through it, and
// frames of the session the admin assists come back on it. The server binds one socket to one
// session at a time (a join elsewhere releases the first), so the link holds at most one.
export class AdminLink {
  readonly socket: ChatSocket;
  private listeners = new Set<(frame: Frame) => void>();
  private stateListeners = new Set<(state: LinkState) => void>();
  private heldListeners = new Set<(sessionId: string | null, lapsed?: string) => void>();
  private held: Held | null = null;
  // admin_join/admin_leave sent on this socket and not answered yet, by client_id
  private commands = new Map<
    string,
    { type: 'admin_join' | 'admin_leave'; sessionId: string; resume?: boolean }
  >();

  constructor(private token: string) {
    this.socket = new ChatSocket({
      token: () => this.token,
      resumeFrom: () => null,
      onFrame: (frame) => this.handle(frame),
      onState: (state) => {
        for (const listener of this.stateListeners) listener(state);
      },
      onUnauthorized: () => undefined,
      onSessionGone: () => undefined,
    });
    this.socket.connect();
  }

  onFrame(listener: (frame: Frame) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onState(listener: (state: LinkState) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  // which session this link holds changed (joined, left, lost); `lapsed` names the session whose
  // hold ended because the server refused to resume it after a drop (the takeover ended meanwhile)
  onHeld(listener: (sessionId: string | null, lapsed?: string) => void): () => void {
    this.heldListeners.add(listener);
    return () => this.heldListeners.delete(listener);
  }

  holds(sessionId: string): boolean {
    return this.held?.sessionId === sessionId;
  }

  // A fresh token: the open socket adopts it (keeping its takeover); a closed one connects with it.
  renew(token: string): void {
    if (token === this.token) return;
    this.token = token;
    if (this.socket.state.kind === 'connected')
      this.socket.send({ type: 'auth_refresh', content: token, client_id: newClientId() });
    else this.socket.restart();
  }

  // admin_join claims the session (CONTRACT §4) and binds this socket to it; resolves on its ack.
  // The hold moves only on that ack (`handle`): the server releases the session held before only
  // once it takes this one, and a refused join (SESSION_LOCKED) leaves it held (docs/protocol.md,
  // "Takeover handoff"), so a reconnect still resumes it. Until the admin-dashboard audit of session
  // 43 the hold was dropped at the click, and a refused take-over of a second session left the first
  // shown as not held while the server and its user still had the admin on it (1 of 1).
  join(sessionId: string): Promise<Frame> {
    return this.request('admin_join', sessionId);
  }

  async leave(sessionId: string): Promise<void> {
    // never taken again on a reconnect, even if the ack is lost
    if (this.holds(sessionId)) this.setHeld(null);
    await this.request('admin_leave', sessionId);
  }

  say(sessionId: string, content: string, clientId: string): void {
    this.socket.send({ type: 'user_message', session_id: sessionId, content, client_id: clientId });
  }

  typing(sessionId: string, typing: boolean): void {
    this.socket.send({ type: 'typing_indicator', session_id: sessionId, metadata: { typing } });
  }

  private handle(frame: Frame): void {
    if (frame.type === 'connection_status') this.resumeHold();
    const command = frame.client_id ? this.commands.get(frame.client_id) : undefined;
    if (command && frame.client_id && (frame.type === 'ack' || frame.type === 'error')) {
      this.commands.delete(frame.client_id);
      // a join's ack makes the session held even after its request timed out: the admin asked for it
      if (frame.type === 'ack' && command.type === 'admin_join')
        this.setHeld({ sessionId: command.sessionId, seq: frame.seq });
      else if (frame.type === 'ack' || !KEEPS_HOLD.has(frame.error?.code ?? 'INTERNAL'))
        this.drop(command.sessionId, command.resume === true && frame.type === 'error');
    } else if (this.held && frame.session_id === this.held.sessionId) {
      const ended =
        frame.type === 'admin_leave' && (frame.seq === undefined || frame.seq > (this.held.seq ?? -1));
      const refused = frame.type === 'error' && !KEEPS_HOLD.has(frame.error?.code ?? 'INTERNAL');
      if (ended || refused) this.setHeld(null);
    }
    for (const listener of this.listeners) listener(frame);
  }

  // A new socket: answers to the old one's commands will not come; the server needs to hear again
  // which session this admin holds. However long the link was down, the server decides (its
  // TAKEOVER_GRACE, not one the dashboard assumes): only the takeover held is resumed, one that ended
  // meanwhile is refused, never taken anew, and the refusal ends the hold as lapsed (`handle`)
  // (docs/protocol.md, "A dashboard coming back resumes, never retakes"). Until the admin-dashboard
  // audit of session 43 a link down over 60 s dropped the hold unasked: with a 5 min grace the
  // dashboard offered "Take over" while the server and the user still had the admin holding it
  // (1 of 1).
  private resumeHold(): void {
    this.commands.clear();
    if (!this.held) return;
    void this.request('admin_join', this.held.sessionId, { resume: true }).catch(() => undefined);
  }

  private drop(sessionId: string, lapsed = false): void {
    if (this.holds(sessionId)) this.setHeld(null, lapsed ? sessionId : undefined);
  }

  private setHeld(held: Held | null, lapsed?: string): void {
    const before = this.held?.sessionId ?? null;
    this.held = held;
    if ((held?.sessionId ?? null) !== before)
      for (const listener of this.heldListeners) listener(held?.sessionId ?? null, lapsed);
  }

  // A command answered by an ack or an error carrying its client_id.
  private request(
    type: 'admin_join' | 'admin_leave',
    sessionId: string,
    metadata?: Record<string, unknown>,
  ): Promise<Frame> {
    const clientId = newClientId();
    this.commands.set(clientId, { type, sessionId, resume: metadata?.resume === true });
    return new Promise((resolve, reject) => {
      const done = (settle: () => void) => {
        clearTimeout(timer);
        unsubscribe();
        settle();
      };
      const timer = setTimeout(() => done(() => reject(new Error('TIMEOUT'))), JOIN_TIMEOUT_MS);
      const unsubscribe = this.onFrame((reply) => {
        if (reply.client_id !== clientId) return;
        if (reply.type === 'ack') done(() => resolve(reply));
        if (reply.type === 'error') done(() => reject(new Error(reply.error?.code ?? 'INTERNAL')));
      });
      const frame = { type, session_id: sessionId, client_id: clientId, ...(metadata ? { metadata } : {}) };
      if (!this.socket.send(frame)) {
        this.commands.delete(clientId);
        done(() => reject(new Error('NETWORK')));
      }
    });
  }
}
