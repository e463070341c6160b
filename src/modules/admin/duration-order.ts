interface Timed {
  _id: string;
  is_active: boolean;
  start_time: Date;
  duration_ms: number | null;
}

// What sort=duration orders by: durationAsOf before its clamp at 0 (so active sessions keep exactly
// their start_time order, the order the database hands them over in), and no duration lowest. The
// returned duration_ms is this key clamped, so an order by the key is an order by what is returned;
// except for an active session resumed after it ended, whose duration_ms is its open time only
// (docs/protocol.md, "Resumed sessions") and which sorts by the time since it first started: no index
// orders active sessions by open time, and the pages stay exact in this order.
export function durationKey(row: Timed, now: Date): number {
  if (row.duration_ms === null || row.duration_ms === undefined) {
    return row.is_active ? now.getTime() - new Date(row.start_time).getTime() : -Infinity;
  }
  return row.duration_ms;
}

// The list's total order: the key, then _id (as the database breaks ties), both in the same direction.
export function compareByDuration(order: 'asc' | 'desc', now: Date) {
  const sign = order === 'asc' ? 1 : -1;
  return (a: Timed, b: Timed): number => {
    const keyA = durationKey(a, now);
    const keyB = durationKey(b, now);
    if (keyA !== keyB) return keyA < keyB ? -sign : sign;
    return a._id === b._id ? 0 : a._id < b._id ? -sign : sign;
  };
}

// Two lists each sorted by `compare`, as one sorted list.
export function mergeSorted<T>(first: T[], second: T[], compare: (a: T, b: T) => number): T[] {
  const merged: T[] = [];
  let i = 0;
  let j = 0;
  while (i < first.length && j < second.length) {
    merged.push(compare(first[i], second[j]) <= 0 ? first[i++] : second[j++]);
  }
  return merged.concat(first.slice(i), second.slice(j));
}
