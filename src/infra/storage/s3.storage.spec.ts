import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { isUnavailable } from './s3-errors';
import { S3Storage } from './s3.storage';
import { StorageUnavailable } from './storage-driver';

const settings = {
  bucket: 'chatbox',
  endpoint: 'http://127.0.0.1:9',
  region: 'us-east-1',
  accessKeyId: 'id',
  secretAccessKey: 'secret',
  forcePathStyle: true,
  timeoutMs: 10_000,
};

// Presigning is computed locally: no S3 needed.
describe(S3Storage.name, () => {
  const storage = new S3Storage(settings);
  const signed = async (contentType: string) =>
    new URL(
      await storage.signedUrl('files/abc/1', {
        ttlSeconds: 60,
        contentType,
        fileName: 'notes.txt',
        disposition: 'inline',
      }),
    ).searchParams;

  // docs/protocol.md, "Uploads and files": browsers guess a text file's charset otherwise
  it('should name UTF-8 as the charset of text it serves, and leave other types as they are', async () => {
    expect((await signed('text/plain')).get('response-content-type')).toBe('text/plain; charset=utf-8');
    expect((await signed('text/csv')).get('response-content-type')).toBe('text/csv; charset=utf-8');
    expect((await signed('image/png')).get('response-content-type')).toBe('image/png');
    expect((await signed('application/pdf')).get('response-content-type')).toBe('application/pdf');
  });

  it('should sign the disposition and the download name', async () => {
    const query = await signed('text/plain');
    expect(query.get('response-content-disposition')).toBe(
      `inline; filename="notes.txt"; filename*=UTF-8''notes.txt`,
    );
    expect(query.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
  });

  it('should take timeouts, refused connections and 5xx as the store being unavailable, not a 403', () => {
    expect(isUnavailable(Object.assign(new Error('idle'), { name: 'TimeoutError' }))).toBe(true);
    expect(isUnavailable(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isUnavailable({ name: 'SlowDown', $metadata: { httpStatusCode: 503 } })).toBe(true);
    expect(isUnavailable({ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } })).toBe(false);
    expect(isUnavailable({ name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } })).toBe(false);
    expect(isUnavailable(new Error('other'))).toBe(false);
    expect(isUnavailable(undefined)).toBe(false);
  });

  // docs/protocol.md, "Uploads and files": an S3 that accepted connections and sent nothing back held
  // every request for ever (the SDK has no timeout by default)
  describe('against an S3 that accepts connections and never answers', () => {
    let silent: Server;
    const sockets = new Set<Socket>();
    let stalled: S3Storage;

    beforeAll(async () => {
      silent = createServer((socket) => {
        sockets.add(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => sockets.delete(socket));
        socket.resume();
      });
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      const { port } = silent.address() as AddressInfo;
      stalled = new S3Storage({ ...settings, endpoint: `http://127.0.0.1:${port}`, timeoutMs: 1000 });
    });
    afterAll(async () => {
      stalled.destroy();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    });

    it('should fail a put, a get, a delete and an exists with StorageUnavailable within the attempts', async () => {
      const started = performance.now();
      const outcomes = await Promise.allSettled([
        stalled.put('files/a/1', Readable.from([Buffer.from('hello world')]), 'text/plain'),
        stalled.get('files/a/1'),
        stalled.delete('files/a/1'),
        stalled.exists('files/a/1'),
      ]);
      for (const outcome of outcomes) {
        expect(outcome.status).toBe('rejected');
        expect((outcome as PromiseRejectedResult).reason).toBeInstanceOf(StorageUnavailable);
      }
      // three attempts of one second each and the SDK's backoff between them
      expect(performance.now() - started).toBeLessThan(8000);
    }, 15_000);
  });

  // docs/protocol.md, "Uploads and files": an S3 that sent the headers and part of the body, then
  // nothing, failed the read with the SDK's TimeoutError (INTERNAL for the client) rather than
  // StorageUnavailable: `get` resolves when the headers arrive, the body fails later.
  it('should fail the read of a body that stops coming with StorageUnavailable', async () => {
    const server: HttpServer = createHttpServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/plain', 'content-length': '1000' });
      response.write('0123456789');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const silent = new S3Storage({ ...settings, endpoint: `http://127.0.0.1:${port}`, timeoutMs: 500 });
    try {
      const chunks: Buffer[] = [];
      const read = (async () => {
        for await (const chunk of (await silent.get('files/a/1')) as AsyncIterable<Buffer>)
          chunks.push(chunk);
      })();
      await expect(read).rejects.toBeInstanceOf(StorageUnavailable);
      expect(Buffer.concat(chunks).toString()).toBe('0123456789');
    } finally {
      silent.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }, 15_000);

  // The timeout is the socket's idle time: a body that keeps coming, slower than the timeout in all,
  // is read whole (a large part on a slow link is never cut).
  it('should read a body that takes longer than the timeout while its bytes keep coming', async () => {
    const server: HttpServer = createHttpServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/plain' });
      let sent = 0;
      const timer = setInterval(() => {
        response.write('0123456789');
        if (++sent === 8) {
          clearInterval(timer);
          response.end();
        }
      }, 300);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const slow = new S3Storage({ ...settings, endpoint: `http://127.0.0.1:${port}`, timeoutMs: 1000 });
    try {
      const started = performance.now();
      const chunks: Buffer[] = [];
      for await (const chunk of (await slow.get('files/a/1')) as AsyncIterable<Buffer>) chunks.push(chunk);
      expect(Buffer.concat(chunks).toString()).toBe('0123456789'.repeat(8));
      expect(performance.now() - started).toBeGreaterThan(2000);
    } finally {
      slow.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }, 15_000);
});
