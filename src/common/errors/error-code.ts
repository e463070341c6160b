// One enum of error codes for every transport (CONTRACT §2); filters map them exhaustively.
export enum ErrorCode {
  UNAUTHORIZED = 'UNAUTHORIZED',
  FORBIDDEN = 'FORBIDDEN',
  INVALID_MESSAGE = 'INVALID_MESSAGE',
  MESSAGE_TOO_LONG = 'MESSAGE_TOO_LONG',
  RATE_LIMITED = 'RATE_LIMITED',
  UNKNOWN_MODEL = 'UNKNOWN_MODEL',
  LLM_UNAVAILABLE = 'LLM_UNAVAILABLE',
  FILE_REJECTED = 'FILE_REJECTED',
  FILE_TOO_LARGE = 'FILE_TOO_LARGE',
  UNSUPPORTED_FILE_TYPE = 'UNSUPPORTED_FILE_TYPE',
  // a request body (not an upload) past the size limit, or in an encoding or charset not accepted
  PAYLOAD_TOO_LARGE = 'PAYLOAD_TOO_LARGE',
  UNSUPPORTED_MEDIA_TYPE = 'UNSUPPORTED_MEDIA_TYPE',
  QUOTA_EXCEEDED = 'QUOTA_EXCEEDED',
  SCANNER_UNAVAILABLE = 'SCANNER_UNAVAILABLE',
  // file storage (S3) did not answer in S3_TIMEOUT: the upload is not kept (docs/protocol.md,
  // "Uploads and files")
  STORAGE_UNAVAILABLE = 'STORAGE_UNAVAILABLE',
  SESSION_LOCKED = 'SESSION_LOCKED',
  SESSION_FULL = 'SESSION_FULL',
  NOT_FOUND = 'NOT_FOUND',
  NOT_IMPLEMENTED = 'NOT_IMPLEMENTED',
  INTERNAL = 'INTERNAL',
  // rooms (src/protocol/rooms.ts): the caller is not a member, is banned or muted there, or the
  // other side of a direct message blocked them
  NOT_A_MEMBER = 'NOT_A_MEMBER',
  BANNED = 'BANNED',
  MUTED = 'MUTED',
  BLOCKED = 'BLOCKED',
  // `@ai` in a room: the room's AI is off, or a reply is streaming there already
  AI_OFF = 'AI_OFF',
  AI_BUSY = 'AI_BUSY',
  // a name that must be unique is taken (a canned response's shortcut): 409
  ALREADY_EXISTS = 'ALREADY_EXISTS',
}

export const DEFAULT_MESSAGES: Record<ErrorCode, string> = {
  [ErrorCode.UNAUTHORIZED]: 'Authentication required or token expired.',
  [ErrorCode.FORBIDDEN]: 'You are not allowed to do that.',
  [ErrorCode.INVALID_MESSAGE]: 'The message is not valid.',
  [ErrorCode.MESSAGE_TOO_LONG]: 'The message is too long.',
  [ErrorCode.RATE_LIMITED]: 'Too many messages; slow down.',
  [ErrorCode.UNKNOWN_MODEL]: 'That model is not available.',
  [ErrorCode.LLM_UNAVAILABLE]: 'The assistant is unavailable right now; please try again.',
  [ErrorCode.FILE_REJECTED]: 'The file was rejected.',
  [ErrorCode.FILE_TOO_LARGE]: 'The file is too large.',
  [ErrorCode.UNSUPPORTED_FILE_TYPE]: 'This type of file is not accepted.',
  [ErrorCode.PAYLOAD_TOO_LARGE]: 'The request body is too large.',
  [ErrorCode.UNSUPPORTED_MEDIA_TYPE]: 'The request body is not in an accepted format.',
  [ErrorCode.QUOTA_EXCEEDED]: 'Your upload storage is full.',
  [ErrorCode.SCANNER_UNAVAILABLE]: 'Uploads are unavailable right now; please try again later.',
  [ErrorCode.STORAGE_UNAVAILABLE]: 'File storage is unavailable right now; please try again later.',
  [ErrorCode.SESSION_LOCKED]: 'Another admin is assisting this session.',
  [ErrorCode.SESSION_FULL]: 'This conversation has reached its maximum size; please start a new chat.',
  [ErrorCode.NOT_FOUND]: 'Not found.',
  [ErrorCode.NOT_IMPLEMENTED]: 'Not available yet.',
  [ErrorCode.INTERNAL]: 'Something went wrong on our side.',
  [ErrorCode.NOT_A_MEMBER]: 'You are not a member of this room.',
  [ErrorCode.BANNED]: 'You are banned from this room.',
  [ErrorCode.MUTED]: 'You are muted in this room.',
  [ErrorCode.BLOCKED]: 'This user does not accept your messages.',
  [ErrorCode.AI_OFF]: 'The AI is off in this room.',
  [ErrorCode.AI_BUSY]: 'The AI is answering in this room already; ask again when it is done.',
  [ErrorCode.ALREADY_EXISTS]: 'That name is taken already.',
};

