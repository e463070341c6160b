// Counts code points (what a person sees as characters, near enough), stopping early once past the
// limit: a long string costs no more than the limit. Used by both WebSocket parsers.
export function codePointLength(text: string, limit: number): number {
  // code points never outnumber UTF-16 units
  if (text.length <= limit) return text.length;
  let count = 0;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code >= 0xd800 && code <= 0xdbff && index + 1 < text.length) {
      const next = text.charCodeAt(index + 1);
      // only a real surrogate pair is one character
      if (next >= 0xdc00 && next <= 0xdfff) index++;
    }
    if (++count > limit) return count;
  }
  return count;
}
