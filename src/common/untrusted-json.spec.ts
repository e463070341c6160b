import fc from 'fast-check';
import { adversarialValue, deepFrame, hostileFrame } from '../../test/fuzz/adversarial';
import {
  DEFAULT_JSON_LIMITS,
  FORBIDDEN_KEYS,
  parseUntrustedJson,
  untrustedJsonProblem,
} from './untrusted-json';

// the reference: a plain breadth-first walk, separate from the code under test
function measure(value: unknown): { depth: number; forbidden: boolean } {
  let level: unknown[] = [value];
  let depth = 0;
  let forbidden = false;
  while (level.length > 0) {
    const next: unknown[] = [];
    for (const item of level) {
      if (typeof item !== 'object' || item === null) continue;
      if (!Array.isArray(item) && Object.keys(item).some((key) => FORBIDDEN_KEYS.has(key))) forbidden = true;
      next.push(...Object.values(item));
    }
    if (level.some((item) => typeof item === 'object' && item !== null)) depth++;
    level = next;
  }
  return { depth, forbidden };
}

describe('parseUntrustedJson', () => {
  it('should refuse a constructor key where class-transformer crashed on it', () => {
    const result = parseUntrustedJson('{"type":"typing_indicator","metadata":{"constructor":1}}');
    expect(result).toEqual({ ok: false, reason: 'Key "constructor" is not allowed.' });
  });

  it('should refuse __proto__ and prototype at any depth', () => {
    expect(parseUntrustedJson('{"a":[{"b":{"__proto__":{"x":1}}}]}').ok).toBe(false);
    expect(parseUntrustedJson('{"metadata":{"constructor":{"prototype":{}}}}').ok).toBe(false);
    expect(parseUntrustedJson('[[[{"prototype":1}]]]').ok).toBe(false);
  });

  it('should refuse 10,000 levels of nesting without overflowing the stack', () => {
    for (const text of [
      '['.repeat(10_000) + ']'.repeat(10_000),
      '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000),
    ]) {
      const result = parseUntrustedJson(text);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.reason).toContain('nested');
    }
  });

  it('should refuse more entries than the limit and accept the limit itself', () => {
    const limits = { maxDepth: 32, maxEntries: 10 };
    expect(parseUntrustedJson(JSON.stringify(Array.from({ length: 10 }, (_, i) => i)), limits).ok).toBe(true);
    expect(parseUntrustedJson(JSON.stringify(Array.from({ length: 11 }, (_, i) => i)), limits).ok).toBe(
      false,
    );
    const wide = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`k${i}`, i]));
    expect(parseUntrustedJson(JSON.stringify(wide), limits).ok).toBe(false);
  });

  it('should refuse text that is not JSON', () => {
    expect(parseUntrustedJson('{"a":')).toEqual({ ok: false, reason: 'Not valid JSON.' });
  });

  it('should accept a value iff it is within depth, entries and has no forbidden key, and never throw', () => {
    fc.assert(
      fc.property(fc.oneof(adversarialValue, deepFrame, hostileFrame), (text) => {
        const result = parseUntrustedJson(text);
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          expect(result.ok).toBe(false);
          return;
        }
        const { depth, forbidden } = measure(parsed);
        const acceptable = depth <= DEFAULT_JSON_LIMITS.maxDepth && !forbidden;
        // the entry count is the only other refusal; generated values stay far below it
        expect(result.ok).toBe(acceptable);
      }),
      { numRuns: 2000 },
    );
  });

  it('should accept every plain JSON value fast-check makes without forbidden keys', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), (value) => {
        fc.pre(!measure(value).forbidden);
        expect(untrustedJsonProblem(value)).toBeUndefined();
      }),
      { numRuns: 500 },
    );
  });
});
