import { mkdtempSync, rmSync } from 'node:fs';
import {
  createServer as createHttpServer,
  request as httpRequest,
  type IncomingMessage,
  type Server as HttpServer,
} from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { getModelToken } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { createApp } from '../../src/bootstrap';
import { guardRequests } from '../../src/common/http/request-gate';
import { STORAGE_DRIVER, type StorageDriver } from '../../src/infra/storage/storage-driver';
import { StoredFile } from '../../src/modules/uploads/schemas/stored-file.schema';
import { UploadsCleanup } from '../../src/modules/uploads/uploads-cleanup';
import { startApp, type RunningApp } from '../helpers/app';
import { testSettings } from '../helpers/env';
import { uniqueUser, userToken } from '../helpers/tokens';
import { PDF, PNG } from './uploads.fixtures';
import { BOUNDARY, fileLink, filesUnder, upload, uploadRequest } from './uploads.helpers';

const CLAMAV_HOST = process.env.TEST_CLAMAV_HOST;
const CLAMAV_PORT = process.env.TEST_CLAMAV_PORT;
const KIB = 1024;

// One step of a hand-written upload: bytes to send, or a pause in milliseconds.
type Step = Buffer | number;

interface Part {
  field: string;
  fileName?: string;
  type?: string;
}

const partHead = (part: Part) =>
  Buffer.from(
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${part.field}"` +
      (part.fileName === undefined ? '' : `; filename="${part.fileName}"`) +
      `\r\nContent-Type: ${part.type ?? 'text/plain'}\r\n\r\n`,
  );
const partEnd = Buffer.from('\r\n');
const formEnd = Buffer.from(`--${BOUNDARY}--\r\n`);

// A multipart upload of one text file `file`, sent as the steps say (bytes, pauses), over a raw
// request so the pauses are real.
function steppedUpload(
  port: number,
  token: string,
  steps: Step[],
  options: { before?: Array<{ part: Part; data: Buffer }>; onPause?: (index: number) => Promise<void> } = {},
): Promise<{ status: number; body: string; ms: number }> {
  const before = (options.before ?? []).flatMap(({ part, data }) => [partHead(part), data, partEnd]);
  const all: Step[] = [
    ...before,
    partHead({ field: 'file', fileName: 'notes.txt' }),
    ...steps,
    partEnd,
    formEnd,
  ];
  const length = all.reduce<number>((sum, step) => sum + (typeof step === 'number' ? 0 : step.length), 0);
  const started = performance.now();
  const request = uploadRequest(port, token, length);
  const response = new Promise<{ status: number; body: string; ms: number }>((resolve, reject) => {
    request.on('response', (message: IncomingMessage) => {
      let body = '';
      message.on('data', (chunk: Buffer) => (body += chunk.toString()));
      message.on('end', () =>
        resolve({ status: message.statusCode ?? 0, body, ms: performance.now() - started }),
      );
      message.on('error', reject);
    });
    request.on('error', reject);
  });
  void (async () => {
    let pauses = 0;
    for (const step of all) {
      if (request.destroyed) return;
      if (typeof step === 'number') {
        await new Promise((resolve) => setTimeout(resolve, step));
        await options.onPause?.(pauses++);
      } else if (!request.write(step)) await new Promise((resolve) => request.once('drain', resolve));
    }
    request.end();
  })();
  return response;
}

const text = (bytes: number, fill = 'a') => Buffer.alloc(bytes, fill);

async function uploadResults(baseUrl: string): Promise<Record<string, number>> {
  const metrics = await (await fetch(`${baseUrl}/metrics`)).text();
  const counts: Record<string, number> = {};
  for (const match of metrics.matchAll(/^chatbox_uploads_total\{result="(\w+)"\} (\d+)/gm))
    counts[match[1]] = Number(match[2]);
  return counts;
}

function delta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const changed: Record<string, number> = {};
  for (const [result, count] of Object.entries(after))
    if (count !== (before[result] ?? 0)) changed[result] = count - (before[result] ?? 0);
  return changed;
}

