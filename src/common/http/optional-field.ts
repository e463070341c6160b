import { IsOptional, ValidateIf } from 'class-validator';

// The condition of Optional(): the field's rules apply unless it was left out.
export const given = (_object: object, value: unknown): boolean => value !== undefined;

// A field a request may leave out (docs/protocol.md, "Bad input"). class-validator's IsOptional()
// skips a field's rules for null as well as for a missing field, and the code behind the pipe reads a
// missing field as `undefined`: `{"title": null}` reached `.trim()` (a 500) and `{"name": null}`
// renamed a room to null. Here null meets the field's rules like any other value, and is refused
// unless they take it.
export function Optional(): PropertyDecorator {
  return ValidateIf(given);
}

// A field that may be left out or be null, where null means something of its own (said beside it,
// and `nullable` in the API document).
export function OptionalOrNull(): PropertyDecorator {
  return IsOptional();
}
