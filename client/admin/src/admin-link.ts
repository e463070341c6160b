import type { Frame } from '../../shared/protocol';
import { ChatSocket, type LinkState } from '../../chat/src/chat-socket';

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

  join(sessionId: string): void {
    this.joined.add(sessionId);
    this.socket.send({ type: 'admin_join', session_id: sessionId });
  }

  leave(sessionId: string): void {
    this.joined.delete(sessionId);
    this.socket.send({ type: 'admin_leave', session_id: sessionId });
  }

  say(sessionId: string, content: string, clientId: string): void {
    this.socket.send({ type: 'user_message', session_id: sessionId, content, client_id: clientId });
  }

  typing(sessionId: string, typing: boolean): void {
    this.socket.send({ type: 'typing_indicator', session_id: sessionId, metadata: { typing } });
  }
}
