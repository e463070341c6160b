import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { constants, createReadStream, createWriteStream } from 'node:fs';
import { access, mkdir, opendir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  type SignedUrlOptions,
  type StorageDriver,
  type StorageHealth,
  StorageObjectMissing,
} from './storage-driver';

// Where the app serves signed local files (see BlobController).
export const LOCAL_BLOB_PATH = '/chat/blob';
const KEY_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]*(\/[A-Za-z0-9][A-Za-z0-9_.-]*)*$/;
// `<object>.part-<12 hex>`: where put writes before the rename. No object is named so: keys are
// `files/<hash>/<id>`, and ids have no dot.
const PART_NAME = /\.part-[0-9a-f]{12}$/;

export interface SignedBlob {
  key: string;
  contentType: string;
  fileName: string;
  disposition: 'inline' | 'attachment';
}

export class InvalidSignature extends Error {
  constructor(readonly reason: 'malformed' | 'expired' | 'signature') {
    super(`signed URL refused: ${reason}`);
  }
}

// The embedded default: files under one directory, served by the app itself through URLs signed
// with HMAC-SHA256 (key, type, name, disposition and expiry are all covered by the signature).
export class LocalDiskStorage implements StorageDriver {
  readonly kind = 'local';
  private readonly root: string;
  // parts this process is writing: never swept, however long since their last byte
  private readonly writing = new Set<string>();

  constructor(
    root: string,
    private readonly signingKey: Buffer,
    private readonly now: () => number = Date.now,
  ) {
    this.root = resolve(root);
  }

  async put(key: string, body: Readable, _contentType: string): Promise<{ size: number }> {
    const path = this.pathOf(key);
    await mkdir(dirname(path), { recursive: true });
    // written under a temporary name and renamed, so a half-written file is never readable
    const partial = `${path}.part-${randomBytes(6).toString('hex')}`;
    let size = 0;
    body.on('data', (chunk: Buffer) => (size += chunk.length));
    this.writing.add(partial);
    try {
      await pipeline(body, createWriteStream(partial, { flags: 'wx', mode: 0o600 }));
      await rename(partial, path);
    } catch (error) {
      await rm(partial, { force: true });
      throw error;
    } finally {
      this.writing.delete(partial);
    }
    return { size };
  }

  // Removes the parts a crash left (a process ended between its first byte and the rename), those
  // last written before `untouchedBefore`; never one this process is writing. Another instance on a
  // shared volume is spared by the age: a part being written is touched every minute or so
  // (docs/protocol.md, "Uploads and files"). Returns how many were removed.
  async sweepParts(untouchedBefore: Date): Promise<number> {
    let removed = 0;
    for await (const path of partsUnder(this.root)) {
      if (this.writing.has(path)) continue;
      const found = await stat(path).catch(() => undefined);
      if (!found?.isFile() || found.mtimeMs >= untouchedBefore.getTime()) continue;
      await rm(path, { force: true });
      removed++;
    }
    return removed;
  }

  async get(key: string): Promise<Readable> {
    return this.open(key);
  }

  async size(key: string): Promise<number> {
    try {
      const found = await stat(this.pathOf(key));
      if (found.isFile()) return found.size;
    } catch {
      // missing
    }
    throw new StorageObjectMissing(key);
  }

  // a byte range (inclusive) or the whole file
  async open(key: string, range?: { start: number; end: number }): Promise<Readable> {
    await this.size(key);
    return createReadStream(this.pathOf(key), range);
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }

  async exists(key: string): Promise<boolean> {
    try {
      return (await stat(this.pathOf(key))).isFile();
    } catch {
      return false;
    }
  }

  // The upload directory exists (made on first use, as put does) and this process may write to it;
  // access() also reports a read-only file system.
  async health(): Promise<StorageHealth> {
    try {
      await mkdir(this.root, { recursive: true });
      await access(this.root, constants.W_OK);
      return { up: true };
    } catch (error) {
      return { up: false, detail: `upload directory not writable (${errorCode(error)})` };
    }
  }

  async signedUrl(key: string, options: SignedUrlOptions): Promise<string> {
    this.pathOf(key);
    // rounded up to the next whole second: the link is good for at least the TTL
    const expires = Math.ceil((this.now() + Math.max(1, Math.round(options.ttlSeconds)) * 1000) / 1000);
    const blob: SignedBlob = {
      key,
      contentType: options.contentType,
      fileName: options.fileName,
      disposition: options.disposition,
    };
    const query = new URLSearchParams({
      key,
      type: blob.contentType,
      name: blob.fileName,
      disposition: blob.disposition,
      expires: String(expires),
      signature: this.sign(blob, expires),
    });
    return `${LOCAL_BLOB_PATH}?${query.toString()}`;
  }

  // Checks a signed URL's query; any change to any field, or a past expiry, is refused.
  verify(query: Record<string, unknown>): SignedBlob {
    const field = (name: string): string => {
      const value = query[name];
      if (typeof value !== 'string' || value.length === 0 || value.length > 2048)
        throw new InvalidSignature('malformed');
      return value;
    };
    const disposition = field('disposition');
    if (disposition !== 'inline' && disposition !== 'attachment') throw new InvalidSignature('malformed');
    const expiresText = field('expires');
    if (!/^\d{1,12}$/.test(expiresText)) throw new InvalidSignature('malformed');
    const blob: SignedBlob = {
      key: field('key'),
      contentType: field('type'),
      fileName: field('name'),
      disposition,
    };
    if (!KEY_PATTERN.test(blob.key)) throw new InvalidSignature('malformed');
    const expected = Buffer.from(this.sign(blob, Number(expiresText)));
    const given = Buffer.from(field('signature'));
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      throw new InvalidSignature('signature');
    if (Number(expiresText) * 1000 <= this.now()) throw new InvalidSignature('expired');
    return blob;
  }

  private sign(blob: SignedBlob, expires: number): string {
    // unit separators keep fields from sliding into each other
    const canonical = ['v1', blob.key, blob.contentType, blob.fileName, blob.disposition, expires].join(
      '\x1f',
    );
    return createHmac('sha256', this.signingKey).update(canonical).digest('base64url');
  }

  private pathOf(key: string): string {
    if (!KEY_PATTERN.test(key) || key.length > 512) throw new Error('invalid storage key');
    const path = resolve(this.root, key);
    if (!path.startsWith(this.root + sep)) throw new Error('invalid storage key');
    return path;
  }
}

// Every part under `directory`, walked one directory at a time (never the whole tree in memory).
async function* partsUnder(directory: string): AsyncGenerator<string> {
  let entries;
  try {
    entries = await opendir(directory);
  } catch {
    // gone meanwhile, or nothing stored yet
    return;
  }
  for await (const entry of entries) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) yield* partsUnder(path);
    else if (entry.isFile() && PART_NAME.test(entry.name)) yield path;
  }
}

function errorCode(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : 'error';
}
