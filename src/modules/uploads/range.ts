import { HttpException } from '@nestjs/common';

// One HTTP byte range (RFC 9110 §14.1.2), enough for audio/video players that seek: "bytes=a-b",
// "bytes=a-" and "bytes=-n". Several ranges, other units or garbage → the whole file (undefined).
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d{0,15})-(\d{0,15})$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  if (size === 0) return 'unsatisfiable';
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size) return 'unsatisfiable';
  if (end < start) return undefined;
  return { start, end };
}

// 416 for a range past the end (RFC 9110 §15.5.17), with the size for its Content-Range; it was a
// 400, which tells a player its request was malformed rather than where the file ends
export class RangeNotSatisfiable extends HttpException {
  constructor(readonly size: number) {
    super({ message: 'The requested range is not satisfiable.' }, 416);
  }
}
