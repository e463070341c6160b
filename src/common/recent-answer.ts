// One answer to a question asked of a dependency, shared by every caller for `ttlMs` from when it
// was asked (while it is being asked, too): a flood of callers costs the dependency one question per
// window. An answer that failed is shared the same way, for the same time.
export class RecentAnswer<T> {
  private last?: { at: number; answer: Promise<T> };

  constructor(
    private readonly ask: () => Promise<T>,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get(): Promise<T> {
    const now = this.now();
    if (this.last && now - this.last.at < this.ttlMs) return this.last.answer;
    const answer = this.ask();
    // nobody may be waiting when it fails: the failure is the next caller's, not an unhandled one
    answer.catch(() => undefined);
    this.last = { at: now, answer };
    return answer;
  }
}
