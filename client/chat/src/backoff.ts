// Reconnect delays: 1, 2, 4, 8, 16, then 30 s at most, each with ±20 % jitter so a restarted
// server is not hit by every client in the same instant.
export const BACKOFF_STEPS_MS = [1000, 2000, 4000, 8000, 16000, 30000];
export const BACKOFF_MAX_MS = 30000;

export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const last = BACKOFF_STEPS_MS.length - 1;
  // a nonsensical attempt count (NaN, ±Infinity) waits the longest, never the shortest
  const step = Number.isFinite(attempt) ? Math.min(Math.max(0, Math.floor(attempt)), last) : last;
  const base = BACKOFF_STEPS_MS[step];
  const jitter = 0.8 + 0.4 * Math.min(1, Math.max(0, random()));
  return Math.round(Math.min(BACKOFF_MAX_MS, base * jitter));
}
