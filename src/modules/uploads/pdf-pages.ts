import { promisify } from 'node:util';
import { constants, inflate } from 'node:zlib';

const inflateAsync = promisify(inflate);

// How much the compressed object streams of one PDF may inflate to, in all: a page tree is small,
// and a stream that inflates past this (a zip bomb) leaves the pages uncounted.
export const MAX_INFLATED_BYTES = 16 * 1024 * 1024;

// A PDF name ends at whitespace or a delimiter: `/Page` is a page, `/Pages` and `/PageLabel` are not.
const NAME_END = String.raw`(?=[\s()<>[\]{}/%]|$)`;
const PAGE = new RegExp(String.raw`/Type\s*/Page${NAME_END}`, 'g');
const OBJECT_STREAM = new RegExp(String.raw`/Type\s*/ObjStm${NAME_END}`, 'g');
const ENCRYPT = new RegExp(String.raw`/Encrypt${NAME_END}`);

// The pages of a PDF, counted from its bytes without a PDF library: its page objects, in the file
// and in its FlateDecode object streams (where PDF 1.5 writers put them). undefined when it cannot
// be told: no PDF header, encrypted (the vendors refuse it), no page found, or an object stream that
// is corrupt or inflates past MAX_INFLATED_BYTES. An incrementally updated file may count a changed
// page twice: an estimate that errs toward the bound. Inflating runs off the event loop.
export async function countPdfPages(data: Buffer): Promise<number | undefined> {
  const text = data.toString('latin1');
  // readers look for the header in the first 1,024 bytes
  if (!text.slice(0, 1024).includes('%PDF-') || ENCRYPT.test(text)) return undefined;
  let pages = countOf(text, PAGE);
  let budget = MAX_INFLATED_BYTES;
  for (const match of text.matchAll(OBJECT_STREAM)) {
    const stream = deflatedStream(text, data, match.index);
    // an object stream without a filter is plain text, already counted
    if (!stream) continue;
    let inflated: Buffer;
    try {
      inflated = await inflateAsync(stream, {
        maxOutputLength: budget,
        // a stream's bytes may end with the line before `endstream`
        finishFlush: constants.Z_SYNC_FLUSH,
      });
    } catch {
      return undefined;
    }
    budget -= inflated.length;
    pages += countOf(inflated.toString('latin1'), PAGE);
  }
  return pages > 0 ? pages : undefined;
}

function countOf(text: string, pattern: RegExp): number {
  let count = 0;
  for (const _match of text.matchAll(pattern)) count++;
  return count;
}

// The bytes of the stream whose dictionary holds `at`, when that dictionary names FlateDecode.
function deflatedStream(text: string, data: Buffer, at: number): Buffer | undefined {
  const keyword = text.indexOf('stream', at);
  if (keyword < 0) return undefined;
  const dictionary = text.slice(Math.max(0, text.lastIndexOf(' obj', at)), keyword);
  if (!dictionary.includes('/FlateDecode')) return undefined;
  // the data starts after the end of the keyword's line (CRLF or LF)
  let start = keyword + 'stream'.length;
  if (text[start] === '\r') start++;
  if (text[start] === '\n') start++;
  const end = text.indexOf('endstream', start);
  return data.subarray(start, end < 0 ? data.length : end);
}
