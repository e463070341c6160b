import fc from 'fast-check';
import { isReactionEmoji, REACTION_MAX_LENGTH } from './reaction-emoji';

const PICTOGRAPHIC = /^\p{Extended_Pictographic}$/u;
const ZWJ = '\u200D';
const VS16 = '\uFE0F';

// pictographs from the blocks emoji live in (symbols, dingbats, the emoji planes), as code points
const pictograph = fc
  .oneof(
    fc.integer({ min: 0x2600, max: 0x27bf }),
    fc.integer({ min: 0x1f300, max: 0x1f5ff }),
    fc.integer({ min: 0x1f600, max: 0x1f6ff }),
    fc.integer({ min: 0x1f900, max: 0x1faff }),
  )
  .map((codePoint) => String.fromCodePoint(codePoint))
  .filter((text) => PICTOGRAPHIC.test(text));
const skinTone = fc
  .integer({ min: 0x1f3fb, max: 0x1f3ff })
  .map((codePoint) => String.fromCodePoint(codePoint));
// a pictograph with a skin tone or the emoji presentation selector
const element = fc
  .tuple(pictograph, fc.oneof(fc.constant(''), fc.constant(VS16), skinTone))
  .map((parts) => parts.join(''));
// tag letters (a–z) as a subdivision flag spells them
const tags = (letters: string) =>
  String.fromCodePoint(...[...letters].map((letter) => 0xe0000 + letter.charCodeAt(0)));
const BLACK_FLAG = '\u{1F3F4}';
const RGI_SUBDIVISIONS = ['gbeng', 'gbsct', 'gbwls'];
const subdivisionFlag = fc
  .constantFrom(...RGI_SUBDIVISIONS)
  .map((code) => `${BLACK_FLAG}${tags(code)}\u{E007F}`);
const zwjSequence = fc.array(element, { minLength: 1, maxLength: 4 }).map((parts) => parts.join(ZWJ));
const flag = fc
  .tuple(fc.integer({ min: 0x1f1e6, max: 0x1f1ff }), fc.integer({ min: 0x1f1e6, max: 0x1f1ff }))
  .map(([first, second]) => String.fromCodePoint(first, second));
const keycap = fc
  .tuple(fc.constantFrom(...'0123456789#*'), fc.constantFrom('', VS16))
  .map(([key, selector]) => `${key}${selector}\u20E3`);
const emoji = fc
  .oneof(zwjSequence, flag, keycap, subdivisionFlag)
  .filter((text) => text.length <= REACTION_MAX_LENGTH);
// what is never an emoji, alone or inside one (punctuation that is pictographic, ‼ 〰 〽, aside)
const notEmoji = fc.oneof(
  fc.stringMatching(/^[\p{L}\p{N}\p{P}\p{Z}\p{Cc}]$/u).filter((text) => !PICTOGRAPHIC.test(text)),
  fc.constantFrom('a', ' ', '\n', '.', '1', '\u200B', '\u00A0'),
);

describe(isReactionEmoji.name, () => {
  it('should accept every keycap, flag, pictograph and ZWJ sequence of them (skin tones, tags)', () => {
    fc.assert(
      fc.property(emoji, (text) => expect(isReactionEmoji(text)).toBe(true)),
      { numRuns: 2000 },
    );
  });

  it('should refuse tag letters other than the three subdivision flags: they spell invisible text', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z]{1,12}$/).filter((code) => !RGI_SUBDIVISIONS.includes(code)),
        fc.oneof(fc.constant(BLACK_FLAG), pictograph),
        (code, base) => expect(isReactionEmoji(`${base}${tags(code)}\u{E007F}`)).toBe(false),
      ),
      { numRuns: 2000 },
    );
    for (const code of RGI_SUBDIVISIONS) expect(isReactionEmoji(`👍${tags(code)}\u{E007F}`)).toBe(false);
  });

  it('should accept the emoji people send most, ZWJ families and subdivision flags included', () => {
    for (const text of [
      '👍',
      '❤️',
      '❤',
      '😂',
      '🎉',
      '👍🏽',
      '👨‍👩‍👧‍👦',
      '🧑🏻‍❤️‍💋‍🧑🏼',
      '🏳️‍🌈',
      '❤️‍🔥',
      '🇺🇸',
      '1️⃣',
      '#⃣',
      '🏴󠁧󠁢󠁳󠁣󠁴󠁿',
      '\u2139\uFE0F',
    ])
      expect({ text, accepted: isReactionEmoji(text) }).toEqual({ text, accepted: true });
  });

  it('should refuse an emoji with anything else beside it: a letter, a digit, a space, punctuation', () => {
    fc.assert(
      fc.property(
        fc.option(emoji, { nil: '' }),
        notEmoji,
        fc.option(emoji, { nil: '' }),
        (before, odd, after) => expect(isReactionEmoji(`${before}${odd}${after}`)).toBe(false),
      ),
      { numRuns: 2000 },
    );
  });

  it('should refuse two emoji side by side (two grapheme clusters), and a joiner with nothing after it', () => {
    fc.assert(
      fc.property(emoji, emoji, (first, second) => {
        expect(isReactionEmoji(`${first}${second}`)).toBe(false);
        expect(isReactionEmoji(`${first}${ZWJ}`)).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });

  it('should refuse text of any length, as the audit sent it', () => {
    for (const text of [
      '',
      'a',
      'aaaaaaaa',
      'a'.repeat(32),
      'visit spam.example now',
      '1',
      '🇺',
      '🏻',
      '\u2139',
      ' 👍',
      '👍 ',
    ])
      expect({ text, accepted: isReactionEmoji(text) }).toEqual({ text, accepted: false });
  });

  it('should never throw, and accept only one bounded grapheme cluster that holds a pictograph, a flag or a keycap', () => {
    const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 40 }),
          fc.string({ unit: 'grapheme', maxLength: 3 }),
          fc
            .array(fc.oneof(emoji, notEmoji, fc.constantFrom(ZWJ, VS16, '\u20E3')), { maxLength: 4 })
            .map((parts) => parts.join('')),
        ),
        (text) => {
          if (!isReactionEmoji(text)) return;
          expect(text.length).toBeLessThanOrEqual(REACTION_MAX_LENGTH);
          expect([...segmenter.segment(text)]).toHaveLength(1);
          expect(text).toMatch(/\p{Extended_Pictographic}|\p{Regional_Indicator}{2}|\u20E3/u);
          // no letter, space or control: ℹ️ is the one emoji whose pictograph is a letter
          expect(text.replace(/\u2139\uFE0F/gu, '')).not.toMatch(/[\p{L}\p{Z}\p{Cc}]/u);
        },
      ),
      { numRuns: 3000 },
    );
  });
});
