import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import fc from 'fast-check';
import { SessionUpdateDto } from '../modules/history/dto/session-update.dto';
import { CreateRoomDto, UpdateRoomDto } from '../modules/rooms/dto/rooms.dto';
import {
  displayNameProblem,
  SHOWN_NAME_MAX,
  shownName,
  sliceWhole,
  wholeText,
  wholeTextProblem,
  withoutControls,
} from './display-text';

const INVISIBLE = [
  '\u200B',
  '\u200C',
  '\u200D',
  '\u2060',
  '\uFEFF',
  '\u3164',
  '\u00AD',
  ' ',
  '\u00A0',
  '\u3000',
];
const BIDI = ['\u202A', '\u202B', '\u202C', '\u202D', '\u202E', '\u2066', '\u2067', '\u2068', '\u2069'];
const visible = fc.constantFrom('a', 'Ж', '中', '👍', 'ש', '1', '.', 'é');
const invisible = fc.string({ unit: fc.constantFrom(...INVISIBLE), minLength: 1, maxLength: 6 });
const highSurrogate = fc.integer({ min: 0xd800, max: 0xdbff }).map((unit) => String.fromCharCode(unit));
const lowSurrogate = fc.integer({ min: 0xdc00, max: 0xdfff }).map((unit) => String.fromCharCode(unit));
// what a store writing UTF-8 keeps as it is (a lone surrogate comes back U+FFFD)
const survivesUtf8 = (text: string) => Buffer.from(text, 'utf8').toString('utf8') === text;
// well-formed text: whole code points only (grapheme units are never half a pair)
const whole = fc.string({ unit: 'grapheme', maxLength: 10 });

describe('display text rules', () => {
  it('should refuse a name made only of white space and invisible characters (property)', () => {
    fc.assert(fc.property(invisible, (name) => expect(displayNameProblem(name)).toMatch(/not only spaces/)));
  });

  it('should take a printable name that shows something, joiners and all (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(visible, fc.constantFrom('\u200D', '\u200C', ' ')), { maxLength: 8 }),
        visible,
        (parts, shown) => expect(displayNameProblem([...parts, shown].join(''))).toBeUndefined(),
      ),
    );
    for (const name of ['👨‍👩‍👧 family', 'می‌خواهم', 'שלום', 'a\u2028b'])
      expect(displayNameProblem(name)).toBeUndefined();
  });

  it('should refuse any bidirectional control, wherever it stands (property)', () => {
    fc.assert(
      fc.property(whole, fc.constantFrom(...BIDI), whole, (before, control, after) =>
        expect(displayNameProblem(`x${before}${control}${after}`)).toMatch(/bidirectional/),
      ),
    );
  });

  it('should refuse a lone surrogate in a name or any whole text, saying so, and take a pair (property)', () => {
    fc.assert(
      fc.property(whole, fc.oneof(highSurrogate, lowSurrogate), whole, (before, half, after) => {
        // a half next to its other half is a pair, not alone
        const text = `x${before}${half}${after}`;
        fc.pre(survivesUtf8(text) === false);
        expect(wholeTextProblem(text)).toMatch(/surrogate/);
        expect(displayNameProblem(text)).toMatch(/surrogate/);
      }),
    );
    fc.assert(fc.property(whole, (text) => expect(wholeTextProblem(text)).toBeUndefined()));
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 12 }), (text) =>
        expect(wholeTextProblem(text) === undefined).toBe(survivesUtf8(text)),
      ),
    );
  });

  // a vendor's transcript (docs/protocol.md, "Uploads and files"): made whole, as the store keeps it
  it('should make any text whole Unicode as a UTF-8 store reads it back, leaving whole text as it is (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 16 }), (text) => {
        const made = wholeText(text);
        expect(wholeTextProblem(made)).toBeUndefined();
        expect(made).toBe(Buffer.from(text, 'utf8').toString('utf8'));
        expect(made).toBe((text as unknown as { toWellFormed(): string }).toWellFormed());
      }),
    );
    fc.assert(fc.property(whole, (text) => expect(wholeText(text)).toBe(text)));
    expect(wholeText('pay A\uD800B now')).toBe('pay A\uFFFDB now');
  });

  it('should refuse control characters, C0, DEL and C1', () => {
    for (const control of ['\u0000', '\n', '\u001F', '\u007F', '\u0085', '\u009F'])
      expect(displayNameProblem(`a${control}b`)).toMatch(/control/);
  });
});

