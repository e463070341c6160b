import { applyDecorators } from '@nestjs/common';
import { ApiProperty } from '@nestjs/swagger';
import { buildMessage, ValidateBy, type ValidationOptions } from 'class-validator';
import { codePointLength } from './code-points';

// The length bounds of a text field in a request, counted in code points: what MAX_MESSAGE_LENGTH
// counts on both sockets (codePointLength) and what JSON Schema's minLength/maxLength count in
// docs/openapi.json (docs/protocol.md, "Text cut or named"). class-validator's Length/MaxLength/
// MinLength use validator.js isLength, which counts a surrogate pair as one but also a character
// followed by U+FE0F or U+FE0E as one: until the text-limits audit of session 42 "✔️" was one
// character in a REST body and two on a socket, so a canned response taken as 4,000 was 4,100 on the
// socket (MESSAGE_TOO_LONG when sent) and a room name of 200 code points passed where the document
// said 100 (3 of 3). A lone surrogate is one code point, as on the sockets.
//
// The bounds are published from here too (ApiProperty minLength/maxLength, merged with the field's
// own ApiProperty): the document and the check have one source. With `each` they bound every element
// of an array and are not published (say so in the field's description).

// whether `text` holds from `min` to `max` code points
export function codePointsWithin(text: string, min: number, max: number): boolean {
  const length = codePointLength(text, max);
  return length >= min && length <= max;
}

// A text of `min` to `max` code points; anything but a string is refused too (as Length did).
export function CodePointLength(min: number, max: number, options?: ValidationOptions): PropertyDecorator {
  const validate = ValidateBy(
    {
      name: 'codePointLength',
      constraints: [min, max],
      validator: {
        validate: (value: unknown) => typeof value === 'string' && codePointsWithin(value, min, max),
        defaultMessage: buildMessage(
          (eachPrefix) =>
            `${eachPrefix}$property must be ${min > 0 ? `${min} to ${max}` : `at most ${max}`} characters (code points)`,
          options,
        ),
      },
    },
    options,
  );
  if (options?.each) return validate;
  return applyDecorators(
    validate,
    ApiProperty(min > 0 ? { minLength: min, maxLength: max } : { maxLength: max }),
  );
}

// A text of at most `max` code points (empty taken).
export function MaxCodePoints(max: number, options?: ValidationOptions): PropertyDecorator {
  return CodePointLength(0, max, options);
}
