import fc from 'fast-check';
import { isRetryableStatus, parseRetryAfter } from './llm-provider';

describe('parseRetryAfter', () => {
  it('should read seconds, fractions, HTTP dates and retry-after-ms', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('2', null, now)).toBe(2000);
    expect(parseRetryAfter('0.25', null, now)).toBe(250);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', null, now)).toBe(5000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', null, now)).toBe(0);
    expect(parseRetryAfter('2', '150', now)).toBe(150);
    expect(parseRetryAfter(undefined)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
  });

  it('should return undefined or a non-negative number when given any header values', () => {
    fc.assert(
      fc.property(fc.option(fc.string()), fc.option(fc.string()), (retryAfter, retryAfterMs) => {
        const value = parseRetryAfter(retryAfter, retryAfterMs);
        if (value !== undefined) {
          expect(Number.isFinite(value)).toBe(true);
          expect(value).toBeGreaterThanOrEqual(0);
        }
      }),
    );
  });
});

describe('isRetryableStatus', () => {
  it('should retry rate limits, timeouts and server errors only', () => {
    expect([408, 409, 429, 500, 502, 503, 529].every(isRetryableStatus)).toBe(true);
    expect([400, 401, 403, 404, 413, 422].some(isRetryableStatus)).toBe(false);
  });
});
