import fc from 'fast-check';
import { cleanTitle, TITLE_MAX_CHARS } from './session-titler';

describe('cleanTitle', () => {
  it('should strip labels, quotes, markdown and the final period', () => {
    expect(cleanTitle('"Trip to Zürich."')).toBe('Trip to Zürich');
    expect(cleanTitle('Title: **Baking Sourdough Bread**')).toBe('Baking Sourdough Bread');
    expect(cleanTitle('\n\n  « Recette de crêpes »  \nmore text')).toBe('Recette de crêpes');
    expect(cleanTitle('## 東京旅行の計画。')).toBe('東京旅行の計画');
  });

  it('should return undefined when nothing usable is left', () => {
    expect(cleanTitle('')).toBeUndefined();
    expect(cleanTitle('  \n "" \n')).toBeUndefined();
    expect(cleanTitle('...')).toBeUndefined();
  });

  it('should cut a long title at a word', () => {
    const title = cleanTitle('word '.repeat(40)) as string;
    expect(title.length).toBeLessThanOrEqual(TITLE_MAX_CHARS);
    expect(title.endsWith('word')).toBe(true);
  });

  it('should give one clean line of at most the limit, or nothing, when given any model output', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 400 }), (raw) => {
        const title = cleanTitle(raw);
        if (title === undefined) return;
        expect(title.length).toBeGreaterThan(0);
        expect(Array.from(title).length).toBeLessThanOrEqual(TITLE_MAX_CHARS);
        expect(title).not.toMatch(/[\r\n\t]/);
        expect(title).toBe(title.trim());
        expect(title).not.toMatch(/\p{Cc}/u);
      }),
    );
  });
});
