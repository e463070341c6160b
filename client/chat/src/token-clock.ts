// When the JWT in hand runs out, on this device's clock. Phones' clocks are often minutes off the
// issuer's: a token judged by `exp` against Date.now() alone can look expired the moment it arrives.

// ask the parent for a new token this long before the current one expires
const REFRESH_BEFORE_MS = 60_000;
// never ask sooner than this; later each time a token came back that was no longer (a cached one)
export const MIN_REFRESH_WAIT_MS = 5_000;
// the soonest a short-lived token's first ask goes
const FIRST_SHORT_WAIT_MS = 1_000;
const MAX_SHORT_REFRESH_WAIT_MS = 60_000;
// `exp` may say a little more than `iat` counted from arrival (delivery, rounding to seconds)
const CLOCK_TOLERANCE_MS = 30_000;

export interface TokenExpiry {
  // the token's `exp`, for the parent (its own clock)
  exp: number;
  // when it runs out on this device's clock (ms)
  expiresAt: number;
  // its whole life (ms), or what was left on arrival without `iat`
  lifetime: number;
}

// The device's clock is believed when it puts the token within its own life (exp − iat); when it
// says the token expired already, or has more left than its whole life, the clock is off, and the
// life is counted from when the token arrived. Without `iat`, the device's clock is all there is.
export function tokenExpiry(token: string, arrivedAt: number): TokenExpiry | null {
  const { exp, iat } = tokenTimes(token);
  if (exp === undefined) return null;
  const byClock = exp * 1000 - arrivedAt;
  if (iat === undefined || iat >= exp) return { exp, expiresAt: exp * 1000, lifetime: byClock };
  const lifetime = (exp - iat) * 1000;
  const clockFits = byClock > 0 && byClock <= lifetime + CLOCK_TOLERANCE_MS;
  return { exp, expiresAt: clockFits ? exp * 1000 : arrivedAt + lifetime, lifetime };
}

// How long to wait before asking for the next token: until a fifth of a short token's life, or one
// minute, is left. `short`: the token came (back) with less than that; `asked` = requests already
// made for such tokens in a row, so a parent that answers with the same one is asked less often.
export function refreshDelay(
  expiry: TokenExpiry,
  now: number,
  asked: number,
): { wait: number; short: boolean } {
  const lead = Math.min(REFRESH_BEFORE_MS, Math.max(1000, expiry.lifetime / 5));
  const wait = expiry.expiresAt - lead - now;
  if (wait >= MIN_REFRESH_WAIT_MS) return { wait, short: false };
  // a new short-lived token (the parent mints one each time) is asked for before it runs out, a
  // second at the soonest: a JWT's `exp` is in whole seconds, so a "6 s" token may have 5.1 s left,
  // and a floor of 5 s let it expire first (the embed browser test's second socket)
  if (asked === 0) return { wait: Math.max(wait, FIRST_SHORT_WAIT_MS), short: true };
  return { wait: Math.min(MIN_REFRESH_WAIT_MS * 2 ** asked, MAX_SHORT_REFRESH_WAIT_MS), short: true };
}

// `exp` and `iat` (seconds), read without verifying: the server verifies.
function tokenTimes(token: string): { exp?: number; iat?: number } {
  try {
    const part = token.split('.')[1] ?? '';
    const claims: unknown = JSON.parse(atob(part.replace(/-/g, '+').replace(/_/g, '/')));
    if (typeof claims !== 'object' || claims === null) return {};
    const { exp, iat } = claims as { exp?: unknown; iat?: unknown };
    return {
      exp: typeof exp === 'number' && Number.isFinite(exp) ? exp : undefined,
      iat: typeof iat === 'number' && Number.isFinite(iat) ? iat : undefined,
    };
  } catch {
    return {};
  }
}
