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

// Files are served behind the bearer token (GET /chat/files/:id redirects to a signed URL), which an
// <img> or <audio> cannot send: fetch once with the header and show a blob URL.
const cache = new Map<string, Promise<string>>();

export function fileObjectUrl(url: string, token: string): Promise<string> {
  let entry = cache.get(url);
  if (!entry) {
    entry = fetch(new URL(url, apiBase()), { headers: { authorization: `Bearer ${token}` } }).then(
      async (response) => {
        if (!response.ok) throw new Error(codeOfStatus(response.status));
        return URL.createObjectURL(await response.blob());
      },
    );
    entry.catch(() => cache.delete(url));
    cache.set(url, entry);
  }
  return entry;
}
