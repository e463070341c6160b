// The store client finds a store that is back within its 1 s heartbeat (STORE_CLIENT_OPTIONS): a
// holder renews at most a renewal period and this long after the store answers again.
const STORE_FOUND_AGAIN_MS = 2_000;

// Whether a takeover lease that ran out in the store has lapsed (CONTRACT §4: a lease lapses when
// its admin has had no open connection for TAKEOVER_GRACE). Its holder renews it every renewal
// period while the admin's socket shows life, but cannot while the store does not answer: after an
// outage longer than the grace every lease has run out, its admin there or not. So an instance judges
// a lease lapsed only once the store has answered its lease commands promptly for a whole grace (and
// at least a renewal period plus STORE_FOUND_AGAIN_MS): the holders renew meanwhile, and a lease
// still run out then has nobody renewing it. A command that fails, or takes longer than a renewal
// period (the store away, or frozen with its sockets open), starts that wait again. It only delays a
// verdict: nothing is written, and a lapse still ends a claim by its unique end insert
// (docs/protocol.md, "Takeover handoff").
export class LapseJudge {
  // since when every lease command here has been answered promptly; undefined after one failed, and
  // before the first: an instance started as the store came back has not seen it answer long enough
  // either (its holders elsewhere renew within the same wait)
  private answeringSince: number | undefined;
  private readonly settleMs: number;

  constructor(
    private readonly options: { graceMs: number; renewalMs: number },
    private readonly now: () => number = Date.now,
    // a store known to have answered since then (a unit test's: since for ever)
    answeringSince?: number,
  ) {
    this.answeringSince = answeringSince;
    this.settleMs = Math.max(options.graceMs, options.renewalMs + STORE_FOUND_AGAIN_MS);
  }

  // Runs store commands a verdict rests on (the lapse check's reads, a holder's renewals, a claim's
  // reads), noting whether the store answered them promptly.
  async timed<T>(commands: () => Promise<T>): Promise<T> {
    const started = this.now();
    let result: T;
    try {
      result = await commands();
    } catch (error) {
      this.answeringSince = undefined;
      throw error;
    }
    const answered = this.now();
    if (answered - started > this.options.renewalMs)
      this.answeringSince = Math.max(this.answeringSince ?? answered, answered);
    else this.answeringSince ??= answered;
    return result;
  }

  // A lease that ran out by now has lapsed, unless the store has not answered here long enough since
  // it was last away for its holder to have renewed it.
  lapsed(leaseUntil: Date): boolean {
    const now = this.now();
    if (leaseUntil.getTime() >= now) return false;
    return this.answeringSince !== undefined && now - this.answeringSince >= this.settleMs;
  }
}
