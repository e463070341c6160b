import fc from 'fast-check';
import { parseDuration } from './duration';

describe('parseDuration', () => {
  const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, '': 1 };

  it('should parse n followed by a unit to n times the unit in milliseconds when n is a whole number', () => {
    const withUnit = fc
      .constantFrom(...Object.keys(UNITS))
      .chain((unit) =>
        fc.tuple(
          fc.constant(unit),
          fc.integer({ min: 0, max: Math.floor(Number.MAX_SAFE_INTEGER / UNITS[unit]) }),
        ),
      );
    fc.assert(
      fc.property(withUnit, ([unit, n]) => {
        expect(parseDuration(`${n}${unit}`)).toBe(n * UNITS[unit]);
      }),
      { numRuns: 500 },
    );
  });

  it('should parse the documented examples', () => {
    expect(parseDuration('15m')).toBe(900_000);
    expect(parseDuration('60s')).toBe(60_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(parseDuration('1d')).toBe(86_400_000);
    expect(parseDuration('250')).toBe(250);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration(' 10 s ')).toBe(10_000);
  });

  it('should return undefined when the text is not a duration', () => {
    for (const garbage of [
      '',
      'abc',
      '15x',
      '-5s',
      's',
      '1e3',
      '5 m s',
      'NaN',
      'Infinity',
      '1,5s',
      '0x10',
      '10sec',
    ]) {
      expect(parseDuration(garbage)).toBeUndefined();
    }
  });

  it('should return undefined when the duration is too large to be exact', () => {
    expect(parseDuration(`${'9'.repeat(400)}ms`)).toBeUndefined();
    expect(parseDuration(`${Number.MAX_SAFE_INTEGER}d`)).toBeUndefined();
  });

  it('should never throw and return undefined or a non-negative safe integer when given any string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        const value = parseDuration(text);
        if (value !== undefined) {
          expect(Number.isSafeInteger(value)).toBe(true);
          expect(value).toBeGreaterThanOrEqual(0);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('should return undefined when a valid duration has a letter in front', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z]$/),
        fc.nat(),
        fc.constantFrom('ms', 's', 'm', 'h', 'd'),
        (prefix, n, unit) => {
          expect(parseDuration(`${prefix}${n}${unit}`)).toBeUndefined();
        },
      ),
    );
  });
});
