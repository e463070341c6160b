// Exact concurrency over a period from session intervals: a sweep over start/end events, O(n log n).
// Intervals are half-open [start, end): a session that ends at t and one that starts at t never
// overlap, and a zero-length session counts for nothing.
export interface Interval {
  start: number;
  end: number;
}

export interface Concurrency {
  // time-weighted mean number of sessions open during [from, to)
  avg: number;
  max: number;
}

export function concurrency(intervals: Iterable<Interval>, from: number, to: number): Concurrency {
  if (!(to > from)) return { avg: 0, max: 0 };
  // starts and ends sorted apart (native numeric sorts), then merged; at equal times ends go first
  const clipped: number[] = [];
  for (const interval of intervals) {
    const start = Math.max(interval.start, from);
    const end = Math.min(interval.end, to);
    if (end > start) clipped.push(start, end);
  }
  const count = clipped.length / 2;
  const starts = new Float64Array(count);
  const ends = new Float64Array(count);
  for (let k = 0; k < count; k++) {
    starts[k] = clipped[2 * k];
    ends[k] = clipped[2 * k + 1];
  }
  starts.sort();
  ends.sort();
  let open = 0;
  let max = 0;
  let area = 0;
  let previous = from;
  for (let s = 0, e = 0; e < count;) {
    const isStart = s < count && starts[s] < ends[e];
    const time = isStart ? starts[s++] : ends[e++];
    area += open * (time - previous);
    previous = time;
    open += isStart ? 1 : -1;
    if (open > max) max = open;
  }
  return { avg: area / (to - from), max };
}