export function httpStatusOf(code: ErrorCode): number {
  switch (code) {
    case ErrorCode.UNAUTHORIZED:
      return 401;
    case ErrorCode.FORBIDDEN:
      return 403;
    case ErrorCode.INVALID_MESSAGE:
      return 400;
    case ErrorCode.MESSAGE_TOO_LONG:
      return 413;
    case ErrorCode.RATE_LIMITED:
      return 429;
    case ErrorCode.UNKNOWN_MODEL:
      return 400;
    case ErrorCode.LLM_UNAVAILABLE:
      return 503;
    case ErrorCode.FILE_REJECTED:
      return 422;
    case ErrorCode.FILE_TOO_LARGE:
      return 413;
    case ErrorCode.UNSUPPORTED_FILE_TYPE:
      return 415;
    case ErrorCode.PAYLOAD_TOO_LARGE:
      return 413;
    case ErrorCode.UNSUPPORTED_MEDIA_TYPE:
      return 415;
    case ErrorCode.QUOTA_EXCEEDED:
      return 413;
    case ErrorCode.SCANNER_UNAVAILABLE:
    case ErrorCode.STORAGE_UNAVAILABLE:
      return 503;
    case ErrorCode.SESSION_LOCKED:
      return 409;
    case ErrorCode.SESSION_FULL:
      return 409;
    case ErrorCode.NOT_FOUND:
      return 404;
    case ErrorCode.NOT_IMPLEMENTED:
      return 501;
    case ErrorCode.INTERNAL:
      return 500;
    case ErrorCode.NOT_A_MEMBER:
    case ErrorCode.BANNED:
    case ErrorCode.MUTED:
    case ErrorCode.BLOCKED:
      return 403;
    case ErrorCode.AI_OFF:
    case ErrorCode.AI_BUSY:
    case ErrorCode.ALREADY_EXISTS:
      return 409;
  }
}

// The code for an HTTP status that did not come from a DomainException (Nest's HttpExceptions,
// body-parser's errors).
export function codeForHttpStatus(status: number): ErrorCode {
  if (status === 401) return ErrorCode.UNAUTHORIZED;
  if (status === 403) return ErrorCode.FORBIDDEN;
  if (status === 404) return ErrorCode.NOT_FOUND;
  if (status === 413) return ErrorCode.PAYLOAD_TOO_LARGE;
  if (status === 415) return ErrorCode.UNSUPPORTED_MEDIA_TYPE;
  if (status === 429) return ErrorCode.RATE_LIMITED;
  if (status >= 400 && status < 500) return ErrorCode.INVALID_MESSAGE;
  return ErrorCode.INTERNAL;
}

// Recoverable errors leave the socket open; the others close it. INTERNAL stays recoverable: the
// message was not acked, so the client may resend it with the same client_id.
export function isRecoverable(code: ErrorCode): boolean {
  return code !== ErrorCode.UNAUTHORIZED && code !== ErrorCode.FORBIDDEN;
}
