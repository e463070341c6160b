import fc from 'fast-check';
import { compositeKey, KEY_ESCAPE, plainKey } from './composite-key';

// strings dense in separators and escapes, and any strings at all
const part = (separator: string) =>
  fc.oneof(
    fc.string({ unit: fc.constantFrom(separator, KEY_ESCAPE, 'a', 'b', '1', '#', '\u0000'), maxLength: 6 }),
    fc.string({ unit: 'binary', maxLength: 8 }),
  );
const separators = fc.constantFrom('|', '\u0000', ':');
// two tuples of the same number of parts (each key's use has its own number)
const twoTuples = separators.chain((separator) =>
  fc
    .integer({ min: 1, max: 4 })
    .chain((size) =>
      fc.tuple(
        fc.constant(separator),
        fc.array(part(separator), { minLength: size, maxLength: size }),
        fc.array(part(separator), { minLength: size, maxLength: size }),
      ),
    ),
);

// reads a key back into its `size` parts, as the format says (left to right, escapes undone, the
// last part all that remains)
function split(key: string, size: number, separator: string): string[] {
  const parts: string[] = [];
  let current = '';
  let index = 0;
  while (index < key.length && parts.length < size - 1) {
    const char = key[index];
    if (char === KEY_ESCAPE) {
      current += key[index + 1];
      index += 2;
    } else if (char === separator) {
      parts.push(current);
      current = '';
      index++;
    } else {
      current += char;
      index++;
    }
  }
  return [...parts, current + key.slice(index)];
}

describe('compositeKey', () => {
  it('should name one tuple per key: keys of different tuples of the same size differ (property)', () => {
    fc.assert(
      fc.property(twoTuples, ([separator, a, b]) => {
        if (a.some((text, index) => text !== b[index]))
          expect(compositeKey(a, separator)).not.toBe(compositeKey(b, separator));
        else expect(compositeKey(a, separator)).toBe(compositeKey(b, separator));
      }),
      { numRuns: 2000 },
    );
  });

  it('should read back into the parts it was made of (property)', () => {
    fc.assert(
      fc.property(twoTuples, ([separator, parts]) => {
        expect(split(compositeKey(parts, separator), parts.length, separator)).toEqual(parts);
      }),
      { numRuns: 2000 },
    );
  });

  it('should be the plain join whenever the leading parts hold neither the separator nor the escape (property)', () => {
    fc.assert(
      fc.property(twoTuples, ([separator, parts]) => {
        const leadingPlain = parts
          .slice(0, -1)
          .every((text) => !text.includes(separator) && !text.includes('\\'));
        expect(compositeKey(parts, separator) === plainKey(parts, separator)).toBe(leadingPlain);
      }),
      { numRuns: 2000 },
    );
  });

  it('should keep apart the keys the plain join made one', () => {
    expect(compositeKey(['r', 'u', 'x|1'])).toBe('r|u|x|1');
    expect(compositeKey(['r', 'u|x', '1'])).toBe('r|u\\|x|1');
    expect(compositeKey(['a|b', 'c'])).toBe('a\\|b|c');
    expect(compositeKey(['a', 'b|c'])).toBe('a|b|c');
    expect(compositeKey(['a\\', 'b'])).toBe('a\\\\|b');
    expect(compositeKey(['x\u0000y', 'z'], '\u0000')).toBe('x\\\u0000y\u0000z');
    expect(() => compositeKey(['a'], '\\')).toThrow();
  });
});
