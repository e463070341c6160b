import { BSON } from 'mongodb';

// Fields of a session document the head never holds: the log and the search index. Both grow with
// every turn (the index by every new word and prefix), so decoding them, even as raw elements,
// cost an append more CPU the longer the session.
const NOT_IN_HEAD = ['messages', 'search_tokens'].map((name) => Buffer.from(name, 'latin1'));

// an element's name compared in place (decoding ~45 names per append would cost more than the rest)
function notInHead(bytes: Uint8Array, offset: number, length: number): boolean {
  for (const name of NOT_IN_HEAD) {
    if (name.length !== length) continue;
    let index = 0;
    while (index < length && bytes[offset + index] === name[index]) index++;
    if (index === length) return true;
  }
  return false;
}

// The session document's head out of the document's raw BSON (an append's findAndModify with
// `raw`: FerretDB 1.24 refuses a projection there): the log and the index are skipped by their
// length, never read; every other field is decoded as the driver would. Bytes that are not one
// BSON document throw (BSONError), as the driver's own decoding would.
export function decodeHead<T>(bytes: Uint8Array): T {
  // the kept elements as runs of bytes [start, end), adjacent elements merged
  const runs: number[] = [];
  let size = 5;
  for (const [, nameOffset, nameLength, offset, length] of BSON.onDemand.parseToElements(bytes, 0)) {
    if (notInHead(bytes, nameOffset, nameLength)) continue;
    // an element: its type byte, its name (NUL-terminated), its value
    const start = nameOffset - 1;
    const end = offset + length;
    if (runs.length > 0 && runs[runs.length - 1] === start) runs[runs.length - 1] = end;
    else runs.push(start, end);
    size += end - start;
  }
  const source = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const head = Buffer.allocUnsafe(size);
  head.writeInt32LE(size, 0);
  let at = 4;
  for (let index = 0; index < runs.length; index += 2)
    at += source.copy(head, at, runs[index], runs[index + 1]);
  head[at] = 0;
  return BSON.deserialize(head) as T;
}
