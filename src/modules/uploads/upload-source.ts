import type { Readable } from 'node:stream';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { TextCheck } from './file-rules';

// file-type decides from the first 4100 bytes
export const HEAD_BYTES = 4100;

export interface UploadSource {
  head: Buffer;
  // head + the rest, counted and (for text) checked as it flows
  body(checkText: boolean): AsyncIterable<Buffer>;
  readonly bytes: number;
}

// Reads just enough of the part to decide its type, then hands out the whole stream exactly once.
export async function openSource(stream: Readable): Promise<UploadSource> {
  const iterator = (stream as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const parts: Buffer[] = [];
  let headBytes = 0;
  let ended = false;
  while (headBytes < HEAD_BYTES) {
    const next = await iterator.next();
    if (next.done) {
      ended = true;
      break;
    }
    parts.push(next.value);
    headBytes += next.value.length;
  }
  const head = Buffer.concat(parts);
  let bytes = 0;
  return {
    head: head.subarray(0, HEAD_BYTES),
    get bytes() {
      return bytes;
    },
    async *body(checkText: boolean) {
      const text = checkText ? new TextCheck() : undefined;
      const pass = (chunk: Buffer): Buffer => {
        bytes += chunk.length;
        if (text && !text.push(chunk)) throw notText();
        return chunk;
      };
      try {
        yield pass(head);
        while (!ended) {
          const next = await iterator.next();
          if (next.done) ended = true;
          else yield pass(next.value);
        }
        if (text && !text.end()) throw notText();
      } finally {
        // stops the part (and so the request) when a consumer gave up early
        if (!ended) await iterator.return?.();
      }
    },
  };
}

function notText(): DomainException {
  return new DomainException(
    ErrorCode.UNSUPPORTED_FILE_TYPE,
    'The file starts as plain text but is not: only valid UTF-8 text is accepted as text.',
  );
}
