import { DEFAULT_MESSAGES, ErrorCode, isRecoverable } from './error-code';

// Services throw this; transports turn it into an HTTP status or a WS error frame.
export class DomainException extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string = DEFAULT_MESSAGES[code],
    readonly details: { retryAfterMs?: number; recoverable?: boolean } = {},
  ) {
    super(message);
  }

  get recoverable(): boolean {
    return this.details.recoverable ?? isRecoverable(this.code);
  }
}
