import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import type { S3Settings } from '../../src/config/uploads.settings';
import { ClamdScanner } from '../../src/infra/scanner/clamd.scanner';
import { HEALTH_CACHE_MS, PART_BYTES, S3Storage } from '../../src/infra/storage/s3.storage';
import { StorageObjectMissing } from '../../src/infra/storage/storage-driver';
import { EICAR } from '../e2e/uploads.fixtures';

// The S3 driver against MinIO (which checks SigV4 signatures and expiry) and the scanner against
// Debian's clamd, both started by scripts/services/{minio,clamav}.sh.
const endpoint = process.env.TEST_S3_ENDPOINT;
const accessKeyId = process.env.TEST_S3_ACCESS_KEY_ID;
const secretAccessKey = process.env.TEST_S3_SECRET_ACCESS_KEY;

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

// a large stream produced on the fly, never held whole
function generated(bytes: number, seed: Buffer): { stream: Readable; sha256: () => string } {
  const hash = createHash('sha256');
  let sent = 0;
  const stream = new Readable({
    read() {
      if (sent >= bytes) return this.push(null);
      const chunk = Buffer.alloc(Math.min(1024 * 1024, bytes - sent), seed);
      chunk.writeUInt32BE(sent >>> 0, 0);
      sent += chunk.length;
      hash.update(chunk);
      this.push(chunk);
    },
  });
  return { stream, sha256: () => hash.digest('hex') };
}

