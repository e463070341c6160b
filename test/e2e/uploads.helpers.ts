import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { authHeaders, type RunningApp } from '../helpers/app';
import { uniqueUser, userToken } from '../helpers/tokens';
import { TestClient } from '../helpers/ws-client';

export interface UploadBody {
  file_id: string;
  file_url: string;
  name: string;
  size: number;
  mime_type: string;
  error?: { code: string; message: string };
}

// POST /chat/uploads as a browser would: multipart/form-data with the field `file`.
export async function upload(
  baseUrl: string,
  token: string,
  data: Buffer,
  name: string,
  type = 'application/octet-stream',
  field = 'file',
): Promise<{ status: number; body: UploadBody; headers: Headers }> {
  const form = new FormData();
  form.append(field, new Blob([new Uint8Array(data)], { type }), name);
  const response = await fetch(`${baseUrl}/chat/uploads`, {
    method: 'POST',
    headers: authHeaders(token),
    body: form,
  });
  return { status: response.status, body: (await response.json()) as UploadBody, headers: response.headers };
}

export async function fileLink(baseUrl: string, token: string, fileId: string): Promise<Response> {
  return fetch(`${baseUrl}/chat/files/${fileId}`, { headers: authHeaders(token), redirect: 'manual' });
}

// Every file under a directory (the local-disk storage root), recursively.
export function filesUnder(root: string): string[] {
  let found: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(root);
  } catch {
    return [];
  }
  for (const entry of entries) {
    const path = join(root, entry);
    found = statSync(path).isDirectory() ? [...found, ...filesUnder(path)] : [...found, path];
  }
  return found;
}

export const BOUNDARY = '----chatbox-test-boundary';

export interface RawUpload {
  response: Promise<{ status: number; body: string; atMs: number }>;
  // resolves once the client could write no more (the server stopped reading) or wrote it all
  written: Promise<number>;
  closed: Promise<void>;
  startedAt: number;
  // the client gives up: the connection is cut
  abort: () => void;
}

// POST /chat/uploads as a raw request of multipart/form-data (BOUNDARY) of `length` bytes, written
// by the caller as it likes (chunks, pauses, a stall).
export function uploadRequest(port: number, token: string, length: number): ClientRequest {
  return httpRequest({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: '/chat/uploads',
    headers: {
      ...authHeaders(token),
      'content-type': `multipart/form-data; boundary=${BOUNDARY}`,
      'content-length': String(length),
    },
  });
}

// A multipart upload over a raw socket whose file part is `fileBytes` long, written in chunks; with
// `stallAfter` the client sends that many file bytes and then neither ends nor sends more: only a
// server that answers mid-body (without reading the rest) replies at all.
export function rawUpload(
  port: number,
  token: string,
  options: { fileBytes: number; stallAfter?: number; contentLength?: number; fill?: number },
): RawUpload {
  const head = Buffer.from(
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n` +
      'Content-Type: text/plain\r\n\r\n',
  );
  const tail = Buffer.from(`\r\n--${BOUNDARY}--\r\n`);
  const length = options.contentLength ?? head.length + options.fileBytes + tail.length;
  const startedAt = performance.now();
  const request = uploadRequest(port, token, length);
  const closed = new Promise<void>((resolve) => request.on('close', () => resolve()));
  request.on('error', () => undefined);
  const response = new Promise<{ status: number; body: string; atMs: number }>((resolve, reject) => {
    request.on('response', (message: IncomingMessage) => {
      const atMs = performance.now() - startedAt;
      let body = '';
      message.on('data', (chunk: Buffer) => (body += chunk.toString()));
      message.on('end', () => resolve({ status: message.statusCode ?? 0, body, atMs }));
      message.on('error', reject);
    });
    request.on('error', reject);
  });
  const written = (async () => {
    let sent = 0;
    const chunk = Buffer.alloc(64 * 1024, options.fill ?? 0x61);
    const send = (data: Buffer) =>
      new Promise<boolean>((resolve) => {
        if (request.destroyed) return resolve(false);
        if (request.write(data)) return resolve(true);
        const onDrain = () => finish(true);
        const onClose = () => finish(false);
        const finish = (value: boolean) => {
          request.off('drain', onDrain);
          request.off('close', onClose);
          resolve(value);
        };
        request.once('drain', onDrain);
        request.once('close', onClose);
      });
    if (!(await send(head))) return sent;
    const target = options.stallAfter ?? options.fileBytes;
    while (sent < target) {
      const size = Math.min(chunk.length, target - sent);
      if (!(await send(chunk.subarray(0, size)))) return sent;
      sent += size;
    }
    if (options.stallAfter === undefined) {
      await send(tail);
      request.end();
    }
    return sent;
  })();
  return { response, written, closed, startedAt, abort: () => request.destroy() };
}

// A new user's socket on `server`, its session on `modelId` (chosen unless it is `defaultModelId`,
// the first model configured): the files-as-context specs ask one model after another.
export async function connectWithModel(
  server: RunningApp,
  modelId: string,
  defaultModelId: string,
): Promise<{ client: TestClient; token: string }> {
  const token = userToken(uniqueUser());
  const client = await TestClient.connect(`${server.wsUrl}?token=${token}`);
  await client.nextOfType('connection_status');
  if (modelId !== defaultModelId) await selectModel(client, modelId);
  return { client, token };
}

export async function selectModel(client: TestClient, modelId: string): Promise<void> {
  client.send({ type: 'model_select', model_id: modelId });
  await client.nextOfType('model_select');
}
