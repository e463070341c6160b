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

// File parts a form may have besides `file` (a thumbnail, a preview): busboy counts every file part
// against `files`, and with 1 a form whose first file part was another field's got 400 "file
// missing" (docs/protocol.md, "Uploads and files").
export const MAX_FILE_PARTS = 5;
// Parts a form may have in all, `file` among them; busboy reads none past them. A form whose `file`
// comes later is refused naming the limit: until the HTTP hostile-client audit of session 43 one
// with 20 text fields before `file` got 400 'The multipart field "file" is missing.' though it was
// there (1 of 1 form, 3 of 3 runs; docs/protocol.md, "Uploads and files").
export const MAX_PARTS = 20;
// No byte of the body for this long while we wait for it: the uploader stalled. The server has no
// whole-request timeout (src/bootstrap.ts), so an upload takes as long as its bytes keep coming;
// nginx's client_body_timeout is 60 s too, and clamd's ReadTimeout (120 s by default) must be longer.
export const UPLOAD_IDLE_MS = 60_000;

// Streams the multipart field `file` of a request to `handle` (other parts are skipped). The size
// limit is enforced by busboy as bytes arrive; on crossing it the request is unpiped and paused, so
// the rest of the body is never read (the caller answers 413 and closes the connection).
export function readMultipartFile<T>(
  request: IncomingMessage,
  limit: number,
  handle: (file: IncomingFile) => Promise<T>,
  idleMs = UPLOAD_IDLE_MS,
): Promise<T> {
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: request.headers,
      // browsers send file names as raw UTF-8
      defParamCharset: 'utf8',
      // busboy reports its limit when the count reaches it: limit + 1 lets exactly `limit` bytes through
      limits: {
        files: MAX_FILE_PARTS,
        fileSize: limit + 1,
        fields: 10,
        fieldSize: 4096,
        parts: MAX_PARTS,
        headerPairs: 50,
      },
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
    // the limit busboy stopped reading parts at, when it did
    let partsCut: string | undefined;
    let settled = false;
    let current: Readable | undefined;
    let idle: NodeJS.Timeout | undefined;
    const stopWatching = () => {
      clearTimeout(idle);
      request.off('data', onData);
    };
    const stopReading = () => {
      stopWatching();
      request.unpipe(parser);
      request.pause();
    };
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      stopReading();
      reject(error);
    };
    const onIdle = () => {
      // paused by us (storage or clamd slower than the uploader): not the uploader's stall
      if (request.isPaused()) return (idle = setTimeout(onIdle, idleMs));
      const stalled = new DomainException(
        ErrorCode.INVALID_MESSAGE,
        `The upload stalled: no data for ${idleMs < 1000 ? `${idleMs} ms` : `${Math.round(idleMs / 1000)} s`}.`,
      );
      current?.destroy(stalled);
      fail(stalled);
    };
    // an extra listener: the pipe below keeps the request flowing, this only sees the bytes pass
    const onData = () => idle?.refresh();
    request.on('data', onData);
    request.once('end', stopWatching);
    idle = setTimeout(onIdle, idleMs);
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
          stopWatching();
          resolve(value);
        },
        (error: unknown) => fail(error),
      );
    });
    // busboy says so once the parts counted reach `parts` (more may follow or not), and when a file
    // part comes past `files`; it reads neither past them
    parser.on('partsLimit', () => (partsCut ??= `the first ${MAX_PARTS} parts`));
    parser.on('filesLimit', () => (partsCut ??= `the first ${MAX_FILE_PARTS} file parts`));
    parser.on('close', () => {
      if (started) return;
      fail(
        new DomainException(
          ErrorCode.INVALID_MESSAGE,
          partsCut
            ? `The multipart field "file" is not among ${partsCut} of the form: no more are read.`
            : 'The multipart field "file" is missing.',
        ),
      );
    });
    parser.on('error', () =>
      fail(new DomainException(ErrorCode.INVALID_MESSAGE, 'The multipart body is malformed.')),
    );
    // a client that goes away mid-upload: busboy would wait for more bytes forever
    request.on('close', () => {
      stopWatching();
      if (request.complete) return;
      const cutOff = new DomainException(ErrorCode.INVALID_MESSAGE, 'The upload was cut off.');
      current?.destroy(cutOff);
      fail(cutOff);
    });
    request.pipe(parser);
  });
}