// A loopback port nothing listens on (bound, then released).
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('S3 storage against MinIO', () => {
  let storage: S3Storage;
  let settings: S3Settings;
  const options = {
    ttlSeconds: 60,
    contentType: 'image/png',
    fileName: 'ph\u00f6to.png',
    disposition: 'inline' as const,
  };

  beforeAll(async () => {
    if (!endpoint || !accessKeyId || !secretAccessKey)
      throw new Error('TEST_S3_* unset: start MinIO with scripts/services/minio.sh up DIR');
    settings = {
      bucket: `chatbox-${randomBytes(4).toString('hex')}`,
      endpoint,
      region: 'us-east-1',
      accessKeyId,
      secretAccessKey,
      forcePathStyle: true,
      timeoutMs: 10_000,
    };
    storage = new S3Storage(settings);
    await storage.ensureBucket();
    await storage.ensureBucket();
  });
  afterAll(() => storage.destroy());

  it('should report the bucket reachable, reusing one answer for a few seconds', async () => {
    let now = 1_000_000;
    const probed = new S3Storage(settings, () => now);
    try {
      const first = probed.health();
      expect(probed.health()).toBe(first);
      expect(await first).toEqual({ up: true });
      now += HEALTH_CACHE_MS - 1;
      expect(probed.health()).toBe(first);
      now += 1;
      const next = probed.health();
      expect(next).not.toBe(first);
      expect(await next).toEqual({ up: true });
    } finally {
      probed.destroy();
    }
  });

  it('should report the store down, quickly, when the endpoint is closed or the bucket missing', async () => {
    const closed = new S3Storage({ ...settings, endpoint: `http://127.0.0.1:${await closedPort()}` });
    const missing = new S3Storage({ ...settings, bucket: `chatbox-missing-${randomUUID()}` });
    try {
      const started = performance.now();
      const down = await closed.health();
      expect(performance.now() - started).toBeLessThan(2000);
      expect(down.up).toBe(false);
      expect(down.detail).toMatch(/ECONNREFUSED|no answer/);
      expect(await missing.health()).toEqual({ up: false, detail: 'HTTP 404' });
    } finally {
      closed.destroy();
      missing.destroy();
    }
  });

  it('should put, get, report and delete a small object', async () => {
    const key = `files/t/${randomUUID()}`;
    const data = randomBytes(1000);
    expect(await storage.put(key, Readable.from([data]), 'application/octet-stream')).toEqual({ size: 1000 });
    expect(await storage.exists(key)).toBe(true);
    expect((await readAll(await storage.get(key))).equals(data)).toBe(true);
    await storage.delete(key);
    await storage.delete(key);
    expect(await storage.exists(key)).toBe(false);
    await expect(storage.get(key)).rejects.toBeInstanceOf(StorageObjectMissing);
  });

  it('should stream an object larger than one part as a multipart upload', async () => {
    const key = `files/t/${randomUUID()}`;
    const size = PART_BYTES * 2 + 12345;
    const source = generated(size, randomBytes(16));
    expect(await storage.put(key, source.stream, 'text/plain')).toEqual({ size });
    const read = await readAll(await storage.get(key));
    expect(read.length).toBe(size);
    expect(createHash('sha256').update(read).digest('hex')).toBe(source.sha256());
    await storage.delete(key);
  });

  it('should abort the multipart upload and leave no object when the stream fails', async () => {
    const key = `files/t/${randomUUID()}`;
    let sent = 0;
    const failing = new Readable({
      read() {
        if (sent > PART_BYTES * 1.5) return this.destroy(new Error('client went away'));
        sent += 1024 * 1024;
        this.push(Buffer.alloc(1024 * 1024, 1));
      },
    });
    await expect(storage.put(key, failing, 'text/plain')).rejects.toThrow('client went away');
    expect(await storage.exists(key)).toBe(false);
  });

  it('should serve a presigned GET with the signed type and name, and refuse it tampered or expired', async () => {
    const key = `files/t/${randomUUID()}`;
    const data = randomBytes(2048);
    await storage.put(key, Readable.from([data]), 'image/png');
    const url = new URL(await storage.signedUrl(key, options));
    expect(url.pathname).toContain(key);
    const ok = await fetch(url);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('image/png');
    expect(ok.headers.get('content-disposition')).toContain("filename*=UTF-8''ph%C3%B6to.png");
    expect(Buffer.from(await ok.arrayBuffer()).equals(data)).toBe(true);

    const tamper = (field: string, value: string) => {
      const copy = new URL(url);
      copy.searchParams.set(field, value);
      return fetch(copy).then((response) => response.status);
    };
    const signature = url.searchParams.get('X-Amz-Signature') as string;
    expect(
      await tamper('X-Amz-Signature', `${signature.slice(0, -1)}${signature.endsWith('0') ? '1' : '0'}`),
    ).toBe(403);
    expect(await tamper('response-content-type', 'text/html')).toBe(403);
    expect(await tamper('X-Amz-Expires', '604800')).toBe(403);
    const otherKey = new URL(url);
    otherKey.pathname = otherKey.pathname.replace(key, `files/t/${randomUUID()}`);
    expect((await fetch(otherKey)).status).toBe(403);

    // X-Amz-Date has whole seconds, so a URL for n seconds is good for n-1 to n of them
    const shortLived = await storage.signedUrl(key, { ...options, ttlSeconds: 3 });
    expect((await fetch(shortLived)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 3100));
    expect((await fetch(shortLived)).status).toBe(403);
    await storage.delete(key);
  });
});

describe('clamd scanner against Debian clamd', () => {
  let scanner: ClamdScanner;

  beforeAll(() => {
    const host = process.env.TEST_CLAMAV_HOST;
    const port = process.env.TEST_CLAMAV_PORT;
    if (!host || !port)
      throw new Error('TEST_CLAMAV_* unset: start clamd with scripts/services/clamav.sh up DIR');
    scanner = new ClamdScanner(host, Number(port), 30_000);
  });

  it('should answer PING', async () => {
    expect(await scanner.ping()).toBe(true);
  });

  it('should find the EICAR test string and pass clean data', async () => {
    expect(await scanner.scan(Readable.from([EICAR.subarray(0, 10), EICAR.subarray(10)]))).toEqual({
      clean: false,
      signature: expect.stringContaining('EICAR'),
    });
    expect(await scanner.scan(Readable.from([Buffer.from('hello, clamd')]))).toEqual({ clean: true });
  });

  it('should stream a large file through INSTREAM', async () => {
    const source = generated(30 * 1024 * 1024, randomBytes(16));
    expect(await scanner.scan(source.stream)).toEqual({ clean: true });
  });
});
