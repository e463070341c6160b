import { BSON } from 'mongodb';

// Fields of a session document the head never holds: the log and the search index. Both grow with
// every turn (the index by every new word and prefix), so decoding them, even as raw elements,
// cost an append more CPU the longer the session.
const NOT_IN_HEAD = new Set(['messages', 'search_tokens']);

// The session document's head out of the document's raw BSON (an append's findAndModify with
// `raw`: FerretDB 1.24 refuses a projection there): the log and the index are skipped by their
// length, never read; every other field is decoded as the driver would. Bytes that are not one
// BSON document throw (BSONError), as the driver's own decoding would.
export function decodeHead<T>(bytes: Uint8Array): T {
  const kept: [number, number][] = [];
  let size = 5;
  for (const [, nameOffset, nameLength, offset, length] of BSON.onDemand.parseToElements(bytes, 0)) {
    const name = BSON.onDemand.ByteUtils.toUTF8(bytes, nameOffset, nameOffset + nameLength, false);
    if (NOT_IN_HEAD.has(name)) continue;
    // an element: its type byte, its name (NUL-terminated), its value
    const start = nameOffset - 1;
    const end = offset + length;
    kept.push([start, end]);
    size += end - start;
  }
  const head = Buffer.allocUnsafe(size);
  head.writeInt32LE(size, 0);
  let at = 4;
  for (const [start, end] of kept) {
    head.set(bytes.subarray(start, end), at);
    at += end - start;
  }
  head[at] = 0;
  return BSON.deserialize(head) as T;
}
