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
// A link is reused for REUSE_MS at most, and never within SIGN_MARGIN_MS of its expires_at: with a
// SIGNED_URL_TTL under the reuse window, a cached link was handed out after it expired (403).
const cache = new Map<string, { url: Promise<string>; until: number }>();
const REUSE_MS = 30_000;
const SIGN_MARGIN_MS = 5_000;

export function signedFileUrl(
  url: string,
  token: string,
  options: { fresh?: boolean } = {},
): Promise<string> {
  const cached = cache.get(url);
  if (!options.fresh && cached && cached.until > Date.now()) return cached.url;
  const target = new URL(url, apiBase());
  target.searchParams.set('redirect', 'false');
  const entry = { url: Promise.resolve(''), until: Date.now() + REUSE_MS };
  entry.url = fetch(target, {
    headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
  }).then(async (response) => {
    const body: unknown = await response.json().catch(() => undefined);
    if (!response.ok || !isRecord(body) || typeof body.url !== 'string')
      throw new Error(codeOfStatus(response.status));
    const expires = typeof body.expires_at === 'string' ? Date.parse(body.expires_at) : NaN;
    if (Number.isFinite(expires)) entry.until = Math.min(entry.until, expires - SIGN_MARGIN_MS);
    return new URL(body.url, apiBase()).toString();
  });
  entry.url.catch(() => cache.get(url) === entry && cache.delete(url));
  cache.set(url, entry);
  return entry.url;
}

// A player's signed source (docs/protocol.md, "Uploads and files"). An <audio> signs its URL once;
// after SIGNED_URL_TTL a play or a seek asks with the expired link (403) and the element errors. It
// is re-signed then, once per failure: a fresh link that fails before it played anything is not
// re-signed again (a file that is gone would loop).
export class SignedMediaSource {
  private retried = false;

  constructor(
    private readonly url: string,
    private readonly token: string,
    private readonly show: (signed: string) => void,
  ) {}

  async start(): Promise<void> {
    this.show(await signedFileUrl(this.url, this.token));
  }

  // the element loaded from its link: a later failure is a new one
  played(): void {
    this.retried = false;
  }

  // the element errored: true when a fresh link was shown
  async failed(): Promise<boolean> {
    if (this.retried) return false;
    this.retried = true;
    this.show(await signedFileUrl(this.url, this.token, { fresh: true }));
    return true;
  }
}
