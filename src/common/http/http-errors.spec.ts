import { brotliDecompressSync, gunzipSync, gzipSync, inflateSync, zstdDecompressSync } from 'node:zlib';
import fc from 'fast-check';
import { ErrorCode, httpStatusOf } from '../errors/error-code';
import { httpRefusalOf } from './http-errors';

// An error as `http-errors` makes it: the cause with status, statusCode, expose (and type) added.
function httpError(status: number, fields: Record<string, unknown> = {}, message = 'details'): Error {
  return Object.assign(new Error(message), { status, statusCode: status, expose: status < 500, ...fields });
}

describe(httpRefusalOf.name, () => {
  it('should answer body-parser errors with their 4xx status, a code of that status and our own words', () => {
    const cases: Array<[Error, number, ErrorCode]> = [
      [httpError(413, { type: 'entity.too.large', limit: 65536 }), 413, ErrorCode.PAYLOAD_TOO_LARGE],
      [httpError(415, { type: 'encoding.unsupported', encoding: 'br2' }), 415, ErrorCode.UNSUPPORTED_MEDIA_TYPE],
      [httpError(415, { type: 'charset.unsupported', charset: 'ibm037' }), 415, ErrorCode.UNSUPPORTED_MEDIA_TYPE],
      [httpError(400, { type: 'entity.parse.failed', body: '{"a":' }), 400, ErrorCode.INVALID_MESSAGE],
      [httpError(400, { type: 'request.aborted' }), 400, ErrorCode.INVALID_MESSAGE],
    ]; // prettier-ignore
    for (const [error, status, code] of cases) {
      const refusal = httpRefusalOf(error);
      expect(refusal).toMatchObject({ status, code });
      expect(httpStatusOf(code)).toBe(status);
      // never the request's own bytes
      expect(refusal?.message).not.toMatch(/br2|ibm037|\{"a"/i);
    }
  });

  // before, only zlib's Z_* codes were known: zstd's and brotli's errors went out with their own
  // texts ("Unknown frame descriptor", "Decompression failed")
  it('should answer a body that is not what its Content-Encoding says with 400, in our words, for every encoding', () => {
    const notCompressed = Buffer.from('{"this":"is not compressed"}');
    const decompressors: Array<[string, (data: Buffer) => Buffer]> = [
      ['gzip', gunzipSync],
      ['deflate', inflateSync],
      ['br', brotliDecompressSync],
      ['zstd', zstdDecompressSync],
      ['truncated gzip', (data) => gunzipSync(gzipSync(data).subarray(0, 12))],
    ];
    for (const [name, decompress] of decompressors) {
      let zlibError: Error | undefined;
      try {
        decompress(notCompressed);
      } catch (error) {
        zlibError = error as Error;
      }
      // body-parser gives the zlib error a 400 before passing it on
      const refusal = httpRefusalOf(
        Object.assign(zlibError!, { status: 400, statusCode: 400, expose: true }),
      );
      expect([name, refusal]).toEqual([
        name,
        {
          status: 400,
          code: ErrorCode.INVALID_MESSAGE,
          message: 'The request body could not be decompressed.',
        },
      ]);
    }
  });

  it('should name every encoding it takes when it refuses one, zstd included, and refuse invalid UTF-8', () => {
    expect(httpRefusalOf(httpError(415, { type: 'encoding.unsupported' }))?.message).toBe(
      'This Content-Encoding is not accepted; send identity, gzip, deflate, br or zstd.',
    );
    expect(httpRefusalOf(httpError(400, { type: 'entity.utf8.invalid' }))).toEqual({
      status: 400,
      code: ErrorCode.INVALID_MESSAGE,
      message: 'The request body is not valid UTF-8.',
    });
  });

  it('should pass on other exposed client errors with their status and message', () => {
    expect(
      httpRefusalOf(
        httpError(400, { type: 'request.size.invalid' }, 'request size did not match content length'),
      ),
    ).toEqual({
      status: 400,
      code: ErrorCode.INVALID_MESSAGE,
      message: 'request size did not match content length',
    });
    expect(httpRefusalOf(httpError(404))).toMatchObject({ status: 404, code: ErrorCode.NOT_FOUND });
    expect(httpRefusalOf(httpError(429))).toMatchObject({ status: 429, code: ErrorCode.RATE_LIMITED });
  });

  it('should leave server errors, unexposed ones and anything else to the 500 path', () => {
    expect(httpRefusalOf(httpError(500, { type: 'stream.not.readable' }))).toBeUndefined();
    expect(httpRefusalOf(httpError(400, { expose: false }))).toBeUndefined();
    expect(httpRefusalOf(new Error('boom'))).toBeUndefined();
    expect(httpRefusalOf(new TypeError('x is undefined'))).toBeUndefined();
    for (const value of [undefined, null, 'entity.too.large', 413, {}])
      expect(httpRefusalOf(value)).toBeUndefined();
    // fast-check's find (seed -1368205885): a status that is a number but no HTTP status
    for (const status of [Number.NaN, 404.5])
      expect(httpRefusalOf({ status, statusCode: {}, expose: true, type: [], code: [] })).toBeUndefined();
  });

  it('should either refuse with a 4xx or leave it, whatever is thrown', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.anything(),
          fc.record({
            status: fc.oneof(fc.integer({ min: 0, max: 999 }), fc.anything()),
            statusCode: fc.anything(),
            expose: fc.oneof(fc.boolean(), fc.anything()),
            type: fc.oneof(fc.constantFrom('entity.too.large', 'request.aborted', 'x'), fc.anything()),
            code: fc.oneof(fc.constant('Z_DATA_ERROR'), fc.anything()),
          }),
        ),
        (value) => {
          const refusal = httpRefusalOf(value);
          if (refusal === undefined) return;
          expect(refusal.status).toBeGreaterThanOrEqual(400);
          expect(refusal.status).toBeLessThan(500);
          expect(refusal.code).not.toBe(ErrorCode.INTERNAL);
          expect(typeof refusal.message).toBe('string');
        },
      ),
    );
  });
});
