import type { Readable } from 'node:stream';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import { InvalidSignature, LocalDiskStorage } from '../../infra/storage/local-disk.storage';
import {
  contentDisposition,
  servedContentType,
  StorageObjectMissing,
  type StorageDriver,
} from '../../infra/storage/storage-driver';
import type { LateScan } from './late-scan';
import { parseRange, RangeNotSatisfiable } from './range';

export interface BlobResponse {
  stream: Readable;
  status: 200 | 206;
  headers: Record<string, string>;
}

// GET /chat/blob — local disk only: the signature is the authorisation (no token needed).
export async function openSignedBlob(
  storage: StorageDriver,
  lateScan: LateScan,
  query: Record<string, unknown>,
  rangeHeader: string | undefined,
): Promise<BlobResponse> {
  if (!(storage instanceof LocalDiskStorage)) throw new DomainException(ErrorCode.NOT_FOUND);
  let blob;
  try {
    blob = storage.verify(query);
  } catch (error) {
    if (error instanceof InvalidSignature)
      throw new DomainException(
        ErrorCode.FORBIDDEN,
        error.reason === 'expired' ? 'This link has expired.' : 'This link is not valid.',
      );
    throw error;
  }
  await lateScan.ensureCleanKey(blob.key);
  try {
    const size = await storage.size(blob.key);
    const range = parseRange(rangeHeader, size);
    if (range === 'unsatisfiable') throw new RangeNotSatisfiable(size);
    const stream = await storage.open(blob.key, range);
    const headers: Record<string, string> = {
      'Content-Type': servedContentType(blob.contentType),
      'Content-Disposition': contentDisposition(blob.disposition, blob.fileName),
      'Accept-Ranges': 'bytes',
      'Content-Length': String(range ? range.end - range.start + 1 : size),
    };
    if (range) headers['Content-Range'] = `bytes ${range.start}-${range.end}/${size}`;
    return { stream, status: range ? 206 : 200, headers };
  } catch (error) {
    if (error instanceof StorageObjectMissing)
      throw new DomainException(ErrorCode.NOT_FOUND, 'File not found.');
    throw error;
  }
}
