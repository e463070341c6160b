// The instance's own clocks: the wall clock, which `alive_at` is written in and other instances
// judge it by, and the monotonic one, which a wall clock set back does not hide a pause from.
export interface Clocks {
  wall(): number;
  mono(): number;
}

export const systemClocks: Clocks = { wall: () => Date.now(), mono: () => performance.now() };

export interface Stamp {
  wall: number;
  mono: number;
}

// Whether a pending upload's room in its owner's quota may have stopped counting while the upload ran,
// as its own instance sees it: the room counts while the record was touched within `lifeMs`
// (FilesRepository.usedBytes), so it may have lapsed once the last touch the store confirmed is
// older than that on either clock, at any moment until the next one is confirmed. A lapse is for
// good: a touch after it counts the room again, but another upload may have been given it meanwhile
// (docs/protocol.md, "Uploads and files").
export class ReservationWatch {
  // when the reservation is written: its record's `alive_at`
  readonly reservedAt: Stamp;
  private confirmed: Stamp;
  private lapsed = false;

  constructor(
    private readonly lifeMs: number,
    private readonly clocks: Clocks = systemClocks,
  ) {
    this.reservedAt = this.confirmed = this.now();
  }

  now(): Stamp {
    return { wall: this.clocks.wall(), mono: this.clocks.mono() };
  }

  // A touch sent at `sent` was written: the gap up to now is judged first (other instances saw the
  // previous touch until this one landed), then the room counts from `sent` on.
  confirm(sent: Stamp): void {
    this.observe();
    if (sent.mono > this.confirmed.mono) this.confirmed = sent;
  }

  // The gap since the last confirmed touch, now: past the life, the room may have lapsed.
  observe(): void {
    if (this.olderThan(this.lifeMs)) this.lapsed = true;
  }

  // `marginMs` spares the time the caller still needs before its record stops being pending.
  mayHaveLapsed(marginMs = 0): boolean {
    this.observe();
    return this.lapsed || this.olderThan(this.lifeMs - marginMs);
  }

  private olderThan(ms: number): boolean {
    const now = this.now();
    return now.wall - this.confirmed.wall > ms || now.mono - this.confirmed.mono > ms;
  }
}
