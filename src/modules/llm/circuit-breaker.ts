// Stops hammering a dead provider: after `threshold` failures in a row the circuit opens for
// `cooldownMs`; then one trial request goes through (half-open) and its outcome closes or reopens it.
export type BreakerState = 'closed' | 'open' | 'half_open';

export class CircuitBreaker {
  private failures = 0;
  private openUntil = 0;
  private trialRunning = false;

  constructor(
    private readonly threshold: number,
    private readonly cooldownMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get state(): BreakerState {
    if (this.failures < this.threshold) return 'closed';
    return this.now() < this.openUntil ? 'open' : 'half_open';
  }

  // 0 when a request may go now; otherwise how long until it may (the client's retry_after).
  acquire(): number {
    if (this.failures < this.threshold) return 0;
    const wait = this.openUntil - this.now();
    if (wait > 0) return wait;
    if (this.trialRunning) return Math.max(1, this.cooldownMs);
    this.trialRunning = true;
    return 0;
  }

  success(): void {
    this.failures = 0;
    this.trialRunning = false;
  }

  // Returns true when this failure opened the circuit (worth an alert).
  failure(): boolean {
    const wasClosed = this.failures < this.threshold;
    this.failures++;
    this.trialRunning = false;
    if (this.failures < this.threshold) return false;
    this.openUntil = this.now() + this.cooldownMs;
    return wasClosed;
  }

  // A request that ended without a verdict (the user stopped it) frees the trial slot.
  release(): void {
    this.trialRunning = false;
  }
}
