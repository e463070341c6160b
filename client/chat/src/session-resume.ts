import type { ChatSocket } from './chat-socket';
import type { ChatStore } from './chat-store';

const GAP_RESYNC_MIN_INTERVAL_MS = 5_000;

// Where the socket resumes (the session asked for, else the one shown, from the thread's last seq),
// and the resync that fills a gap in seq.
export class SessionResume {
  // the session asked for (the SDK's, another one opened), until its connection_status
  wantSession: string | null = null;
  private lastResync = 0;
  private resyncTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly store: ChatStore,
    private readonly socket: ChatSocket,
  ) {}

  resumeFrom(): { sessionId: string; lastSeq: number } | null {
    const sessionId = this.wantSession ?? this.store.sessionId;
    return sessionId ? { sessionId, lastSeq: this.store.lastSeq } : null;
  }

  resync(): void {
    clearTimeout(this.resyncTimer);
    const wait = this.lastResync + GAP_RESYNC_MIN_INTERVAL_MS - Date.now();
    // one resync at a time: a gap still open once the wait is over is filled then (a reconnect
    // meanwhile replays from the resume point anyway)
    if (wait > 0) {
      this.resyncTimer = setTimeout(() => {
        if (this.store.hasGap && this.socket.state.kind === 'connected') this.resync();
      }, wait);
      return;
    }
    this.lastResync = Date.now();
    this.socket.restart();
  }
}
