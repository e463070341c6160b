import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { redactUrl } from '../../common/logging/logging';
import { InvalidSignature, LOCAL_BLOB_PATH, LocalDiskStorage } from './local-disk.storage';
import { StorageObjectMissing } from './storage-driver';

const OPTIONS = {
  ttlSeconds: 60,
  contentType: 'image/png',
  fileName: 'photo.png',
  disposition: 'inline' as const,
};

function queryOf(url: string): Record<string, string> {
  expect(url.startsWith(`${LOCAL_BLOB_PATH}?`)).toBe(true);
  return Object.fromEntries(new URL(url, 'http://x').searchParams);
}

function refusal(storage: LocalDiskStorage, query: Record<string, unknown>): string {
  try {
    storage.verify(query);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidSignature);
    return (error as InvalidSignature).reason;
  }
  throw new Error('a changed signed URL was accepted');
}

describe(LocalDiskStorage.name, () => {
  let root: string;
  let now: number;
  let storage: LocalDiskStorage;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'local-storage-'));
    now = 1_700_000_000_000;
    storage = new LocalDiskStorage(root, randomBytes(32), () => now);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('should store, read, report and delete an object when given a stream', async () => {
    const data = randomBytes(300_000);
    expect(
      await storage.put('files/abc/f1', Readable.from([data.subarray(0, 1000), data.subarray(1000)]), 'x/y'),
    ).toEqual({
      size: data.length,
    });
    expect(await storage.exists('files/abc/f1')).toBe(true);
    expect(await storage.size('files/abc/f1')).toBe(data.length);
    const chunks: Buffer[] = [];
    for await (const chunk of await storage.get('files/abc/f1')) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
    await storage.delete('files/abc/f1');
    await storage.delete('files/abc/f1');
    expect(await storage.exists('files/abc/f1')).toBe(false);
    await expect(storage.get('files/abc/f1')).rejects.toBeInstanceOf(StorageObjectMissing);
  });

  it('should leave no file behind when the stream fails midway', async () => {
    const failing = new Readable({
      read() {
        this.push(Buffer.alloc(1000));
        this.destroy(new Error('client went away'));
      },
    });
    await expect(storage.put('files/abc/f2', failing, 'x/y')).rejects.toThrow('client went away');
    expect(readdirSync(join(root, 'files/abc'))).toEqual([]);
  });

  // a file at `key` under the root, last written `ageMs` ago
  function leftover(key: string, ageMs: number): string {
    const path = join(root, key);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, 'half');
    const at = new Date(Date.now() - ageMs);
    utimesSync(path, at, at);
    return path;
  }

  it('should remove the parts a crash left once untouched long enough, and nothing else', async () => {
    const hour = 3_600_000;
    const object = leftover('files/abc/f1', 3 * hour);
    const crashed = leftover('files/abc/f1.part-0123456789ab', 2 * hour);
    const elsewhere = leftover('files/def/f2.part-aaaaaaaaaaaa', 5 * hour);
    const recent = leftover('files/abc/f3.part-bbbbbbbbbbbb', hour / 2);
    const lookalike = leftover('files/abc/notes.part-1', 2 * hour);
    expect(await storage.sweepParts(new Date(Date.now() - hour))).toBe(2);
    expect([object, crashed, elsewhere, recent, lookalike].map((path) => existsSync(path))).toEqual([
      true,
      false,
      false,
      true,
      true,
    ]);
    // nothing stored yet: nothing to sweep
    expect(await new LocalDiskStorage(join(root, 'none'), randomBytes(32)).sweepParts(new Date())).toBe(0);
  });

  it('should never remove a part it is writing, however long since its last byte', async () => {
    const body = new PassThrough();
    const storing = storage.put('files/abc/slow', body, 'x/y');
    body.write(Buffer.alloc(1000, 1));
    let parts: string[] = [];
    while (parts.length === 0) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      parts = existsSync(join(root, 'files/abc')) ? readdirSync(join(root, 'files/abc')) : [];
    }
    expect(parts).toEqual([expect.stringMatching(/^slow\.part-[0-9a-f]{12}$/)]);
    const old = new Date(Date.now() - 24 * 3_600_000);
    utimesSync(join(root, 'files/abc', parts[0]), old, old);
    expect(await storage.sweepParts(new Date())).toBe(0);
    body.end(Buffer.alloc(1000, 2));
    expect(await storing).toEqual({ size: 2000 });
    expect(readdirSync(join(root, 'files/abc'))).toEqual(['slow']);
  });

  it('should refuse keys that could leave the root', async () => {
    for (const key of ['../x', 'files/../../x', '/etc/passwd', 'files//x', '.hidden', 'a\\b', '']) {
      await expect(storage.put(key, Readable.from([Buffer.from('x')]), 'x/y')).rejects.toThrow(
        'invalid storage key',
      );
    }
  });

  it('should verify a URL it signed and give back what was signed', async () => {
    const query = queryOf(await storage.signedUrl('files/abc/f1', OPTIONS));
    expect(storage.verify(query)).toEqual({
      key: 'files/abc/f1',
      contentType: 'image/png',
      fileName: 'photo.png',
      disposition: 'inline',
    });
  });

  it('should refuse the URL when any field is changed', async () => {
    const query = queryOf(await storage.signedUrl('files/abc/f1', OPTIONS));
    fc.assert(
      fc.property(
        fc.constantFrom('key', 'type', 'name', 'disposition', 'expires', 'signature'),
        fc.string({ minLength: 1, maxLength: 20 }),
        (field, replacement) => {
          if (query[field] === replacement) return;
          const reason = refusal(storage, { ...query, [field]: replacement });
          expect(['malformed', 'signature']).toContain(reason);
        },
      ),
      { numRuns: 500 },
    );
    expect(refusal(storage, { ...query, key: 'files/abc/f2' })).toBe('signature');
    expect(refusal(storage, { ...query, type: 'text/html' })).toBe('signature');
    expect(refusal(storage, { ...query, disposition: 'attachment' })).toBe('signature');
    expect(refusal(storage, { ...query, expires: String(Number(query.expires) + 3600) })).toBe('signature');
    const { signature: _signature, ...unsigned } = query;
    expect(refusal(storage, unsigned)).toBe('malformed');
  });

  it('should refuse the URL once it has expired', async () => {
    const query = queryOf(await storage.signedUrl('files/abc/f1', { ...OPTIONS, ttlSeconds: 5 }));
    now += 4_000;
    expect(storage.verify(query).key).toBe('files/abc/f1');
    now += 1_000;
    expect(refusal(storage, query)).toBe('expired');
  });

  it('should leave no usable signature in logged request URLs', async () => {
    const url = await storage.signedUrl('files/abc/f1', OPTIONS);
    const logged = redactUrl(url) as string;
    expect(logged).toContain('signature=[REDACTED]');
    expect(refusal(storage, queryOf(logged))).toBe('signature');
  });

  it('should be healthy when its directory is writable, making it when missing', async () => {
    const fresh = new LocalDiskStorage(join(root, 'not', 'yet'), randomBytes(32));
    expect(await fresh.health()).toEqual({ up: true });
    expect(existsSync(join(root, 'not', 'yet'))).toBe(true);
  });

  it('should be unhealthy when its directory cannot be written', async () => {
    // a regular file where the directory should be: nothing can ever be stored under it
    writeFileSync(join(root, 'file'), 'x');
    const blocked = new LocalDiskStorage(join(root, 'file', 'uploads'), randomBytes(32));
    expect(await blocked.health()).toEqual({ up: false, detail: 'upload directory not writable (ENOTDIR)' });
  });

  it('should refuse a URL signed with another key', async () => {
    const other = new LocalDiskStorage(root, randomBytes(32), () => now);
    const query = queryOf(await other.signedUrl('files/abc/f1', OPTIONS));
    expect(refusal(storage, query)).toBe('signature');
  });
});
