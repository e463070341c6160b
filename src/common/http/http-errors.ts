import * as zlib from 'node:zlib';
import type { Response } from 'express';
import { codeForHttpStatus, ErrorCode } from '../errors/error-code';

export interface HttpRefusal {
  status: number;
  code: ErrorCode;
  message: string;
}

// The fields of an `http-errors` error (what body-parser and raw-body hand to next()).
interface HttpErrorFields {
  status?: unknown;
  statusCode?: unknown;
  expose?: unknown;
  type?: unknown;
  code?: unknown;
}

// The encodings body-parser decompresses: zstd where Node has it (22.15, 23.8 and later)
const ENCODINGS =
  'createZstdDecompress' in zlib ? 'identity, gzip, deflate, br or zstd' : 'identity, gzip, deflate or br';

// The codes of Node's decompression errors (a body that says it is compressed but is not, or is cut
// short): zlib's Z_* (gzip, deflate), brotli's ERR__ERROR_* (ERR_BROTLI_* for its own), zstd's
// ZSTD_error_*. Their texts ("Unknown frame descriptor", "Decompression failed") are the library's.
const DECOMPRESSION_ERROR = /^(Z_|ERR__ERROR_|ERR_BROTLI_|ZSTD_error_)/;

// The client's fault, said in our words, for an error body-parser (or anything else using
// `http-errors`) raised; undefined for anything else, which stays a 500. Their own messages may
// echo request details (an encoding, a JSON fragment), so only generic ones are used for bodies.
export function httpRefusalOf(error: unknown): HttpRefusal | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const fields = error as HttpErrorFields;
  switch (fields.type) {
    case 'entity.too.large':
      return refusal(413, 'The request body is too large.');
    case 'encoding.unsupported':
      return refusal(415, `This Content-Encoding is not accepted; send ${ENCODINGS}.`);
    case 'charset.unsupported':
      return refusal(415, 'JSON bodies must be UTF-8.');
    case 'entity.utf8.invalid':
      return refusal(400, 'The request body is not valid UTF-8.');
    case 'entity.parse.failed':
      return refusal(400, 'The request body is not a JSON object or array.');
    case 'request.aborted':
      return refusal(400, 'The request body ended early.');
  }
  const status = typeof fields.status === 'number' ? fields.status : fields.statusCode;
  // a status that is no integer (NaN, 404.5) is no HTTP status
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 400 || status >= 500)
    return undefined;
  if (typeof fields.code === 'string' && DECOMPRESSION_ERROR.test(fields.code))
    return refusal(400, 'The request body could not be decompressed.');
  // other client errors: their message is meant for the client only when `expose` says so
  if (fields.expose !== true) return undefined;
  const message = error instanceof Error && error.message ? error.message : 'The request is not valid.';
  return refusal(status, message);
}

function refusal(status: number, message: string): HttpRefusal {
  return { status, code: codeForHttpStatus(status), message };
}

// The one error body of the HTTP API (CONTRACT §2), for answers given before Nest's filter.
export function sendError(response: Response, status: number, code: ErrorCode, message: string): void {
  response.status(status).json({ error: { code, message } });
}
