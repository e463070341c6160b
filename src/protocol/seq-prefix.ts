// Where a reader stands in a stream numbered by seq (a session's log, a room's messages;
// docs/protocol.md, "Guarantees" and "Resume point"): the highest seq N such that every seq up to N
// is had (or known absent). A seq above a gap is held with its value until the gap fills; then the
// point jumps over it. The server orders each socket's stored events with it (SeqOrder); the chat
// client keeps each room's resume point with it. Plain TypeScript: nothing here may import Node or
// Nest.

export interface SeqGap {
  // the missing seqs, both ends included
  from: number;
  to: number;
}

export class SeqPrefix<V> {
  // only while something is held: the usual step (takeNext) then reads this object alone
  private held: Map<number, V> | undefined;
  private at: number;

  constructor(point: number) {
    this.at = point;
  }

  // The reader stands at `point` from now on, with nothing held (as a new SeqPrefix(point)).
  restart(point: number): void {
    this.at = point;
    this.held = undefined;
  }

  get point(): number {
    return this.at;
  }

  get heldCount(): number {
    return this.held?.size ?? 0;
  }

  // the highest seq had: the point, or a held seq above it
  get highest(): number {
    let highest = this.at;
    for (const seq of this.held?.keys() ?? []) if (seq > highest) highest = seq;
    return highest;
  }

  // The usual case, the very next seq with nothing held: the point moves on to it and true (the
  // caller passes its value on); false otherwise (use add). No allocation: a fan-out does this per socket.
  takeNext(seq: number): boolean {
    if (seq !== this.at + 1 || this.held !== undefined) return false;
    this.at = seq;
    return true;
  }

  has(seq: number): boolean {
    return seq <= this.at || (this.held?.has(seq) ?? false);
  }

  // The value held for a seq above the point (waiting for a lower one), if any.
  heldAt(seq: number): V | undefined {
    return this.held?.get(seq);
  }

  // Takes a seq with its value. Returns the values that joined the prefix, in seq order (this one
  // among them when it filled the next place); nothing for a seq it has or one that is no integer.
  add(seq: number, value: V): V[] {
    if (!Number.isSafeInteger(seq) || this.has(seq)) return [];
    (this.held ??= new Map()).set(seq, value);
    return this.advance();
  }

  // Every seq up to `seq` is had another way or known absent: the held values up to it go out in
  // seq order, then the prefix goes on over what is held past it.
  skipThrough(seq: number): V[] {
    if (!Number.isSafeInteger(seq) || seq <= this.at) return [];
    const passed = [...(this.held?.keys() ?? [])].filter((held) => held <= seq).sort((a, b) => a - b);
    const released = passed.map((held) => this.take(held));
    this.at = seq;
    return [...released, ...this.advance()];
  }

  // The missing ranges between the point and the highest seq held, lowest first.
  gaps(): SeqGap[] {
    const gaps: SeqGap[] = [];
    let after = this.at;
    for (const seq of [...(this.held?.keys() ?? [])].sort((a, b) => a - b)) {
      if (seq > after + 1) gaps.push({ from: after + 1, to: seq - 1 });
      after = seq;
    }
    return gaps;
  }

  private advance(): V[] {
    const released: V[] = [];
    while (this.held?.has(this.at + 1)) released.push(this.take(++this.at));
    return released;
  }

  private take(seq: number): V {
    const held = this.held as Map<number, V>;
    const value = held.get(seq) as V;
    held.delete(seq);
    if (held.size === 0) this.held = undefined;
    return value;
  }
}
