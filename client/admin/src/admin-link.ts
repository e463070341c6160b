import type { Frame } from '../../shared/protocol';
import { newClientId } from '../../chat/src/chat-client';
import { ChatSocket, type LinkState } from '../../chat/src/chat-socket';

const REQUEST_TIMEOUT_MS = 10_000;

// The admin's own WebSocket: admin_join/admin_leave and the admin's messages go through it, and
// frames of the sessions the admin assists come back on it.
export class AdminLink {
  readonly socket: ChatSocket;
  private listeners = new Set<(frame: Frame) => void>();
  private stateListeners = new Set<(state: LinkState) => void>();
  private joined = new Set<string>();

  constructor(private readonly token: string) {
    this.socket = new ChatSocket({
      token: () => this.token,
      resumeFrom: () => null,
      onFrame: (frame) => {
        // after a reconnect the server needs to hear again which sessions this admin holds
        if (frame.type === 'connection_status')
          for (const sessionId of this.joined)
            this.socket.send({ type: 'admin_join', session_id: sessionId });
        for (const listener of this.listeners) listener(frame);
      },
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

  // admin_join claims the session (CONTRACT §4) and binds this socket to it; resolves on its ack
  async join(sessionId: string): Promise<Frame> {
    const ack = await this.request({ type: 'admin_join', session_id: sessionId });
    this.joined.add(sessionId);
    return ack;
  }

  async leave(sessionId: string): Promise<void> {
    this.joined.delete(sessionId);
    await this.request({ type: 'admin_leave', session_id: sessionId });
  }

  // A command answered by an ack or an error carrying its client_id.
  private request(frame: Record<string, unknown>): Promise<Frame> {
    const clientId = newClientId();
    return new Promise((resolve, reject) => {
      const done = (settle: () => void) => {
        clearTimeout(timer);
        unsubscribe();
        settle();
      };
      const timer = setTimeout(() => done(() => reject(new Error('NETWORK'))), REQUEST_TIMEOUT_MS);
      const unsubscribe = this.onFrame((reply) => {
        if (reply.client_id !== clientId) return;
        if (reply.type === 'ack') done(() => resolve(reply));
        if (reply.type === 'error') done(() => reject(new Error(reply.error?.code ?? 'INTERNAL')));
      });
      if (!this.socket.send({ ...frame, client_id: clientId })) done(() => reject(new Error('NETWORK')));
    });
  }

  say(sessionId: string, content: string, clientId: string): void {
    this.socket.send({ type: 'user_message', session_id: sessionId, content, client_id: clientId });
  }

  typing(sessionId: string, typing: boolean): void {
    this.socket.send({ type: 'typing_indicator', session_id: sessionId, metadata: { typing } });
  }
}
