import { wholeTextProblem } from '../../common/display-text';

// Finding public rooms by name (GET /api/v1/chat/rooms/public; docs/protocol.md, "Finding public
// rooms"): the key a room is ordered and searched by, the search's pattern, and the page cursor.
// Pure, so the rules are unit- and property-tested (public-room-search.spec.ts).

// a page holds at most this many rooms, and this many when the client does not say
export const PUBLIC_PAGE_MAX = 100;
export const PUBLIC_PAGE_DEFAULT = 50;
// a search is at most this long (a room's name is at most 100 characters)
export const PUBLIC_QUERY_MAX = 100;
// and printable: no C0 or C1 control character, as in a room's name
// eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
export const PUBLIC_QUERY_TEXT = /^[^\u0000-\u001F\u007F-\u009F]*$/;
// A key holds at most this many code points: a name is at most 100 UTF-16 units, but a compatibility
// form can be many times its name (U+FDFA is 18 letters), and the key travels in every cursor.
const KEY_POINTS = 300;
const ID_MAX = 128;
// A cursor is base64url of JSON: a key (≤ 300 code points of ≤ 4 UTF-8 bytes) and a room id (≤ 128):
// under 2,048 characters, far below what an HTTP server takes in a request line (a 16 KiB cursor was
// answered 431 by Node before the route saw it); nothing longer is decoded.
export const PUBLIC_CURSOR_MAX = 2048;
export const PUBLIC_CURSOR = /^[A-Za-z0-9_-]{1,2048}$/;

// The key a public room is ordered and searched by (`name_key`, stored beside the name): the name in
// compatibility form (NFKC: full-width letters and ligatures read as their plain letters), lower
// case, white space runs as one space, trimmed, at most KEY_POINTS code points. A search is keyed the
// same way, so "qUIET" finds "The Quiet Room".
export function nameKey(name: string): string {
  const key = name.normalize('NFKC').toLowerCase().replace(/\s+/gu, ' ').trim();
  return key.length <= KEY_POINTS ? key : Array.from(key).slice(0, KEY_POINTS).join('').trimEnd();
}

// The search as a pattern the store matches literally anywhere in a key: every character a pattern
// gives a meaning to outside a class is escaped, as MongoDB (PCRE), FerretDB (Go's RE2) and
// JavaScript (`u`) all read it: `\` before that punctuation is the character itself (`-` and `/` are
// left as they are: escaped, `u` refuses them). Empty for an empty search.
export function containsPattern(query: string): string {
  return nameKey(query).replace(/[\\^$.|?*+()[\]{}]/g, (character) => `\\${character}`);
}

// Where a page ends: the last room's key and id (the order is by key, then id, so it is total).
export interface PublicRoomCursor {
  key: string;
  id: string;
}

export function publicRoomCursor(cursor: PublicRoomCursor): string {
  return Buffer.from(JSON.stringify([cursor.key, cursor.id]), 'utf8').toString('base64url');
}

// The cursor a page's `next_cursor` gave, or undefined for anything else (never throws): bounded
// before it is decoded, then exactly a [key, id] pair of strings.
export function parsePublicRoomCursor(text: unknown): PublicRoomCursor | undefined {
  if (typeof text !== 'string' || !PUBLIC_CURSOR.test(text)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (!Array.isArray(value) || value.length !== 2) return undefined;
  const [key, id] = value as unknown[];
  if (typeof key !== 'string' || typeof id !== 'string') return undefined;
  if (Array.from(key).length > KEY_POINTS || id.length === 0 || id.length > ID_MAX) return undefined;
  // the store keeps whole Unicode: a lone surrogate would never match a stored key
  if (wholeTextProblem(key) !== undefined || wholeTextProblem(id) !== undefined) return undefined;
  return { key, id };
}
