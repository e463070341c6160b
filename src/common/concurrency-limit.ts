// At most `limit` tasks run at once; later ones wait in order, at most `maxWaiting` of them. A task
// that finds the line full is refused at once (`run` answers `undefined` without running it): for
// background work that is worth doing only while it stays cheap to wait for (docs/protocol.md,
// "Session titles").
export class ConcurrencyLimit {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly limit: number,
    private readonly maxWaiting: number,
  ) {
    if (!(limit >= 1) || !(maxWaiting >= 0)) throw new RangeError('limit ≥ 1 and maxWaiting ≥ 0');
  }

  get active(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.length;
  }

  async run<T>(task: () => Promise<T>): Promise<{ value: T } | undefined> {
    if (this.running >= this.limit) {
      if (this.waiting.length >= this.maxWaiting) return undefined;
      // the slot is handed over by the task that ends (release), so no later caller takes it first
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else this.running++;
    try {
      return { value: await task() };
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