// the one rule, on both paths that name things people see
describe('names of rooms and AI sessions', () => {
  const refusal = (dto: object) => validateSync(dto, { whitelist: true })[0]?.constraints;
  it.each([
    ['zero-width only', '\u200B\u200D'],
    ['a right-to-left override', 'a\u202Eb'],
    ['a lone surrogate', 'caf\uD800'],
    ['a C1 control', '\u0085x'],
  ])('should refuse a name of %s as a room name and a session title', (_label, name) => {
    for (const dto of [
      plainToInstance(CreateRoomDto, { name, kind: 'public' }),
      plainToInstance(UpdateRoomDto, { name }),
      plainToInstance(SessionUpdateDto, { name }),
    ])
      expect(refusal(dto)).toEqual({ isDisplayName: expect.stringMatching(/^name /) });
  });

  it('should trim a room name and a session title before counting them, as a session title was', () => {
    const name = ` ${'é'.repeat(100)} `;
    for (const dto of [
      plainToInstance(CreateRoomDto, { name, kind: 'public' }),
      plainToInstance(UpdateRoomDto, { name }),
      plainToInstance(SessionUpdateDto, { name }),
    ]) {
      expect(refusal(dto)).toBeUndefined();
      expect((dto as { name: string }).name).toBe('é'.repeat(100));
    }
    expect(refusal(plainToInstance(CreateRoomDto, { name: '   ', kind: 'public' }))).toBeDefined();
  });

  it('should take a room topic of many lines, but not half a character', () => {
    expect(refusal(plainToInstance(UpdateRoomDto, { topic: 'line 1\nline 2 \u200B' }))).toBeUndefined();
    expect(refusal(plainToInstance(UpdateRoomDto, { topic: 'x\uDBFF' }))).toEqual({
      isWholeText: expect.stringMatching(/^topic .*surrogate/),
    });
  });
});

describe('cuts and names', () => {
  it('should cut a well-formed text at a whole character, one unit short at most', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', maxLength: 60 }),
        fc.integer({ min: -5, max: 80 }),
        (text, end) => {
          const cut = sliceWhole(text, end);
          expect(text.startsWith(cut)).toBe(true);
          expect(cut.length).toBeGreaterThanOrEqual(Math.min(Math.max(end, 0), text.length) - 1);
          expect(wholeTextProblem(cut)).toBeUndefined();
        },
      ),
    );
  });

  it('should leave no control or bidirectional control character in a name', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (text) => {
        // eslint-disable-next-line no-control-regex -- control characters are what must be gone
        expect(withoutControls(text)).not.toMatch(/[\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]/);
      }),
    );
  });
});

// an admin's `name` claim, cleaned rather than refused (TokenService)
describe('shown names', () => {
  // any code point, lone surrogates, controls and bidi controls, long enough to be cut
  const anyText = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 260 }),
    fc.string({
      unit: fc.oneof(
        fc.constantFrom(...BIDI, ...INVISIBLE, '\u0000', '\u001b', '\u007F', '\u0085', '😀', 'a'),
        highSurrogate,
        lowSurrogate,
      ),
      maxLength: 260,
    }),
  );

  it('should give a name people may see, at most SHOWN_NAME_MAX units, or none (property)', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        const name = shownName(text);
        if (name === undefined) return;
        expect(displayNameProblem(name)).toBeUndefined();
        expect(wholeTextProblem(name)).toBeUndefined();
        expect(survivesUtf8(name)).toBe(true);
        expect(name.length).toBeLessThanOrEqual(SHOWN_NAME_MAX);
        expect([...name].length).toBeLessThanOrEqual(SHOWN_NAME_MAX);
      }),
      { numRuns: 500 },
    );
  });

  it('should be idempotent, and keep a name that holds to the rule and fits as it is (property)', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        const name = shownName(text);
        expect(name === undefined ? undefined : shownName(name)).toBe(name);
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 60 }), (text) => {
        if (displayNameProblem(text) === undefined && text.length <= SHOWN_NAME_MAX)
          expect(shownName(text)).toBe(text);
      }),
    );
  });

  it('should give none when nothing visible remains (property)', () => {
    fc.assert(
      fc.property(
        fc.string({
          unit: fc.constantFrom(...BIDI, ...INVISIBLE, '\u0000', '\u001b', '\u009F'),
          maxLength: 20,
        }),
        fc.option(highSurrogate, { nil: '' }),
        (text, half) => {
          expect(shownName(`${text}${half}`)).toBeUndefined();
        },
      ),
    );
  });

  it('should cut at a whole character', () => {
    expect(shownName(`${'a'.repeat(199)}😀 Support`)).toBe('a'.repeat(199));
    expect(shownName(`${'a'.repeat(198)}😀 Support`)).toBe(`${'a'.repeat(198)}😀`);
    expect(shownName('Ada\uD800')).toBe('Ada');
  });
});
