import { tokenClaims } from '../../shared/api';
import type { ChatSocket } from './chat-socket';
import type { ChatStore } from './chat-store';
import { toUnsentEntry, UnsentQueue, unsentKey, type UnsentEntry, type UnsentOwner } from './unsent-queue';

// Unsent messages across a reload (unsent-queue.ts): the socket's unacked frames of the session shown,
// read back once for each user and session, and written again whenever they change.
export class UnsentSync {
  private readonly unsent = new UnsentQueue();
  // the unsent queue read back from storage last (user and session): none is written before it is read
  private restoredKey: string | null = null;

  constructor(
    private readonly token: () => string | null,
    private readonly store: ChatStore,
    private readonly socket: ChatSocket,
  ) {}

  private unsentOwner(): UnsentOwner | null {
    const userId = tokenClaims(this.token() ?? '').sub;
    const sessionId = this.store.sessionId;
    return userId && sessionId ? { userId, sessionId } : null;
  }

  // What this tab had not sent to the session now shown, before a reload: shown pending again, and
  // sent by the socket right after this connection_status with its own client_id, so a copy the
  // server stored already is acked, not stored twice.
  restoreUnsent(): void {
    const owner = this.unsentOwner();
    if (!owner || unsentKey(owner) === this.restoredKey) return;
    this.restoredKey = unsentKey(owner);
    for (const { frame, message } of this.unsent.load(owner)) {
      if (this.socket.holds(frame.client_id) || this.store.knows(frame.client_id)) continue;
      this.store.addPending({ ...message, clientId: frame.client_id });
      this.socket.keep({ ...frame });
    }
    this.saveUnsent();
  }

  saveUnsent(): void {
    const owner = this.unsentOwner();
    // another user's or session's queue is read back (or found empty) before this one replaces it
    if (!owner || unsentKey(owner) !== this.restoredKey) return;
    const entries = this.socket.unsent.flatMap((frame): UnsentEntry[] => {
      const entry = toUnsentEntry(frame, this.store.pendingMessage(String(frame.client_id)));
      return entry ? [entry] : [];
    });
    this.unsent.save(owner, entries);
  }
}
