import { createHmac, hkdfSync } from 'node:crypto';

// Search without plaintext at rest (docs/protocol.md, "Search"): each word of a text is normalized
// (NFKC, case and accents folded), cut to INDEXED_CHARS, and every prefix of it from MIN_PREFIX
// characters on becomes a keyed HMAC token. A query word matches a text iff some word of the text
// starts with it (both cut to INDEXED_CHARS). The key is derived from ENCRYPTION_KEY: without it
// the tokens say nothing about the words; with database access alone, equal tokens still show
// equal words across all sessions (frequency analysis), which is the trade-off of a blind index.
export const MIN_PREFIX = 2;
export const INDEXED_CHARS = 12;
const TOKEN_BYTES = 9;
// at most this many distinct words of one text are indexed (a bound on the document's size)
const MAX_WORDS = 400;

export function searchWords(text: string): string[] {
  const folded = text
    .normalize('NFKC')
    .toLowerCase()
    // the one common letter whose upper case is two letters
    .replace(/ß/g, 'ss')
    .normalize('NFD')
    .replace(/\p{M}+/gu, '');
  const words = folded.match(/[\p{L}\p{N}]+/gu) ?? [];
  return [...new Set(words.filter((word) => [...word].length >= MIN_PREFIX))].slice(0, MAX_WORDS);
}

export class BlindIndex {
  private readonly key: Buffer;

  constructor(encryptionKey: Buffer) {
    this.key = Buffer.from(hkdfSync('sha256', encryptionKey, '', 'chatbox search index v1', 32));
  }

  private token(prefix: string): string {
    return createHmac('sha256', this.key)
      .update(prefix)
      .digest()
      .subarray(0, TOKEN_BYTES)
      .toString('base64url');
  }

  // Every token of a text: one per distinct prefix of each distinct word.
  tokensOf(text: string): string[] {
    const tokens = new Set<string>();
    for (const word of searchWords(text)) {
      const characters = [...word].slice(0, INDEXED_CHARS);
      for (let length = MIN_PREFIX; length <= characters.length; length++)
        tokens.add(this.token(characters.slice(0, length).join('')));
    }
    return [...tokens];
  }

  // The tokens a query needs, one per word (all must match); empty when no word is long enough.
  queryTokens(query: string): string[] {
    return [
      ...new Set(searchWords(query).map((word) => this.token([...word].slice(0, INDEXED_CHARS).join('')))),
    ];
  }
}
