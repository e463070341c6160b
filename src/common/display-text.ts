import { Transform } from 'class-transformer';
import { ValidateBy, type ValidationOptions } from 'class-validator';

// Text stored as sent and shown to people: the one rule of a name others see (a room's name, an AI
// session's title; docs/protocol.md, "REST"), and the one of any such text, that it is whole Unicode.
//
// - A lone surrogate (half of a UTF-16 pair, which JSON's `\uD800` escape makes) cannot be stored as
//   it is: the store's UTF-8 would put U+FFFD in its place, so what was acked is not what is read.
//   Refused, saying so.
// - A name is printable (no C0 or C1 control character, no DEL), holds no bidirectional control
//   (U+202A–U+202E embeddings and overrides, U+2066–U+2069 isolates: `pay\u202Egnp.exe` reads as
//   `payexe.png`, and an unclosed one reorders whatever is shown after it), and shows something:
//   not empty once white space and default-ignorable characters (U+200B–U+200D, U+2060, U+FEFF,
//   U+3164 and the rest of Unicode's list) are taken out. Inside a name that shows something they
//   stay: an emoji sequence and Persian need their joiners.

// a high surrogate not followed by a low one, or a low one without a high one before it (code units)
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, 'g');
// eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
const CONTROL = /[\u0000-\u001F\u007F-\u009F]/;
const BIDI_CONTROL = /[\u202A-\u202E\u2066-\u2069]/;
// eslint-disable-next-line no-control-regex -- control characters are exactly what is taken out
const CONTROLS_GLOBAL = /[\u0000-\u001F\u007F-\u009F]/g;
const BIDI_GLOBAL = /[\u202A-\u202E\u2066-\u2069]/g;
const INVISIBLE = /[\p{White_Space}\p{Default_Ignorable_Code_Point}]/gu;

// what is wrong with `text` as stored text, if anything
export function wholeTextProblem(text: string): string | undefined {
  return LONE_SURROGATE.test(text)
    ? 'must be well-formed Unicode (a lone surrogate is half a character)'
    : undefined;
}

// what is wrong with `text` as a name people see, if anything
export function displayNameProblem(text: string): string | undefined {
  const whole = wholeTextProblem(text);
  if (whole !== undefined) return whole;
  if (CONTROL.test(text)) return 'must be printable text (no control characters)';
  if (BIDI_CONTROL.test(text))
    return 'must not hold bidirectional control characters (U+202A to U+202E, U+2066 to U+2069)';
  if (text.replace(INVISIBLE, '').length === 0)
    return 'must be printable text (not only spaces or invisible characters)';
  return undefined;
}

// The decorators of DTO fields: a string breaking the rule is refused naming the field and what is
// wrong (400 INVALID_MESSAGE); anything but a string is left to IsString.
export function IsDisplayName(options?: ValidationOptions): PropertyDecorator {
  return textRule('isDisplayName', displayNameProblem, options);
}

// A name's white space at either end is not part of it: taken out before the name is counted and
// checked (a room's name, a session's title; docs/protocol.md, "Text cut or named").
export function Trimmed(): PropertyDecorator {
  return Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value));
}

export function IsWholeText(options?: ValidationOptions): PropertyDecorator {
  return textRule('isWholeText', wholeTextProblem, options);
}

function textRule(
  name: string,
  problem: (text: string) => string | undefined,
  options?: ValidationOptions,
): PropertyDecorator {
  return ValidateBy(
    {
      name,
      validator: {
        validate: (value: unknown) => typeof value !== 'string' || problem(value) === undefined,
        defaultMessage: (args) =>
          `${args?.property ?? 'value'} ${typeof args?.value === 'string' ? problem(args.value) : 'must be a string'}`,
      },
    },
    options,
  );
}

// The first `end` UTF-16 units of `text`, less the half of a pair the cut would split: what is cut
// for a preview, an excerpt or an alert stays whole Unicode (a vendor may refuse half a character,
// a mail shows it as U+FFFD).
export function sliceWhole(text: string, end: number): string {
  const cut = text.slice(0, Math.max(0, Math.floor(end)));
  return /[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut;
}

// `text` as whole Unicode: each lone surrogate replaced by U+FFFD, as the store's UTF-8 would
// (String.prototype.toWellFormed, which ES2023's lib does not type). Text the server did not take
// from a frame (a vendor's transcript) is made so, not refused: every frame then shows what is stored.
export function wholeText(text: string): string {
  return LONE_SURROGATE.test(text) ? text.replace(LONE_SURROGATES, '\uFFFD') : text;
}

// `text` without the control and bidirectional control characters a name may not hold
// (displayNameProblem)
export function withoutControls(text: string): string {
  return text.replace(CONTROLS_GLOBAL, '').replace(BIDI_GLOBAL, '');
}

// The longest name shown for a person the server does not name itself (an admin's, from the token's
// `name` claim), in UTF-16 units
export const SHOWN_NAME_MAX = 200;

// A name from elsewhere (an admin's `name` claim: the parent app's, not refused but cleaned) made to
// hold to the rule of a name people see (displayNameProblem): its control and bidirectional control
// characters and lone surrogates taken out, cut to SHOWN_NAME_MAX at a whole character. Undefined
// when nothing visible remains. Until the text-limits audit of session 42 the claim was cut with
// slice(0, 200) and kept as it came: the user's live admin_join ended in half an emoji or `Ada\uD800`
// where the stored copy read U+FFFD, and a right-to-left override, an ANSI escape or a NUL reached
// the user and every other admin (4 of 4 runs).
export function shownName(text: string): string | undefined {
  const cut = sliceWhole(withoutControls(text).replace(LONE_SURROGATES, ''), SHOWN_NAME_MAX);
  return cut.replace(INVISIBLE, '').length === 0 ? undefined : cut;
}
