import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import busboy from 'busboy';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';

export interface IncomingFile {
  fileName: string | undefined;
  declaredType: string | undefined;
  // the part's bytes; fails with LimitCrossed the moment the limit is passed
  stream: Readable;
}

// The part crossed the byte limit: the request is no longer read from that moment on.
export class LimitCrossed extends Error {
  constructor(readonly limit: number) {
    super(`upload crossed ${limit} bytes`);
  }
}

// Streams the multipart field `file` of a request to `handle` (other parts are skipped). The size
// limit is enforced by busboy as bytes arrive; on crossing it the request is unpiped and paused, so
// the rest of the body is never read (the caller answers 413 and closes the connection).
export function readMultipartFile<T>(
  request: IncomingMessage,
  limit: number,
  handle: (file: IncomingFile) => Promise<T>,
): Promise<T> {
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: request.headers,
      // browsers send file names as raw UTF-8
      defParamCharset: 'utf8',
      // busboy reports its limit when the count reaches it: limit + 1 lets exactly `limit` bytes through
      limits: { files: 1, fileSize: limit + 1, fields: 10, fieldSize: 4096, parts: 20, headerPairs: 50 },
    });
  } catch {
    return Promise.reject(
      new DomainException(
        ErrorCode.INVALID_MESSAGE,
        'Send the file as multipart/form-data in the field "file".',
      ),
    );
  }
  return new Promise<T>((resolve, reject) => {
    let started = false;
    let settled = false;
    let current: Readable | undefined;
    const stopReading = () => {
      request.unpipe(parser);
      request.pause();
    };
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      stopReading();
      reject(error);
    };
    parser.on('file', (field, stream, info) => {
      // busboy destroys every part's stream with the form's error (a form cut short, a broken part
      // header): a stream without an 'error' listener then ended the process (docs/protocol.md, "Bad
      // input"). The form's error reaches the request through the parser's own 'error'.
      stream.on('error', () => undefined);
      if (field !== 'file' || started) {
        stream.resume();
        return;
      }
      started = true;
      current = stream;
      stream.on('limit', () => {
        stopReading();
        stream.destroy(new LimitCrossed(limit));
      });
      handle({ fileName: info.filename, declaredType: info.mimeType, stream }).then(
        (value) => {
          settled = true;
          resolve(value);
        },
        (error: unknown) => fail(error),
      );
    });
    parser.on('close', () => {
      if (!started)
        fail(new DomainException(ErrorCode.INVALID_MESSAGE, 'The multipart field "file" is missing.'));
    });
    parser.on('error', () =>
      fail(new DomainException(ErrorCode.INVALID_MESSAGE, 'The multipart body is malformed.')),
    );
    // a client that goes away mid-upload: busboy would wait for more bytes forever
    request.on('close', () => {
      if (request.complete) return;
      const cutOff = new DomainException(ErrorCode.INVALID_MESSAGE, 'The upload was cut off.');
      current?.destroy(cutOff);
      fail(cutOff);
    });
    request.pipe(parser);
  });
}
