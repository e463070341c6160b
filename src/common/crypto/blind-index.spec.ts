import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { BlindIndex, INDEXED_CHARS, MIN_PREFIX, searchWords, textMatches, tokenFilter } from './blind-index';

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

// The store's reading of a tokenFilter on one document's token list: $all, $and and $in as MongoDB
// reads them on an array field (checked against FerretDB by the store conformance suite).
function storeMatches(filter: Record<string, unknown>, tokens: string[]): boolean {
  if ('$and' in filter)
    return (filter.$and as Array<Record<string, unknown>>).every((part) => storeMatches(part, tokens));
  const [[, condition]] = Object.entries(filter) as Array<[string, { $all?: string[]; $in?: string[] }]>;
  if (condition.$all)
    return condition.$all.length > 0 && condition.$all.every((token) => tokens.includes(token));
  return (condition.$in ?? []).some((token) => tokens.includes(token));
}

// Found by the key-rotation black-box audit in session 42 (items: [], 3 of 3 runs): after a rotation
// a query made its tokens with the new key alone. While ENCRYPTION_KEY_PREVIOUS is set each word is
// matched under every listed key, word by word, so an index made partly before the rotation and
// partly after (each word under one key or the other) is found.
describe('per-key queries (key rotation)', () => {
  const [current, previous, older] = [randomBytes(32), randomBytes(32), randomBytes(32)];
  const rotating = new BlindIndex(current, undefined, [previous, older]);
  const indexes = [new BlindIndex(current), new BlindIndex(previous), new BlindIndex(older)];
  const query = fc
    .array(fc.tuple(word, separator), { minLength: 1, maxLength: 4 })
    .map((pairs) => pairs.map(([w, s]) => w + s).join(''));

  it('should find a text indexed under any listed keys, part under one and part under another, as its words match', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(text, fc.integer({ min: 0, max: 2 })), { minLength: 1, maxLength: 4 }),
        query,
        (parts, wanted) => {
          const byWord = rotating.queryTokensByWord(wanted);
          fc.pre(byWord.length > 0);
          // each part (a message) indexed under the key of its time
          const tokens = parts.flatMap(([content, key]) => indexes[key].tokensOf(content));
          const words = searchWords(wanted);
          const present = words.every((one) => parts.some(([content]) => textMatches(content, [one])));
          expect(storeMatches(tokenFilter('tokens', byWord), tokens)).toBe(present);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('should build one token per word, as before, when no previous key is listed', () => {
    fc.assert(
      fc.property(query, (wanted) => {
        const alone = new BlindIndex(current);
        const byWord = alone.queryTokensByWord(wanted);
        expect(byWord.every((tokens) => tokens.length === 1)).toBe(true);
        expect(new Set(byWord.flat())).toEqual(new Set(alone.queryTokens(wanted)));
        if (byWord.length > 0)
          expect(tokenFilter('tokens', byWord)).toEqual({ tokens: { $all: byWord.flat() } });
        const listed = rotating.queryTokensByWord(wanted);
        expect(listed.map((tokens) => tokens.length)).toEqual(byWord.map(() => 3));
        expect(listed.map(([token]) => token)).toEqual(byWord.flat());
      }),
      { numRuns: 200 },
    );
    expect(rotating.queryTokensByWord('a ! ?')).toEqual([]);
    expect(rotating.keyId).toBe(indexes[0].keyId);
    expect(rotating.keyId).not.toBe(indexes[1].keyId);
  });
});
