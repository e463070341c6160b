import type { Frame } from '../../shared/protocol';
import type { ChatSocket } from './chat-socket';
import type { ChatStore } from './chat-store';
import { newClientId } from './client-id';
import type { TokenBridge } from './token-bridge';

// What the embedding parent hears of the thread (connected, unread), and the read receipts its
// open/close and the page's visibility hold back.
export class EmbedState {
  // the session `chatbox:connected` was posted for on this connection (undefined: none yet)
  private announced: string | null | undefined;
  // the parent's open/close (SDK): replies that arrive while closed count as unread
  private open = true;
  private unread = 0;
  // the session's seq at the page's first connection_status to it: what is at or below it is history
  private unreadFloor: { sessionId: string | null; seq: number } = { sessionId: null, seq: 0 };
  // admin messages shown while the chat was closed or hidden: their read receipts wait
  private unseen: string[] = [];

  constructor(
    private readonly store: ChatStore,
    private readonly socket: ChatSocket,
    private readonly bridge: TokenBridge,
  ) {}

  // the parent's chatbox:open / chatbox:close
  setOpen(open: boolean): void {
    this.open = open;
    if (this.open && this.unread > 0) this.setUnread(0);
    this.sendReceipts();
  }

  // A connection_status to `sessionId`, whose log holds `seq` events.
  statusFor(sessionId: string | null, seq: number): void {
    if (sessionId !== this.unreadFloor.sessionId) {
      this.unreadFloor = { sessionId, seq };
      this.unseen = [];
    }
  }

  // once per connection and session: not again for the socket that replays its history, or a resync
  announce(sessionId: string | null): void {
    if (this.announced !== sessionId) {
      this.announced = sessionId;
      this.bridge.post({ type: 'chatbox:connected', session_id: sessionId });
    }
  }

  resetAnnounced(): void {
    this.announced = undefined;
  }

  // A frame of the session shown, before the thread applies it.
  countUnread(frame: Frame): void {
    // history (replayed at mount, or after another session was opened) is not unread
    const seen = Math.max(this.store.lastSeq, this.unreadFloor.seq);
    if (!this.open && isNewAnswer(frame, seen) && !this.store.holds(frame.seq ?? 0))
      this.setUnread(this.unread + 1);
  }

  // A frame of the session shown, once the thread applied it.
  queueReceipt(frame: Frame): void {
    // read receipt: an admin's message (text or a file) shown in an open chat on a visible page
    if (
      (frame.type === 'user_message' || frame.type === 'file_upload') &&
      frame.sender === 'admin' &&
      frame.id &&
      frame.metadata?.seen_at === undefined &&
      !this.unseen.includes(frame.id)
    ) {
      this.unseen.push(frame.id);
      this.sendReceipts();
    }
  }

  // A closed chat is display:none in the parent, and its page still says `visible`: both must hold.
  sendReceipts(): void {
    if (!this.open || document.visibilityState !== 'visible') return;
    // not sent (the link is down): the replay shows the message again, unseen
    this.unseen = this.unseen.filter(
      (id) => !this.socket.send({ type: 'read', id, client_id: newClientId() }),
    );
  }

  private setUnread(count: number): void {
    this.unread = count;
    this.bridge.post({ type: 'chatbox:unread', count });
  }
}

// A reply or an admin's message stored after everything shown: what a closed chat calls unread.
export function isNewAnswer(frame: Frame, lastSeq: number): boolean {
  const answer =
    (frame.type === 'ai_response' && frame.metadata?.done === true) ||
    (frame.sender === 'admin' && frame.type !== 'admin_join' && frame.type !== 'admin_leave');
  return answer && (frame.seq ?? 0) > lastSeq;
}
