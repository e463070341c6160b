import { apiBase, errorCodeOf } from '../../shared/api';
import { codeOfStatus } from '../../shared/errors';
import { isRecord } from '../../shared/protocol';

export interface UploadedFile {
  file_id: string;
  file_url: string;
  name: string;
  size: number;
  mime_type: string;
}

// POST /chat/uploads (CONTRACT §3) with XHR, since fetch reports no upload progress. Rejects with
// an Error whose message is the error code (FILE_TOO_LARGE, FILE_TYPE, FILE_REJECTED, …).
export function uploadFile(
  file: File,
  token: string,
  onProgress: (fraction: number) => void,
): Promise<UploadedFile> {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open('POST', new URL('uploads', apiBase()).toString());
    request.setRequestHeader('authorization', `Bearer ${token}`);
    request.responseType = 'json';
    request.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    };
    request.onload = () => {
      const body: unknown = request.response;
      if (request.status >= 200 && request.status < 300 && isUploaded(body)) {
        onProgress(1);
        resolve(body);
        return;
      }
      // the status says more than a generic body code for the upload refusals of §3
      const byStatus = codeOfStatus(request.status);
      reject(
        new Error([413, 415, 422].includes(request.status) ? byStatus : (errorCodeOf(body) ?? byStatus)),
      );
    };
    request.onerror = () => reject(new Error('NETWORK'));
    const form = new FormData();
    form.append('file', file, file.name);
    request.send(form);
  });
}

function isUploaded(body: unknown): body is UploadedFile {
  return isRecord(body) && typeof body.file_id === 'string';
}

// Our files sit behind the bearer token, which an <img> or <audio> cannot send: ask
// GET /chat/files/:id?redirect=false for a freshly signed URL (made now, short-lived) and use that.
const cache = new Map<string, { url: Promise<string>; until: number }>();
const REUSE_MS = 30_000;

export function signedFileUrl(url: string, token: string): Promise<string> {
  const cached = cache.get(url);
  if (cached && cached.until > Date.now()) return cached.url;
  const target = new URL(url, apiBase());
  target.searchParams.set('redirect', 'false');
  const signed = fetch(target, {
    headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
  }).then(async (response) => {
    const body: unknown = await response.json().catch(() => undefined);
    if (!response.ok || !isRecord(body) || typeof body.url !== 'string')
      throw new Error(codeOfStatus(response.status));
    return new URL(body.url, apiBase()).toString();
  });
  signed.catch(() => cache.delete(url));
  cache.set(url, { url: signed, until: Date.now() + REUSE_MS });
  return signed;
}
