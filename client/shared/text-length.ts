// Lengths as the server counts them: in code points (docs/protocol.md, "Text cut or named"). A
// string's `length` and an input's `maxLength` count UTF-16 units, where an emoji is two: until the
// text-limits audit of session 42 a room's name took 50 emoji where the server takes 100.
export function codePoints(text: string): number {
  let count = 0;
  for (let index = 0; index < text.length; index++) {
    const unit = text.charCodeAt(index);
    const next = text.charCodeAt(index + 1);
    // a high surrogate and a low one are one code point; a lone surrogate is one too, as on the server
    if (unit >= 0xd800 && unit <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) index++;
    count++;
  }
  return count;
}

// An input's own `maxLength` for a field of `max` code points: only a bound on what it holds (each
// code point is at most two units); the count in code points says what may be sent.
export function unitCap(max: number): number {
  return max * 2;
}
