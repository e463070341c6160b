import type { Metrics, MetricsAnswer } from './admin-api';

export interface MetricsView {
  total: Metrics;
  // where each slice ends, oldest first, and its figures
  ends: Date[];
  slices: Metrics[];
}

export type FetchMetrics = (from: Date, to: Date, buckets?: number) => Promise<MetricsAnswer>;

// The period's totals and the same figures for `count` slices of it: one call, the server slicing
// one read; a server that answers without `buckets` gets the old call per slice.
export async function loadMetrics(
  fetch: FetchMetrics,
  from: Date,
  to: Date,
  count: number,
): Promise<MetricsView> {
  const whole = await fetch(from, to, count);
  const span = to.getTime() - from.getTime();
  const ends = Array.from(
    { length: count },
    (_, index) => new Date(from.getTime() + (span * (index + 1)) / count),
  );
  if (Array.isArray(whole.buckets)) {
    const slices = whole.buckets;
    return { total: whole, ends: slices.map((slice, index) => dateOr(slice.to, ends[index] ?? to)), slices };
  }
  const starts = [from, ...ends.slice(0, -1)];
  const slices = await Promise.all(ends.map((end, index) => fetch(starts[index], end)));
  return { total: whole, ends, slices };
}

function dateOr(iso: string | undefined, fallback: Date): Date {
  const date = iso ? new Date(iso) : fallback;
  return Number.isNaN(date.getTime()) ? fallback : date;
}

// One load at a time. A refresh asked for while the same load runs is skipped (a slow server
// otherwise got a new batch every tick on top of the last); another key (the period changed) or a
// cancel (unmount) drops the running one: its signal aborts the request (it no longer holds one of
// the browser's few connections to the server), and a late answer or failure is ignored.
export class SingleFlight<T> {
  private running: { key: string; dropped: boolean; controller: AbortController } | null = null;

  run(
    key: string,
    load: (signal: AbortSignal) => Promise<T>,
    done: (value: T) => void,
    failed: (error: unknown) => void,
  ): boolean {
    if (this.running?.key === key) return false;
    this.cancel();
    const run = { key, dropped: false, controller: new AbortController() };
    this.running = run;
    load(run.controller.signal)
      .then(
        (value) => run.dropped || done(value),
        (error: unknown) => run.dropped || failed(error),
      )
      .finally(() => {
        if (this.running === run) this.running = null;
      });
    return true;
  }

  cancel(): void {
    if (this.running) {
      this.running.dropped = true;
      this.running.controller.abort();
    }
    this.running = null;
  }
}
