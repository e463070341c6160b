// joins, leaves, reads and heartbeats share a per-user budget on the server (ROOM_RATE_LIMIT_...):
// read marks go at most this often, each room's newest
export const READ_MIN_INTERVAL_MS = 1_000;

export interface ReadMarkLink {
  // sends `read` (room_id, seq, client_id)
  send(roomId: string, seq: number, clientId: string): void;
  // the socket is connected and the room's join answered on it
  ready(roomId: string): boolean;
  newClientId(): string;
}

// This user's read marks on their way to the server (`read`, docs/protocol.md "Rooms"), until it
// answers them. The server's mark is what every unread count of the user is counted from (the room
// list's on every device, and after a reload), so a mark is sent again when it was lost: its
// socket closed before the answer, or it was refused over the budget (then after retry_after).
// Marks only move forward on the server ($max), so a copy is harmless.
export class ReadMarks {
  // per room: the mark to send
  private due = new Map<string, number>();
  // sent on this connection, not answered yet, by client_id
  private sent = new Map<string, { roomId: string; seq: number }>();
  private sentAt = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly link: ReadMarkLink) {}

  // The room is read through `seq`.
  mark(roomId: string, seq: number): void {
    this.due.set(roomId, Math.max(seq, this.due.get(roomId) ?? 0));
    this.flush();
  }

  // Sends what is due for the rooms that are ready, at most once a second.
  flush(): void {
    if (this.due.size === 0) return;
    const wait = this.sentAt + READ_MIN_INTERVAL_MS - Date.now();
    if (wait > 0) {
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        this.flush();
      }, wait);
      return;
    }
    for (const [roomId, seq] of this.due) {
      if (!this.link.ready(roomId)) continue;
      this.due.delete(roomId);
      const clientId = `read:${this.link.newClientId()}`;
      this.sent.set(clientId, { roomId, seq });
      this.sentAt = Date.now();
      this.link.send(roomId, seq, clientId);
    }
  }

  // Its ack: the server holds the mark. False for another frame's client_id.
  acked(clientId: string): boolean {
    return this.sent.delete(clientId);
  }

  // Its error: over the budget it goes again after `retryAfter` ms; otherwise it is dropped (the
  // room's own handling says why). False for another frame's client_id.
  refused(clientId: string, code: string, retryAfter: number): boolean {
    const read = this.sent.get(clientId);
    if (!read) return false;
    this.sent.delete(clientId);
    if (code !== 'RATE_LIMITED') return true;
    this.due.set(read.roomId, Math.max(read.seq, this.due.get(read.roomId) ?? 0));
    setTimeout(() => this.flush(), retryAfter);
    return true;
  }

  // A new connection: what the old socket carried without an answer is due again (sent once the
  // room's join answers on the new one).
  reconnected(): void {
    for (const { roomId, seq } of this.sent.values())
      this.due.set(roomId, Math.max(seq, this.due.get(roomId) ?? 0));
    this.sent.clear();
  }

  // The user is out of the room.
  forget(roomId: string): void {
    this.due.delete(roomId);
    for (const [clientId, read] of this.sent) if (read.roomId === roomId) this.sent.delete(clientId);
  }
}
