import fc from 'fast-check';
import { searchWords, textMatches } from '../../common/crypto/blind-index';
import { snippet } from './session-search';

const LONE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

// words of letters whose folding changes lengths or needs the code point whole (Turkish capitals: İ
// is two units lower-cased; accents precomposed and combining; ß; a ligature; Greek capitals, for
// the final sigma; CJK), between separators that hold emoji (surrogate pairs)
const letter = fc.constantFrom(
  ...['a', 'z', 'e', 'k', 'r', 'n', 'İ', 'I', 'ı', 'é', 'e\u0301', 'É', 'ß', 'ﬁ', 'Σ', 'ο', 'Ж', '漢', '7'],
);
const word = fc.array(letter, { minLength: 1, maxLength: 8 }).map((letters) => letters.join(''));
const separator = fc.constantFrom(' ', '  ', '\n', ', ', '-', '😀', ' 🎉🎉 ', '👩‍👧', '. ');
const text = fc
  .array(fc.tuple(word, separator), { minLength: 30, maxLength: 120 })
  .map((pairs) => pairs.map(([w, s]) => w + s).join(''));

describe('snippet', () => {
  it('should be well-formed for any text and any words', () => {
    fc.assert(
      fc.property(
        fc.oneof(text, fc.string({ unit: 'grapheme', maxLength: 300 })),
        fc.array(fc.string({ unit: 'grapheme', maxLength: 6 }), { maxLength: 3 }),
        (content, words) => {
          expect(LONE.test(snippet(content, words))).toBe(false);
        },
      ),
      { numRuns: 500 },
    );
  });

  // the word a search matched is in the snippet, as the index matches it (the start of a word of
  // the snippet, folded), whenever the word is short enough to fit
  it('should hold any word of the text it is cut for', () => {
    fc.assert(
      fc.property(text, fc.nat(), (content, pick) => {
        const words = searchWords(content).filter((word) => word.length <= 60);
        fc.pre(words.length > 0);
        const word = words[pick % words.length];
        const cut = snippet(content, [word]);
        expect(LONE.test(cut)).toBe(false);
        expect([word, cut, textMatches(cut, [word])]).toEqual([word, cut, true]);
      }),
      { numRuns: 500 },
    );
  });

  it('should show the word as written', () => {
    const turkish = `${'DİKKAT İSTANBUL İZMİR İNEGÖL '.repeat(12)}zanzibar feneri nerede`;
    expect(snippet(turkish, ['zanzibar'])).toContain('zanzibar feneri nerede');
    const french = `${'Nous avons parlé du voyage. '.repeat(15)}Rendez-vous au café de la gare.`;
    expect(snippet(french, ['cafe'])).toContain('café de la gare');
    expect(snippet('Ein Gruß aus Straße', ['strasse'])).toContain('Straße');
    const emoji = `${'😀'.repeat(60)}  zanzibar ${'🎉'.repeat(80)}`;
    expect(snippet(emoji, ['zanzibar'])).toMatch(/^…(😀)+ zanzibar (🎉)+…$/u);
    // at the start of a word when there is one, as the index matches
    expect(snippet(`decafe ${'x '.repeat(100)}cafe`, ['cafe'])).toMatch(/cafe$/);
  });
});