const portOf = (app: RunningApp) => Number(new URL(app.httpUrl).port);

// Edges of uploads on local disk with the real clamd (scripts/services/clamav.sh): docs/protocol.md,
// "Uploads and files".
describe('upload edges on local disk with clamd (e2e)', () => {
  let server: RunningApp;
  let dir: string;

  beforeAll(async () => {
    if (!CLAMAV_HOST || !CLAMAV_PORT)
      throw new Error('TEST_CLAMAV_HOST/PORT unset: start clamd with scripts/services/clamav.sh up DIR');
    dir = mkdtempSync(join(tmpdir(), 'uploads-edges-'));
    server = await startApp({
      UPLOAD_DIR: dir,
      UPLOAD_MAX_BYTES: String(4 * 1024 * KIB),
      CLAMAV_HOST,
      CLAMAV_PORT,
      // far below the pauses below: only time spent waiting on clamd may count against it
      CLAMAV_TIMEOUT: '1s',
    });
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const files = () => server.app.get<Model<StoredFile>>(getModelToken(StoredFile.name));

  it('should store an upload that pauses longer than CLAMAV_TIMEOUT mid-stream', async () => {
    const token = userToken(uniqueUser());
    const before = await uploadResults(server.httpUrl);
    const result = await steppedUpload(portOf(server), token, [text(100 * KIB), 2500, text(100 * KIB)]);
    expect([result.status, result.body]).toEqual([201, expect.stringContaining('"size":204800')]);
    expect(delta(before, await uploadResults(server.httpUrl))).toEqual({ stored: 1 });
  });

  it('should answer a storage failure mid-stream as a storage failure, not clamd being down', async () => {
    const token = userToken(uniqueUser());
    const storage = server.app.get<StorageDriver>(STORAGE_DRIVER);
    const put = jest.spyOn(storage, 'put').mockImplementationOnce(async (_key, body: Readable) => {
      let seen = 0;
      for await (const chunk of body as AsyncIterable<Buffer>) {
        seen += chunk.length;
        if (seen > 300 * KIB)
          throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      }
      return { size: seen };
    });
    try {
      const before = await uploadResults(server.httpUrl);
      const result = await steppedUpload(portOf(server), token, [text(1024 * KIB)]);
      expect(result.status).toBe(500);
      expect(JSON.parse(result.body).error.code).toBe('INTERNAL');
      // the page for clamd (ChatboxScannerDown) stays quiet: clamd was fine
      expect(delta(before, await uploadResults(server.httpUrl))).toEqual({ error: 1 });
    } finally {
      put.mockRestore();
    }
  });

  it('should keep a pending upload the sweep finds old while its bytes still come', async () => {
    const owner = uniqueUser();
    const token = userToken(owner);
    const result = await steppedUpload(portOf(server), token, [text(64 * KIB), 1000, text(64 * KIB)], {
      onPause: async () => {
        // the upload started two hours ago, as far as the record's age says
        await files().updateOne(
          { owner_id: owner, status: 'pending' },
          { $set: { created_at: new Date(Date.now() - 2 * 3_600_000) } },
        );
        await server.app.get(UploadsCleanup).run();
      },
    });
    expect(result.status).toBe(201);
    const { file_id } = JSON.parse(result.body) as { file_id: string };
    expect((await fileLink(server.httpUrl, token, file_id)).status).toBe(302);
  });

  it('should refuse an upload whose record was swept meanwhile and keep none of its bytes', async () => {
    const owner = uniqueUser();
    const token = userToken(owner);
    let swept = 0;
    const result = await steppedUpload(portOf(server), token, [text(64 * KIB), 500, text(64 * KIB)], {
      onPause: async () => {
        // a sweep that finds the record untouched for hours (its instance could not write it)
        await files().updateOne(
          { owner_id: owner, status: 'pending' },
          {
            $set: {
              created_at: new Date(Date.now() - 3 * 3_600_000),
              alive_at: new Date(Date.now() - 3 * 3_600_000),
            },
          },
        );
        swept = await server.app.get(UploadsCleanup).run();
      },
    });
    expect(swept).toBeGreaterThanOrEqual(1);
    expect(result.status).toBe(500);
    expect(JSON.parse(result.body).error).toEqual({
      code: 'INTERNAL',
      message: 'The upload took too long and was dropped; please send the file again.',
    });
    expect(await files().countDocuments({ owner_id: owner })).toBe(0);
    // no bytes left behind, outside every quota
    const keys = filesUnder(dir);
    expect(keys.filter((path) => path.includes('.part-'))).toEqual([]);
    const ids = (await files().find({}, { _id: 1 }).lean()).map((file) => String(file._id));
    expect(keys.filter((path) => !ids.some((id) => path.endsWith(id)))).toEqual([]);
  });

  it('should sweep a pending record written before alive_at by its age, and spare a young one', async () => {
    // straight to the collection, as such a record was written: no alive_at at all
    const collection = files().db.collection<{ _id: string } & Record<string, unknown>>('files');
    const record = (id: string, ageMs: number) => ({
      _id: id,
      owner_id: uniqueUser(),
      session_id: null,
      name: 'old.txt',
      size: 10,
      mime_type: 'text/plain',
      storage_key: `files/legacy/${id}`,
      status: 'pending',
      source: 'upload',
      scanned: false,
      attached: false,
      shared: false,
      attached_at: null,
      created_at: new Date(Date.now() - ageMs),
    });
    const stale = `legacy-${Date.now()}-stale`;
    const young = `legacy-${Date.now()}-young`;
    await collection.insertMany([record(stale, 2 * 3_600_000), record(young, 60_000)]);
    await server.app.get(UploadsCleanup).run();
    expect(await files().countDocuments({ _id: stale })).toBe(0);
    expect(await files().countDocuments({ _id: young })).toBe(1);
    await files().deleteOne({ _id: young });
  });

  it('should send a PDF as a download, keep the sandbox, and name the charset of text', async () => {
    const token = userToken(uniqueUser());
    const stored = (await upload(server.httpUrl, token, PDF, 'report.pdf', 'application/pdf')).body;
    const location = (await fileLink(server.httpUrl, token, stored.file_id)).headers.get(
      'location',
    ) as string;
    const download = await fetch(`${server.httpUrl}${location}`);
    expect(download.status).toBe(200);
    expect(download.headers.get('content-type')).toBe('application/pdf');
    // Chrome's PDF viewer does not run in a sandboxed document: a PDF is saved, not shown there
    expect(download.headers.get('content-disposition')).toMatch(/^attachment; filename="report.pdf"/);
    expect(download.headers.get('content-security-policy')).toBe("default-src 'none'; sandbox");

    const notes = await steppedUpload(portOf(server), token, [Buffer.from('caf\u00e9 notes\n')]);
    const notesId = (JSON.parse(notes.body) as { file_id: string }).file_id;
    const notesLocation = (await fileLink(server.httpUrl, token, notesId)).headers.get('location') as string;
    const notesDownload = await fetch(`${server.httpUrl}${notesLocation}`);
    expect(notesDownload.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await notesDownload.text()).toBe('caf\u00e9 notes\n');
  });

  it('should take the part `file` after file parts of other fields', async () => {
    const token = userToken(uniqueUser());
    const result = await steppedUpload(portOf(server), token, [Buffer.from('the real one\n')], {
      before: [
        { part: { field: 'thumbnail', fileName: 'thumb.png', type: 'image/png' }, data: PNG },
        { part: { field: 'caption' }, data: Buffer.from('a caption') },
        { part: { field: 'preview', fileName: 'preview.txt' }, data: Buffer.from('not this one') },
      ],
    });
    expect(result.status).toBe(201);
    expect(JSON.parse(result.body)).toMatchObject({ size: 13, mime_type: 'text/plain', name: 'notes.txt' });
  });

  // Found by the HTTP hostile-client black-box audit in session 43 (1 of 1 form, 3 of 3 runs): busboy
  // reads 20 parts, and a `file` after 20 text fields was refused as missing though it was there
  it('should name the parts limit when `file` comes after it, and take `file` as the 20th part', async () => {
    const token = userToken(uniqueUser());
    const fields = (count: number) =>
      Array.from({ length: count }, (_, index) => ({
        part: { field: `meta${index}` },
        data: Buffer.from('x'),
      }));
    const late = await steppedUpload(portOf(server), token, [Buffer.from('hello\n')], { before: fields(20) });
    expect([late.status, JSON.parse(late.body).error]).toEqual([
      400,
      {
        code: 'INVALID_MESSAGE',
        message: 'The multipart field "file" is not among the first 20 parts of the form: no more are read.',
      },
    ]);
    const last = await steppedUpload(portOf(server), token, [Buffer.from('hello\n')], { before: fields(19) });
    expect(last.status).toBe(201);
  });
});

// The same headers through S3's presigned URLs (MinIO, scripts/services/minio.sh): the URL names the
// type and disposition the store answers with.
describe('upload edges on S3 (MinIO) (e2e)', () => {
  let server: RunningApp;

  beforeAll(async () => {
    const endpoint = process.env.TEST_S3_ENDPOINT;
    const accessKeyId = process.env.TEST_S3_ACCESS_KEY_ID;
    const secretAccessKey = process.env.TEST_S3_SECRET_ACCESS_KEY;
    if (!endpoint || !accessKeyId || !secretAccessKey)
      throw new Error('TEST_S3_* unset: start MinIO with scripts/services/minio.sh up DIR');
    server = await startApp({
      S3_BUCKET: `chatbox-edges-${Date.now().toString(36)}`,
      S3_ENDPOINT: endpoint,
      S3_ACCESS_KEY_ID: accessKeyId,
      S3_SECRET_ACCESS_KEY: secretAccessKey,
      S3_FORCE_PATH_STYLE: 'true',
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('should serve text with its charset and a PDF as a download', async () => {
    const token = userToken(uniqueUser());
    const download = async (data: Buffer, name: string, type: string) => {
      const stored = (await upload(server.httpUrl, token, data, name, type)).body;
      const location = (await fileLink(server.httpUrl, token, stored.file_id)).headers.get(
        'location',
      ) as string;
      return fetch(location);
    };
    const notes = await download(Buffer.from('caf\u00e9 notes\n'), 'notes.txt', 'text/plain');
    expect(notes.status).toBe(200);
    expect(notes.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await notes.text()).toBe('caf\u00e9 notes\n');
    const pdf = await download(PDF, 'report.pdf', 'application/pdf');
    expect(pdf.headers.get('content-type')).toBe('application/pdf');
    expect(pdf.headers.get('content-disposition')).toMatch(/^attachment; filename="report.pdf"/);
  });
});

// A clamd stand-in: PONG to PING, and to INSTREAM the answer clamd gives past its StreamMaxLength.
function sizeLimitedClamd(): Promise<Server> {
  const server = createServer((socket: Socket) => {
    let seen = '';
    socket.on('data', (data: Buffer) => {
      seen += data.toString('latin1');
      if (seen.startsWith('zPING\0')) socket.end('PONG\0');
      else if (seen.startsWith('zINSTREAM\0') && seen.length > 64 * KIB)
        socket.end('INSTREAM size limit exceeded. ERROR\0');
    });
    socket.on('error', () => undefined);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe('upload edges with a clamd whose StreamMaxLength is below UPLOAD_MAX_BYTES (e2e)', () => {
  let server: RunningApp;
  let clamd: Server;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'uploads-edges-limit-'));
    clamd = await sizeLimitedClamd();
    server = await startApp({
      UPLOAD_DIR: dir,
      CLAMAV_HOST: '127.0.0.1',
      CLAMAV_PORT: String((clamd.address() as AddressInfo).port),
    });
  });
  afterAll(async () => {
    await server?.close();
    await new Promise((resolve) => clamd?.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it("should answer clamd's size limit with 413, not scanner down", async () => {
    const before = await uploadResults(server.httpUrl);
    const result = await steppedUpload(portOf(server), userToken(uniqueUser()), [text(512 * KIB)]);
    expect(result.status).toBe(413);
    expect(JSON.parse(result.body).error).toEqual({
      code: 'FILE_TOO_LARGE',
      message: 'The file is larger than the malware scanner accepts.',
    });
    expect(delta(before, await uploadResults(server.httpUrl))).toEqual({ too_large: 1 });
    expect(filesUnder(dir)).toEqual([]);
  });
});

// Node 24 cuts any request still arriving after server.requestTimeout (300 s): a 25 MiB upload
// slower than ~87 KB/s. docs/protocol.md, "Uploads and files".
describe('request timeouts of the HTTP server (e2e)', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'uploads-edges-timeout-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // the app as startApp makes it, with Node's connection check run often so lowered timeouts bite
  const start = async (adjust: (server: HttpServer) => void) => {
    const app = await createApp(testSettings({ UPLOAD_DIR: dir }));
    const http = app.getHttpServer() as HttpServer;
    // read by Node when the server starts listening (not in @types/node)
    (http as HttpServer & { connectionsCheckingInterval: number }).connectionsCheckingInterval = 100;
    adjust(http);
    await app.listen(0, '127.0.0.1');
    return { app, port: (http.address() as AddressInfo).port };
  };

  it('should not cut an upload by its total time, and keep the headers timeout', async () => {
    const app = await createApp(testSettings({ UPLOAD_DIR: dir }));
    const http = app.getHttpServer() as HttpServer;
    expect(http.requestTimeout).toBe(0);
    expect(http.headersTimeout).toBe(60_000);
    await app.close();
  });

  it('should store an upload whose bytes keep coming for longer than the lowered timeouts', async () => {
    // headers must still come within a second; the body may take as long as its bytes keep coming
    const { app, port } = await start((http) => (http.headersTimeout = 1000));
    try {
      const steps: Step[] = [];
      for (let index = 0; index < 12; index++) steps.push(text(8 * KIB), 250);
      const result = await steppedUpload(port, userToken(uniqueUser()), steps);
      expect(result.ms).toBeGreaterThan(2500);
      expect(result.status).toBe(201);
    } finally {
      await app.close();
    }
  });

  // the control: the same upload against a finite requestTimeout of a second is cut, so the test
  // above would see the cut
  it('should be cut by a finite requestTimeout, as the slow upload above would have been', async () => {
    const { app, port } = await start((http) => {
      http.headersTimeout = 1000;
      http.requestTimeout = 1000;
    });
    try {
      const steps: Step[] = [];
      for (let index = 0; index < 12; index++) steps.push(text(8 * KIB), 250);
      const result = await steppedUpload(port, userToken(uniqueUser()), steps).catch(() => ({
        status: 0,
      }));
      expect([0, 408]).toContain(result.status);
    } finally {
      await app.close();
    }
  });

  // every other request keeps a deadline for its whole body (Node's 300 s before; lowered here)
  it('should still cut a request other than an upload whose body takes past the deadline', async () => {
    const http = createHttpServer((request, response) => {
      request.resume();
      request.on('end', () => response.end('read'));
    });
    guardRequests(http, { deadlineMs: 500 });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const port = (http.address() as AddressInfo).port;
    const slowPost = (path: string) =>
      new Promise<number>((resolve) => {
        const request = httpRequest({
          host: '127.0.0.1',
          port,
          method: 'POST',
          path,
          headers: { 'content-type': 'application/json', 'content-length': '8' },
        });
        request.on('response', (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        });
        request.on('error', () => resolve(0));
        let sent = 0;
        const timer = setInterval(() => {
          if (request.destroyed) return clearInterval(timer);
          request.write('x');
          if (++sent === 8) {
            clearInterval(timer);
            request.end();
          }
        }, 150);
      });
    try {
      expect([0, 408]).toContain(await slowPost('/chat/sessions'));
      expect(await slowPost('/chat/uploads')).toBe(200);
    } finally {
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    }
  });
});
