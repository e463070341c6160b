import { createHash, createHmac, hkdfSync } from 'node:crypto';

// Search without plaintext at rest (docs/protocol.md, "Search"): each word of a text is normalized
// (NFKC, case and accents folded), cut to INDEXED_CHARS, and every prefix of it from MIN_PREFIX
// characters on becomes a keyed HMAC token. A query word matches a text iff some word of the text
// starts with it (both cut to INDEXED_CHARS). The key is derived from ENCRYPTION_KEY: without it
// the tokens say nothing about the words; with database access alone, equal tokens still show
// equal words across all sessions (frequency analysis), which is the trade-off of a blind index.
export const MIN_PREFIX = 2;
export const INDEXED_CHARS = 12;
const TOKEN_BYTES = 9;
// At most this many distinct words of one text are indexed (a bound on the terms document's size
// and on a write's work): a user message (4,096 characters) never has more, nor a reply of ~5,000
// words. Until a library audit in session 40 it was 400, and a word past a pasted document's or a
// long reply's 400th distinct word was never found (docs/protocol.md, "Search").
export const MAX_WORDS = 2_000;

// `max`: the distinct words kept, the first ones (none dropped for a match on plaintext)
export function searchWords(text: string, max = MAX_WORDS): string[] {
  const words = fold(text).match(/[\p{L}\p{N}]+/gu) ?? [];
  return [...new Set(words.filter((word) => [...word].length >= MIN_PREFIX))].slice(0, max);
}

// A text as the index reads it: NFKC, case and accents folded.
function fold(text: string): string {
  return (
    text
      .normalize('NFKC')
      .toLowerCase()
      // the one common letter whose upper case is two letters
      .replace(/ß/g, 'ss')
      .normalize('NFD')
      .replace(/\p{M}+/gu, '')
  );
}

// A text folded as the index folds it, one code point at a time, with where each folded UTF-16 unit
// came from in the text (`from[i]`: the offset of the code point that folded unit i comes from;
// `from[folded.length]` is text.length), so that a word found in the folded text can be shown in the
// text as written: folding changes lengths (İ is two units lower-cased, é loses its accent, ﬁ is two
// letters). Code point by code point gives the whole text's folding but for the one fold that
// depends on its neighbours, a capital sigma's (σ, or ς at the end of a word), which is made in the
// sigma's context (a mark that NFKC composes onto its letter is removed all the same).
export function foldWithOffsets(text: string): { folded: string; from: number[] } {
  let folded = '';
  const from: number[] = [];
  let offset = 0;
  for (const character of text) {
    // (ASCII folds to its lower case: most text, in a third of the time)
    let piece = character < '\u0080' ? character.toLowerCase() : fold(character);
    if (piece === 'σ' && character.normalize('NFKC') === 'Σ') piece = sigma(text, offset, character.length);
    folded += piece;
    for (let unit = 0; unit < piece.length; unit++) from.push(offset);
    offset += character.length;
  }
  from.push(offset);
  return { folded, from };
}

// the lower case of the capital sigma at `offset` (σ, or ς ending a word), read in the text around it
function sigma(text: string, offset: number, length: number): string {
  const before = text.slice(Math.max(0, offset - 32), offset).normalize('NFKC');
  const after = text.slice(offset + length, offset + length + 32).normalize('NFKC');
  return `${before}Σ${after}`.toLowerCase()[before.toLowerCase().length];
}

// words and prefixes whose tokens are remembered (each): a reply of 150 words has ~900 prefixes, most
// of them common to every text (an HMAC each was a tenth of the server's CPU per turn in the bench's
// profile)
const REMEMBERED_WORDS = 20_000;

export class BlindIndex {
  // which ENCRYPTION_KEY made the tokens (its key id, content-cipher's keyIdOf: no import, for the
  // bench's type stripping), kept with an index's entries so that key rotation re-indexes those made
  // with another (docs/protocol.md, "Search")
  readonly keyId: string;
  private readonly key: Buffer;
  // the indexes of ENCRYPTION_KEY_PREVIOUS: queries match their tokens too (queryTokensByWord)
  private readonly previous: BlindIndex[];
  // least recently used first: word (cut to INDEXED_CHARS) → the tokens of its prefixes, and prefix
  // → its token (words that differ at the end share their prefixes' tokens)
  private readonly words = new Map<string, string[]>();
  private readonly prefixes = new Map<string, string>();
  private readonly rememberedMax: number;

