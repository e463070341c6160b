import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { BlindIndex, INDEXED_CHARS, MIN_PREFIX, searchWords, textMatches } from './blind-index';

const index = new BlindIndex(randomBytes(32));
const matches = (text: string, query: string) => {
  const tokens = new Set(index.tokensOf(text));
  const wanted = index.queryTokens(query);
  return wanted.length > 0 && wanted.every((token) => tokens.has(token));
};
const cut = (word: string) => [...word].slice(0, INDEXED_CHARS).join('');

// words of letters from a few scripts, accents included, so folding and code points are exercised
const letter = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzéüßçøΩжЖ漢字0123456789'.split(''));
const word = fc.array(letter, { minLength: 1, maxLength: 16 }).map((letters) => letters.join(''));
const separator = fc.constantFrom(' ', '  ', ', ', '\n', '__', '-', '. ', '!?');
const text = fc
  .array(fc.tuple(word, separator), { maxLength: 25 })
  .map((pairs) => pairs.map(([w, s]) => w + s).join(''));

describe(BlindIndex.name, () => {
  it('should find a word iff some word of the text starts with it (up to the indexed length)', () => {
    fc.assert(
      fc.property(text, word, (content, query) => {
        const [normalized] = searchWords(query);
        fc.pre(normalized !== undefined);
        const present = searchWords(content).some((candidate) => cut(candidate).startsWith(cut(normalized)));
        expect(matches(content, query)).toBe(present);
      }),
      { numRuns: 300 },
    );
  });

  // A session's messages keep no tokens of their own (they were ~10× the text's size, rewritten by
  // FerretDB on every append): the messages of a session the index found are matched in code on their
  // decrypted text, exactly as their tokens would match (several query words, all needed).
  it('should match a text in code exactly as its tokens match the query', () => {
    fc.assert(
      fc.property(text, fc.array(fc.tuple(word, separator), { maxLength: 4 }), (content, pairs) => {
        const query = pairs.map(([w, s]) => w + s).join('');
        expect(textMatches(content, searchWords(query))).toBe(matches(content, query));
      }),
      { numRuns: 500 },
    );
    // a query word found as the start of a text's word, across case, accents and the indexed length
    expect(textMatches('Déjà vu in ZANZIBAR', searchWords('zanz deja'))).toBe(true);
    expect(textMatches('anzibar', searchWords('zanzibar'))).toBe(false);
    expect(textMatches('anything', [])).toBe(false);
  });

  // the tokens of common prefixes are remembered (bounded): the same tokens as computed afresh,
  // whatever came before and however full the memory is
  it('should give the same tokens from its memory of prefixes as computed afresh', () => {
    const key = randomBytes(32);
    const remembering = new BlindIndex(key, 50);
    fc.assert(
      fc.property(fc.array(text, { minLength: 1, maxLength: 6 }), (texts) => {
        for (const content of texts) {
          const fresh = new BlindIndex(key, 0);
          expect(remembering.tokensOf(content)).toEqual(fresh.tokensOf(content));
          expect(remembering.queryTokens(content)).toEqual(fresh.queryTokens(content));
        }
      }),
      { numRuns: 100 },
    );
  });

  it('should find every word of a text in it, whatever its case and accents', () => {
    fc.assert(
      fc.property(text, (content) => {
        for (const candidate of searchWords(content))
          expect(matches(content.toUpperCase(), candidate)).toBe(true);
      }),
      { numRuns: 100 },
    );
    expect(matches('Crème brûlée au Café', 'creme BRULEE cafe')).toBe(true);
    expect(matches('__xss attempt', 'xss')).toBe(true);
  });

  it('should store no plaintext: tokens are fixed-size keyed hashes that another key does not reproduce', () => {
    const other = new BlindIndex(randomBytes(32));
    fc.assert(
      fc.property(text, (content) => {
        const tokens = index.tokensOf(content);
        for (const token of tokens) expect(token).toMatch(/^[A-Za-z0-9_-]{12}$/);
        const words = searchWords(content).filter((candidate) => candidate.length >= 6);
        const stored = JSON.stringify(tokens).toLowerCase();
        for (const candidate of words) expect(stored).not.toContain(candidate);
        const theirs = new Set(other.tokensOf(content));
        expect(tokens.filter((token) => theirs.has(token))).toEqual([]);
      }),
      { numRuns: 100 },
    );
  });

  it('should ignore queries with no word of at least two characters', () => {
    expect(index.queryTokens('a ! ?')).toEqual([]);
    expect(MIN_PREFIX).toBe(2);
  });
});
