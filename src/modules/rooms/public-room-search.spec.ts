import fc from 'fast-check';
import { displayNameProblem, wholeTextProblem } from '../../common/display-text';
import {
  containsPattern,
  nameKey,
  parsePublicRoomCursor,
  PUBLIC_CURSOR_MAX,
  publicRoomCursor,
} from './public-room-search';

// names as people type them: letters of several scripts, pattern characters, spaces, emoji
const nameCharacters = fc.constantFrom(...'aZ09 .*+?^$()[]{}|\\/-_#ÄäßİıﬁＱ日本🙂\u200d\t'.split(/(?:)/u));
const names = fc.array(nameCharacters, { maxLength: 30 }).map((characters) => characters.join(''));

describe('nameKey', () => {
  it('should fold case and compatibility forms and collapse white space, idempotently', () => {
    expect(nameKey('  The  Quiet\tROOM ')).toBe('the quiet room');
    expect(nameKey('Ｑｕｉｅｔ')).toBe('quiet');
    expect(nameKey('ﬁle')).toBe('file');
    fc.assert(fc.property(names, (name) => expect(nameKey(nameKey(name))).toBe(nameKey(name))));
  });
});

describe('containsPattern', () => {
  it('should match a key exactly when the key holds the keyed query, whatever characters it has', () => {
    fc.assert(
      fc.property(names, names, (name, query) => {
        const pattern = new RegExp(containsPattern(query), 'u');
        expect(pattern.test(nameKey(name))).toBe(nameKey(name).includes(nameKey(query)));
      }),
      { numRuns: 1000 },
    );
  });

  it('should find a query taken from inside a name', () => {
    fc.assert(
      fc.property(names, fc.nat(), fc.nat(), (name, from, length) => {
        const key = nameKey(name);
        const start = from % (key.length + 1);
        const part = key.slice(start, start + (length % 8));
        // a part cut inside a surrogate pair (refused as a query) or a white space run is not a
        // query anyone types
        fc.pre(nameKey(part) === part && wholeTextProblem(part) === undefined);
        expect(new RegExp(containsPattern(part), 'u').test(key)).toBe(true);
      }),
    );
  });

  it('should escape every character a pattern gives a meaning to', () => {
    expect(containsPattern('a.*b (x)')).toBe('a\\.\\*b \\(x\\)');
    expect(containsPattern('')).toBe('');
  });
});

describe('parsePublicRoomCursor', () => {
  it('should read back every cursor it made, each short enough for a request line', () => {
    // any name a room may have (a display name of at most 100 UTF-16 units), any public room's id
    const roomNames = fc
      .string({ unit: 'binary', maxLength: 100 })
      .filter((name) => displayNameProblem(name) === undefined);
    fc.assert(
      fc.property(roomNames, fc.uuid(), (name, id) => {
        const cursor = publicRoomCursor({ key: nameKey(name), id });
        expect(cursor.length).toBeLessThanOrEqual(PUBLIC_CURSOR_MAX);
        expect(parsePublicRoomCursor(cursor)).toEqual({ key: nameKey(name), id });
      }),
      { numRuns: 500 },
    );
    // the longest compatibility forms: U+FDFA is 18 letters, cut to 300
    const longest = nameKey('\uFDFA'.repeat(100));
    expect(Array.from(longest).length).toBeLessThanOrEqual(300);
    const cursor = publicRoomCursor({ key: longest, id: 'r'.repeat(128) });
    expect(cursor.length).toBeLessThanOrEqual(PUBLIC_CURSOR_MAX);
    expect(parsePublicRoomCursor(cursor)).toEqual({ key: longest, id: 'r'.repeat(128) });
  });

  it('should never throw, and take nothing but a cursor it made', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.base64String(),
          fc.jsonValue().map((value) => JSON.stringify(value)),
        ),
        (text) => {
          const parsed = parsePublicRoomCursor(text);
          if (parsed !== undefined) expect(publicRoomCursor(parsed).length).toBeGreaterThan(0);
        },
      ),
      { numRuns: 1000 },
    );
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = Buffer.from(JSON.stringify(value) ?? 'null').toString('base64url');
        const parsed = parsePublicRoomCursor(text);
        const pair =
          Array.isArray(value) &&
          value.length === 2 &&
          typeof value[0] === 'string' &&
          typeof value[1] === 'string' &&
          value[1].length > 0;
        if (!pair) expect(parsed).toBeUndefined();
      }),
      { numRuns: 1000 },
    );
  });

  it('should refuse what is too long, not base64url, or half a character', () => {
    expect(parsePublicRoomCursor('A'.repeat(PUBLIC_CURSOR_MAX + 1))).toBeUndefined();
    expect(parsePublicRoomCursor('not a cursor')).toBeUndefined();
    expect(parsePublicRoomCursor(Buffer.from('{"a":1}').toString('base64url'))).toBeUndefined();
    expect(parsePublicRoomCursor(Buffer.from('["\\ud800","r"]').toString('base64url'))).toBeUndefined();
    expect(parsePublicRoomCursor(Buffer.from('["k",""]').toString('base64url'))).toBeUndefined();
    expect(parsePublicRoomCursor(undefined)).toBeUndefined();
    expect(parsePublicRoomCursor(publicRoomCursor({ key: 'the quiet room', id: 'r1' }))).toEqual({
      key: 'the quiet room',
      id: 'r1',
    });
  });
});
