// A key made of several strings (a document's `_id`, a dedup key, a lock's name, what a hash is taken
// of): the parts one after another, a separator between them.
//
// Joining them plainly is ambiguous once a part may hold the separator, and user ids (a JWT `sub`:
// any characters) and client_ids may: `room|u|x|1` was both (sender `u`, client_id `x|1`) and
// (sender `u|x`, client_id `1`), so one user's message was taken for a resend of the other's.
// compositeKey escapes, in every part but the last, the escape character (`\` → `\\`) and the
// separator (`|` → `\|`): reading from the left, the first separators not escaped end the leading
// parts and the last part is all that follows, so among keys of the same number of parts (each use
// has its own) a key names exactly one tuple. The last part is left as it is, and a part with neither
// character is unchanged, so every key whose leading parts hold neither `|` nor `\` is byte-identical
// to the plain join used before (documents stored before, and the other version during a rolling
// deploy, keep finding it): only keys that could collide change. plainKey is that older join, for the
// few reads that also look for a document stored under it (its fields checked, as it may be another
// tuple's).
export const KEY_ESCAPE = '\\';

export function compositeKey(parts: readonly string[], separator = '|'): string {
  if (separator.length !== 1 || separator === KEY_ESCAPE) throw new Error('one character, not the escape');
  const last = parts.length - 1;
  return parts.map((part, index) => (index === last ? part : escapePart(part, separator))).join(separator);
}

export function plainKey(parts: readonly string[], separator = '|'): string {
  return parts.join(separator);
}

function escapePart(part: string, separator: string): string {
  if (!part.includes(KEY_ESCAPE) && !part.includes(separator)) return part;
  let escaped = '';
  for (const char of part) escaped += char === KEY_ESCAPE || char === separator ? KEY_ESCAPE + char : char;
  return escaped;
}
