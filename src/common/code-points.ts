// Counts code points (what a person sees as characters, near enough; a lone surrogate is one, as the
// string iterator counts it), stopping early once past the limit: a long string costs no more than
// the limit, and past it the answer is `limit + 1`. Used by both WebSocket parsers and by the REST
// bodies' length rules (CodePointLength in text-length.ts).
export function codePointLength(text: string, limit: number): number {
  // Until the text-limits audit of session 42 a text of at most `limit` UTF-16 units answered its
  // units (code points never outnumber them): right for "past the limit?", but not a count, and a
  // lower bound read it as one ("👍" was 2).
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
