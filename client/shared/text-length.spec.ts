import fc from 'fast-check';
import { codePoints, unitCap } from './text-length';

describe('codePoints', () => {
  it('should count a surrogate pair as one and a lone surrogate as one, as the server does', () => {
    expect(codePoints('')).toBe(0);
    expect(codePoints('😀'.repeat(100))).toBe(100);
    expect(codePoints('✔️')).toBe(2);
    expect(codePoints('a\uD800b\uDFFF')).toBe(4);
    expect(codePoints('\uDFFF\uD800')).toBe(2);
  });

  it('should count what Array.from counts, for any text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        expect(codePoints(text)).toBe(Array.from(text).length);
      }),
    );
  });

  it('should leave room in an input for a text of max code points, however written', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 50 }), (text) => {
        expect(text.length).toBeLessThanOrEqual(unitCap(codePoints(text)));
      }),
    );
  });
});
