import fc from 'fast-check';
import cl100k from 'gpt-tokenizer/cjs/encoding/cl100k_base';
import { countTokens, exactTokenCount } from './tokens';

const LETTERS = 'abcdefghijklmnopqrstuvwxyzäöüßé日本'.split('');
const word = fc
  .array(fc.constantFrom(...LETTERS), { minLength: 1, maxLength: 12 })
  .map((chars) => chars.join(''));

describe('countTokens', () => {
  it("should count as OpenAI's cl100k_base does", () => {
    // OpenAI's cookbook ("How to count tokens with tiktoken"): 6 tokens for this in cl100k_base
    expect(exactTokenCount('tiktoken is great!')).toBe(6);
    expect(exactTokenCount('hello world')).toBe(2);
    // a special token's text in user input is plain text: counted, never an error
    expect(exactTokenCount('hi <|endoftext|> there')).toBe(8);
  });

  it('should equal the exact BPE count for text without a 65-character run', () => {
    fc.assert(
      fc.property(
        fc
          .array(fc.oneof(word, fc.constantFrom(' ', '\n', '. ', ', ', '!? ', '42 ')), { maxLength: 80 })
          .map((parts) => parts.join(''))
          // words side by side can make a long run, which is counted in slices (the next tests)
          .filter((text) => !/\S{65,}/u.test(text)),
        (text) => {
          expect(countTokens(text)).toBe(exactTokenCount(text));
        },
      ),
    );
  });

  it('should count long runs with no space within one token per cut (between slices and at both ends of the run) of the exact count', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...LETTERS, '-', '=', '*'), { minLength: 65, maxLength: 400 }),
        fc.string({ maxLength: 40 }),
        (chars, around) => {
          const run = chars.join('');
          const text = `${around} ${run} ${around}`;
          const slices = Math.ceil([...run].length / 32);
          const exact = exactTokenCount(text);
          // slices − 1 cuts inside the run, and one where it meets the text on each side
          expect(Math.abs(countTokens(text) - exact)).toBeLessThanOrEqual(slices + 1);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('should count long letter runs (one piece for the tokenizer) within a token per slice', () => {
    expect(countTokens('abcd'.repeat(1000))).toBe(1000);
    const text = `hello ${'x'.repeat(1200)} world`;
    expect(Math.abs(countTokens(text) - exactTokenCount(text))).toBeLessThanOrEqual(1200 / 32);
  });

  it('should never split a surrogate pair', () => {
    const emoji = '😀'.repeat(100);
    expect(countTokens(emoji)).toBeGreaterThan(0);
    expect(Math.abs(countTokens(emoji) - exactTokenCount(emoji))).toBeLessThanOrEqual(Math.ceil(100 / 32));
  });

  it('should never hand the BPE encoder an unbroken run longer than a slice (its cost is quadratic in one)', () => {
    const encode = jest.spyOn(cl100k, 'countTokens');
    try {
      countTokens(`intro ${'abcd'.repeat(1000)} and ${'=+'.repeat(500)} outro`);
      const longest = Math.max(
        ...encode.mock.calls.map(([text]) =>
          Math.max(
            0,
            ...String(text)
              .split(/\s+/)
              .map((run) => run.length),
          ),
        ),
      );
      expect(encode).toHaveBeenCalled();
      expect(longest).toBeLessThanOrEqual(64);
    } finally {
      encode.mockRestore();
    }
  });
});
