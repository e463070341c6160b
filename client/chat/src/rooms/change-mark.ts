import { SeqPrefix } from '../../../shared/protocol';

// A room's change mark (docs/protocol.md, "Change log"): the `changed_after` a reconnecting device
// asks with. The highest change number N such that every change up to N was applied (its frame,
// `metadata.change`) or read (a changes read answered through it), above where the device's log
// started (its first join's `metadata.changed`): a number above a missing one is kept and the mark
// jumps over it once the missing one comes, so the mark never passes a change the device missed (a
// frame lost with a socket, or on a bus that was away). Undefined until a first join gave a start
// (a server without a change log): the device then reads its pages again (held-refresh.ts). The
// same state machine as the resume point (SeqPrefix, src/protocol).
export class ChangeMark {
  private prefix: SeqPrefix<true> | undefined;
  // numbers applied before the first join answered (their frames may come first)
  private early: number[] = [];

  get point(): number | undefined {
    return this.prefix?.point;
  }

  // The first join's `metadata.changed`: the device's log starts there (what the join sent reflects
  // every change up to it; one still being written is above it). Once: later joins resume from the
  // mark.
  startsAt(changed: number): void {
    if (this.prefix || !isChangeNumber(changed)) return;
    this.prefix = new SeqPrefix(changed);
    for (const n of this.early) this.prefix.add(n, true);
    this.early = [];
  }

  // A change frame's number, applied.
  seen(n: number): void {
    if (!isChangeNumber(n) || n === 0) return;
    if (this.prefix) this.prefix.add(n, true);
    else if (this.early.length < 1000) this.early.push(n);
  }

  // A changes read answered through `n`: every change up to it is in hand.
  through(n: number): void {
    if (isChangeNumber(n)) this.prefix?.skipThrough(n);
  }

  // After a full read of the held pages (the log could not answer): every change up to `n` is in hand.
  restart(n: number): void {
    if (!isChangeNumber(n)) return;
    this.prefix = new SeqPrefix(n);
    this.early = [];
  }

  // no mark: the next reconnect reads the pages again
  forget(): void {
    this.prefix = undefined;
    this.early = [];
  }
}

function isChangeNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
