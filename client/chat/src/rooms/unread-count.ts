// A room's unread count as the server counts `unread_count` (docs/protocol.md, "REST"): others' text
// messages after the member's read mark. The caller says which messages count (not the user's own,
// not system ones); here each seq counts once, whatever path and how often it comes (live, a resume's
// replay, a gap read), and never one at or below the read mark as this device knows it (its own
// reads, its other devices' `read`, the room list's `read_seq`). Until the first join answered the
// server's count from the room list stands: it counts the history that join sends, and the device
// counts what comes after where the join stood. The server's count is not taken again while in the
// room: it cannot tell which seqs it covers, so a message on its way as the list was read would count
// twice.
export class UnreadCount {
  private listedCount = 0;
  private listedMore = false;
  // where the first join stood: the list's count is of messages up to it (undefined: not joined)
  private from: number | undefined;
  private mark = 0;
  private seqs = new Set<number>();

  get count(): number {
    return this.listedCount + this.seqs.size;
  }

  // more than `count` (the server counted the first 100 messages after the read mark)
  get more(): boolean {
    return this.listedMore;
  }

  get readMark(): number {
    return this.mark;
  }

  // The room list's `unread_count` and `unread_more`, read while the device is not in the room live.
  listed(count: number, more: boolean): void {
    this.listedCount = Number.isSafeInteger(count) && count > 0 ? count : 0;
    this.listedMore = more;
    this.from = undefined;
    this.seqs.clear();
  }

  // The newest seq counted here: one the server had stored when a room list asked for now is read.
  get newest(): number {
    let newest = 0;
    for (const seq of this.seqs) newest = Math.max(newest, seq);
    return newest;
  }

  // The room list read while the device is in the room live (`asOf`: `newest` when it was asked
  // for): the server's count is not taken as it is (it cannot tell which seqs it covers), but its
  // read mark (`read_seq`) is, when the device knew less (a `read` of another device lost on its
  // way); the list's count then bounds what is left of the messages from before the first join: it
  // counts them and every message counted here up to `asOf`.
  relisted(count: number, readSeq: number | undefined, asOf: number): void {
    if (readSeq === undefined || !Number.isSafeInteger(readSeq) || readSeq <= this.mark) return;
    this.read(readSeq);
    if (this.from === undefined || readSeq >= this.from) return;
    let counted = 0;
    for (const seq of this.seqs) if (seq <= asOf) counted++;
    const listed = Number.isSafeInteger(count) ? count - counted : 0;
    this.listedCount = Math.max(0, Math.min(this.listedCount, listed));
    if (this.listedCount === 0) this.listedMore = false;
  }

  // The first join answered, standing at `seq`.
  joinedAt(seq: number): void {
    this.from = seq;
  }

  // A message that counts (someone else's, text), received after the first join.
  message(seq: number): void {
    if (this.from === undefined || seq <= this.from || seq <= this.mark) return;
    this.seqs.add(seq);
  }

  // The member's read mark moved to `seq` (it only moves forward, as the server's `$max`). One below
  // the first join's seq cannot tell which of the list's messages it covers: they stay counted.
  read(seq: number): void {
    if (!Number.isSafeInteger(seq) || seq < 0) return;
    this.mark = Math.max(this.mark, seq);
    for (const counted of this.seqs) if (counted <= this.mark) this.seqs.delete(counted);
    if (this.from !== undefined && seq >= this.from) {
      this.listedCount = 0;
      this.listedMore = false;
    }
  }

  // The user sees the room: everything it shows is read.
  clear(): void {
    this.listedCount = 0;
    this.listedMore = false;
    this.seqs.clear();
  }
}
