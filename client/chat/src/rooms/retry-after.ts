// a RATE_LIMITED without retry_after is tried again after this
const RETRY_AFTER_DEFAULT_MS = 1_000;

// an error's retry_after (ms; docs/protocol.md, "Rooms"), or a second when it names none
export function retryAfterOf(error: Record<string, unknown>): number {
  return typeof error.retry_after === 'number' && error.retry_after >= 0
    ? error.retry_after
    : RETRY_AFTER_DEFAULT_MS;
}
