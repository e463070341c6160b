import { ApiPropertyOptional } from '@nestjs/swagger';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import fc from 'fast-check';
import { codePointLength } from './code-points';
import { CodePointLength, MaxCodePoints } from './text-length';

class Bounded {
  @ApiPropertyOptional({ description: 'a name' })
  @CodePointLength(2, 5)
  name?: unknown;
}

class Capped {
  @MaxCodePoints(5)
  @ApiPropertyOptional({ description: 'a topic' })
  topic?: unknown;
}

class EachCapped {
  @MaxCodePoints(3, { each: true })
  names?: unknown;
}

// where @nestjs/swagger keeps ApiProperty's options (its API_MODEL_PROPERTIES)
const API_MODEL_PROPERTIES = 'swagger/apiModelProperties';

const refused = (type: new () => object, plain: object) =>
  validateSync(plainToInstance(type, plain)).map((error) => Object.values(error.constraints ?? {}).join());

// what validator.js isLength (class-validator's Length) counts as one, and what it counts apart
const tricky = fc.constantFrom(
  'a',
  '✔',
  '\uFE0F',
  '\uFE0E',
  '👍',
  '👍🏽',
  '\u200D',
  'e\u0301',
  '\uD83D',
  '\uDC4D',
  '\uDBFF',
  '\uDC00',
);
// any UTF-16 units (lone surrogates too), whole code points past U+FFFF, and the characters above
const anyText = fc
  .array(fc.oneof(fc.string({ unit: 'binary', maxLength: 4 }), fc.string({ unit: tricky, maxLength: 4 })), {
    maxLength: 4,
  })
  .map((parts) => parts.join(''));

describe('CodePointLength', () => {
  it('should count what the string iterator counts: one per code point, one per lone surrogate (property)', () => {
    fc.assert(
      fc.property(anyText, fc.nat(20), (text, limit) => {
        const length = [...text].length;
        expect(codePointLength(text, limit)).toBe(length <= limit ? length : limit + 1);
      }),
      { numRuns: 500 },
    );
  });

  it('should take a text exactly when its code points are within the bounds, as the sockets count (property)', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        const within = codePointLength(text, 5) >= 2 && codePointLength(text, 5) <= 5;
        expect(refused(Bounded, { name: text }).length === 0).toBe(within);
        expect(refused(Capped, { topic: text }).length === 0).toBe(codePointLength(text, 5) <= 5);
      }),
      { numRuns: 500 },
    );
  });

  it('should count a character and U+FE0F as two, where isLength counted one', () => {
    // 'a\uFE0F' three times is 3 to isLength and 6 code points
    expect(refused(Capped, { topic: 'a\uFE0F'.repeat(3) })).toEqual([
      'topic must be at most 5 characters (code points)',
    ]);
    expect(refused(Bounded, { name: '✔️✔️' })).toEqual([]);
    expect(refused(Bounded, { name: '👍' })).toEqual(['name must be 2 to 5 characters (code points)']);
    expect(refused(Bounded, { name: '\uD83D\uD83D' })).toEqual([]);
  });

  it('should refuse anything but a string, as Length did', () => {
    for (const value of [5, null, ['ab'], { length: 3 }])
      expect(refused(Bounded, { name: value })).toEqual(['name must be 2 to 5 characters (code points)']);
  });

  it('should bound every element with each, and publish nothing for the array', () => {
    expect(refused(EachCapped, { names: ['abc', '✔️✔️'] })).toEqual([
      'each value in names must be at most 3 characters (code points)',
    ]);
    expect(refused(EachCapped, { names: ['abc', '✔️'] })).toEqual([]);
    expect(Reflect.getMetadata(API_MODEL_PROPERTIES, EachCapped.prototype, 'names')).toBeUndefined();
  });

  it("should publish the bounds in the field's API property, above or below it", () => {
    const property = (type: new () => object, name: string) =>
      Reflect.getMetadata(API_MODEL_PROPERTIES, type.prototype, name) as Record<string, unknown>;
    expect(property(Bounded, 'name')).toMatchObject({
      minLength: 2,
      maxLength: 5,
      required: false,
      description: 'a name',
    });
    expect(property(Capped, 'topic')).toMatchObject({
      maxLength: 5,
      required: false,
      description: 'a topic',
    });
    expect(property(Capped, 'topic').minLength).toBeUndefined();
  });
});