  // (no parameter property: bench/store-cmd-cpu.ts loads this file with node's type stripping)
  constructor(encryptionKey: Buffer, rememberedMax = REMEMBERED_WORDS, previousKeys: Buffer[] = []) {
    this.rememberedMax = rememberedMax;
    this.keyId = createHash('sha256').update(encryptionKey).digest('base64url').slice(0, 8);
    this.key = Buffer.from(hkdfSync('sha256', encryptionKey, '', 'chatbox search index v1', 32));
    this.previous = previousKeys.map((key) => new BlindIndex(key, rememberedMax));
  }

  private token(prefix: string): string {
    const known = remember(this.prefixes, prefix, this.rememberedMax);
    if (known !== undefined) return known;
    const token = createHmac('sha256', this.key)
      .update(prefix)
      .digest()
      .subarray(0, TOKEN_BYTES)
      .toString('base64url');
    return remember(this.prefixes, prefix, this.rememberedMax, token)!;
  }

  // the tokens of every prefix of a word from MIN_PREFIX characters on, the whole word's last
  private prefixTokens(word: string): string[] {
    const known = remember(this.words, word, this.rememberedMax);
    if (known !== undefined) return known;
    const characters = [...word];
    const tokens: string[] = [];
    for (let length = MIN_PREFIX; length <= characters.length; length++)
      tokens.push(this.token(characters.slice(0, length).join('')));
    return remember(this.words, word, this.rememberedMax, tokens)!;
  }

  // Every token of a text: one per distinct prefix of each distinct word.
  tokensOf(text: string): string[] {
    const tokens = new Set<string>();
    for (const word of searchWords(text)) for (const token of this.prefixTokens(cut(word))) tokens.add(token);
    return [...tokens];
  }

  // The tokens a query needs, one per word (all must match); empty when no word is long enough.
  queryTokens(query: string): string[] {
    return [...new Set(searchWords(query).map((word) => this.prefixTokens(cut(word)).at(-1)!))];
  }

  // The tokens a query needs, per word: the word's token under ENCRYPTION_KEY and under each key of
  // ENCRYPTION_KEY_PREVIOUS (an index holds every word under one of them: made before the rotation,
  // not re-indexed yet, or partly before and partly after). Every word must match, under any key
  // (tokenFilter). Until the key-rotation audit of session 42 a query had the current key's tokens
  // alone, and after a rotation nothing written before it was found (items: [], 3 of 3 runs).
  queryTokensByWord(query: string): string[][] {
    const words = [...new Set(searchWords(query).map(cut))];
    return words.map((word) => [
      ...new Set([this, ...this.previous].map((index) => index.prefixTokens(word).at(-1)!)),
    ]);
  }
}

// The filter of a token field holding, for every word, one of its tokens (queryTokensByWord): an
// $all of them when each word has one token (no previous key), else an $and of one $in per word
// (store conformance suite, "per-key search tokens"). `byWord` is not empty.
export function tokenFilter(field: string, byWord: string[][]): Record<string, unknown> {
  if (byWord.every((tokens) => tokens.length === 1))
    return { [field]: { $all: byWord.map(([token]) => token) } };
  return { $and: byWord.map((tokens) => ({ [field]: { $in: tokens } })) };
}

// Whether a text holds every query word (searchWords of the query) as the start of one of its words,
// both cut to INDEXED_CHARS: the test the tokens make (tokensOf ⊇ queryTokens), done on plaintext, for
// the messages of a session the index found (they keep no tokens of their own: docs/protocol.md,
// "Search").
export function textMatches(text: string, queryWords: string[]): boolean {
  if (queryWords.length === 0) return false;
  const words = searchWords(text, Number.POSITIVE_INFINITY).map(cut);
  return queryWords.every((query) => {
    const wanted = cut(query);
    return words.some((word) => word.startsWith(wanted));
  });
}

export function cut(word: string): string {
  return [...word].slice(0, INDEXED_CHARS).join('');
}

// An LRU map's read (`value` undefined: moves a found entry to the newest) or write (bounded by `max`;
// max 0 remembers nothing). Returns the value found or written.
function remember<T>(map: Map<string, T>, key: string, max: number, value?: T): T | undefined {
  const found = value ?? map.get(key);
  if (found === undefined || max <= 0) return found;
  map.delete(key);
  map.set(key, found);
  if (map.size > max) map.delete(map.keys().next().value as string);
  return found;
}
