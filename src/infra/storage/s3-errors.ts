// How S3Storage reads the SDK's errors: the store not taking requests (StorageUnavailable), an
// object that is not there, and what readiness shows of a failure.

// Network errors the SDK passes on as they are (Node's codes), its own socket and connection
// timeouts, and a 5xx S3 still answered after the retries: the store is not taking requests.
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

export function isUnavailable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { name, code, $metadata } = error as {
    name?: string;
    code?: string;
    $metadata?: { httpStatusCode?: number };
  };
  if (name === 'TimeoutError') return true;
  if (code !== undefined && NETWORK_CODES.has(code)) return true;
  const status = $metadata?.httpStatusCode;
  return status !== undefined && status >= 500;
}

export function isMissing(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { name, $metadata } = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return name === 'NoSuchKey' || name === 'NotFound' || $metadata?.httpStatusCode === 404;
}

// Why a request failed, for readiness output: a status or an error code, never a message (which
// may quote request details).
export function describeFailure(error: unknown, timeoutMs: number): string {
  if (typeof error !== 'object' || error === null) return 'error';
  const { name, code, $metadata } = error as {
    name?: string;
    code?: string;
    $metadata?: { httpStatusCode?: number };
  };
  if (name === 'TimeoutError' || name === 'AbortError') return `no answer within ${timeoutMs} ms`;
  if ($metadata?.httpStatusCode) return `HTTP ${$metadata.httpStatusCode}`;
  if (code) return code;
  // the SDK wraps errors it does not recognise as Error instances into a message naming them
  const message = (error as { message?: unknown }).message;
  const errno = typeof message === 'string' ? /\bE[A-Z]{2,}[A-Z0-9_]*\b/.exec(message)?.[0] : undefined;
  return errno ?? name ?? 'error';
}
