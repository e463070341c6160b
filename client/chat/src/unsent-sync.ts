import { tokenClaims } from '../../shared/api';
import type { ChatSocket } from './chat-socket';
import type { ChatStore } from './chat-store';
import { toUnsentEntry, UnsentQueue, unsentKey, type UnsentEntry, type UnsentOwner } from './unsent-queue';

// Unsent messages across a reload and a switch of session (unsent-queue.ts): the socket's unacked
// frames of the session shown, read back once for each user and session shown, and written again
// whenever they change; those of a session left, owed to it until it is shown again.
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

  // What this tab had not sent to the session now shown (before a reload, or before another session
  // was shown): shown pending again, and sent by the socket right after this connection_status with
  // its own client_id, so a copy the server stored already is acked, not stored twice.
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
    this.unsent.save(owner, this.entries(this.socket.unsent));
  }

  // The thread shows `sessionId` from now on (the user opened it, or the server moved the socket
  // there). What the session left has not sent, unacked or refused and kept for a Retry, stays owed
  // to it (the server would store it in the new one) and goes once it is shown again; returns how many
  // messages that is. Without a session to own them (none connected yet) they move along with the
  // thread, shown pending in the new one and sent there.
  switchTo(sessionId: string | null): number {
    const owner = this.unsentOwner();
    let owed = 0;
    if (owner) {
      const left = this.entries(this.socket.takeUnsent());
      const ids = new Set(left.map((entry) => entry.frame.client_id));
      // kept already and not read back yet (its socket never connected): kept beside these
      const before = unsentKey(owner) === this.restoredKey ? [] : this.unsent.load(owner);
      this.unsent.save(owner, [...before.filter((entry) => !ids.has(entry.frame.client_id)), ...left]);
      owed = left.length;
      this.store.reset(sessionId);
    } else {
      const carried = this.entries(this.socket.unsent);
      this.store.reset(sessionId);
      for (const { frame, message } of carried)
        this.store.addPending({ ...message, clientId: frame.client_id });
    }
    this.restoredKey = null;
    return owed;
  }

  // A frame for `sessionId`, which is no longer shown (a file uploaded meanwhile): owed to it.
  owe(sessionId: string, frame: Record<string, unknown>, message: unknown): void {
    const userId = tokenClaims(this.token() ?? '').sub;
    const entry = toUnsentEntry(frame, message);
    if (!userId || !entry) return;
    const owner = { userId, sessionId };
    this.unsent.save(owner, [...this.unsent.load(owner), entry]);
  }

  // An ack of `clientId` came: a copy owed to a session left (the server moved the socket before it
  // handled the frame, and stored it in the new session) is settled, not sent there again.
  settled(clientId: string): void {
    const userId = tokenClaims(this.token() ?? '').sub;
    const owner = this.unsentOwner();
    if (!userId) return;
    for (const sessionId of this.unsent.owed(userId))
      if (!owner || sessionId !== owner.sessionId) this.unsent.forget({ userId, sessionId }, clientId);
  }

  // The sessions of this user with messages owed to them (the session list marks them).
  owedSessions(): ReadonlySet<string> {
    const userId = tokenClaims(this.token() ?? '').sub;
    return userId ? this.unsent.owed(userId) : new Set();
  }

  private entries(frames: Array<Record<string, unknown>>): UnsentEntry[] {
    return frames.flatMap((frame): UnsentEntry[] => {
      const entry = toUnsentEntry(frame, this.store.pendingMessage(String(frame.client_id)));
      return entry ? [entry] : [];
    });
  }
}
