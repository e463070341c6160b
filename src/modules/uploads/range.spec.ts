import fc from 'fast-check';
import { parseRange } from './range';

describe('parseRange', () => {
  it('should read the three single-range forms', () => {
    expect(parseRange('bytes=0-99', 1000)).toEqual({ start: 0, end: 99 });
    expect(parseRange('bytes=900-', 1000)).toEqual({ start: 900, end: 999 });
    expect(parseRange('bytes=-100', 1000)).toEqual({ start: 900, end: 999 });
    expect(parseRange('bytes=990-5000', 1000)).toEqual({ start: 990, end: 999 });
  });

  it('should serve the whole file when the header is absent, multi-range or not bytes', () => {
    expect(parseRange(undefined, 10)).toBeUndefined();
    expect(parseRange('bytes=0-1,5-6', 10)).toBeUndefined();
    expect(parseRange('items=0-1', 10)).toBeUndefined();
    expect(parseRange('bytes=-', 10)).toBeUndefined();
    expect(parseRange('bytes=5-2', 10)).toBeUndefined();
  });

  it('should call a range past the end unsatisfiable', () => {
    expect(parseRange('bytes=10-', 10)).toBe('unsatisfiable');
    expect(parseRange('bytes=-0', 10)).toBe('unsatisfiable');
    expect(parseRange('bytes=0-', 0)).toBe('unsatisfiable');
  });

  it('should always answer a range inside the file when it answers one, whatever the header', () => {
    const header = fc.oneof(
      fc.string({ maxLength: 30 }),
      fc
        .tuple(fc.option(fc.nat({ max: 5000 })), fc.option(fc.nat({ max: 5000 })))
        .map(([start, end]) => `bytes=${start ?? ''}-${end ?? ''}`),
    );
    fc.assert(
      fc.property(header, fc.nat({ max: 4000 }), (value, size) => {
        const range = parseRange(value, size);
        if (range === undefined || range === 'unsatisfiable') return;
        expect(range.start).toBeGreaterThanOrEqual(0);
        expect(range.end).toBeLessThan(size);
        expect(range.start).toBeLessThanOrEqual(range.end);
      }),
      { numRuns: 1000 },
    );
  });
});
