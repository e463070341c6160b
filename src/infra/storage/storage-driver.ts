import type { Readable } from 'node:stream';

// One interface for every place files live (S3-compatible buckets, local disk); drivers are chosen
// by settings (S3_BUCKET set → S3) and nothing above infra/ knows which one runs.
export interface SignedUrlOptions {
  ttlSeconds: number;
  contentType: string;
  // shown to the browser as the download name (already sanitised)
  fileName: string;
  disposition: 'inline' | 'attachment';
}

// Can the store take files right now (readiness); `detail` says why not, without secrets.
export interface StorageHealth {
  up: boolean;
  detail?: string;
}

export interface StorageDriver {
  readonly kind: 's3' | 'local';
  // Streams `body` to `key`; resolves with the bytes written. Memory stays bounded whatever the size.
  put(key: string, body: Readable, contentType: string): Promise<{ size: number }>;
  get(key: string): Promise<Readable>;
  // idempotent: a missing object is not an error
  delete(key: string): Promise<void>;
  exists(key: string): Promise<boolean>;
  // made at read time only, never stored
  signedUrl(key: string, options: SignedUrlOptions): Promise<string>;
  // cheap and bounded in time: readiness probes call it every few seconds on every instance
  health(): Promise<StorageHealth>;
  // a driver whose writes can outlive a crash as pieces (local disk's `.part-*` files) removes those
  // last written before `untouchedBefore`, never one being written; returns how many
  sweepParts?(untouchedBefore: Date): Promise<number>;
}

export const STORAGE_DRIVER = Symbol('STORAGE_DRIVER');

// The store did not answer (no connection, no byte for its timeout, a 5xx after the retries): the
// caller answers 503 STORAGE_UNAVAILABLE, not 500, and does not wait on it further.
export class StorageUnavailable extends Error {
  constructor(readonly detail: string) {
    super(`file storage unavailable: ${detail}`);
  }
}

export class StorageObjectMissing extends Error {
  constructor(key: string) {
    super(`no object at ${key}`);
  }
}

// The Content-Type a file is served with: text names its charset, else browsers guess it (windows-1252
// for "café" in most locales). Uploaded text is kept only as valid UTF-8 (file-rules.ts, TextCheck);
// docs/protocol.md, "Uploads and files".
export function servedContentType(mimeType: string): string {
  return mimeType.startsWith('text/') && !/;\s*charset=/i.test(mimeType)
    ? `${mimeType}; charset=utf-8`
    : mimeType;
}

// RFC 6266 Content-Disposition with an ASCII fallback and the UTF-8 name.
export function contentDisposition(disposition: 'inline' | 'attachment', fileName: string): string {
  const ascii = fileName.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
  const encoded = encodeURIComponent(fileName).replace(
    /['()*]/g,
    (character) => `%${character.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `${disposition}; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}
