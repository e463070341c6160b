// A reaction's content (docs/protocol.md, "Rooms"): one emoji, nothing else, so a reaction cannot
// carry words (a muted member, or one the other side blocked, would otherwise put text in front of
// the room). Shared by the server's frame parser and the client's emoji picker. Plain TypeScript.

// the longest content taken, in UTF-16 code units: the longest emoji sequences (a kiss of two people
// with skin tones, a subdivision flag) take 15; past this nothing is segmented
export const REACTION_MAX_LENGTH = 32;

// One pictograph, with a skin tone or the emoji presentation selector. ℹ (U+2139) is the one
// pictograph Unicode files as a letter: taken only as the emoji ℹ️ (with the selector), not as text.
// A property test found the bare letter taken (a random seed in CI).
const PICTOGRAPH = String.raw`(?:\u2139\uFE0F|(?!\u2139)\p{Extended_Pictographic}(?:\p{Emoji_Modifier}|\uFE0F)?)`;
// The subdivision flags Unicode recommends (RGI): 🏴 then the tag letters of gbeng, gbsct or gbwls,
// then the cancel tag. Any tag letters were taken until the attacker audit: they spell invisible
// ASCII, so a reaction carried words after all, and one user made thousands of distinct reactions.
const SUBDIVISION_FLAG = String.raw`\u{1F3F4}\u{E0067}\u{E0062}(?:\u{E0065}\u{E006E}\u{E0067}|\u{E0073}\u{E0063}\u{E0074}|\u{E0077}\u{E006C}\u{E0073})\u{E007F}`;
// An emoji as UTS #51 builds them: a keycap (0-9 # * with the keycap mark), a flag (two regional
// indicators), a subdivision flag, or pictographs joined by zero-width joiners (families, professions, 🏳️‍🌈).
const EMOJI = new RegExp(
  String.raw`^(?:[0-9#*]\uFE0F?\u20E3|\p{Regional_Indicator}{2}|${SUBDIVISION_FLAG}|${PICTOGRAPH}(?:\u200D${PICTOGRAPH})*)$`,
  'u',
);

let graphemes: Intl.Segmenter | undefined;

// true for exactly one emoji: one grapheme cluster of the shape above, at most REACTION_MAX_LENGTH
// code units. Total: never throws, whatever the string.
export function isReactionEmoji(content: string): boolean {
  if (content.length === 0 || content.length > REACTION_MAX_LENGTH || !EMOJI.test(content)) return false;
  // one cluster as the platform's Unicode data segments it (where it has Intl.Segmenter)
  if (typeof Intl === 'undefined' || typeof Intl.Segmenter !== 'function') return true;
  graphemes ??= new Intl.Segmenter(undefined, { granularity: 'grapheme' });
  let count = 0;
  for (const _ of graphemes.segment(content)) if (++count > 1) return false;
  return count === 1;
}
