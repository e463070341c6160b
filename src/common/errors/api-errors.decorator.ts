import { applyDecorators } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import { ErrorBodyDto } from './error-body.dto';

const DESCRIPTIONS: Record<number, string> = {
  400: 'INVALID_MESSAGE: a bad parameter',
  401: 'UNAUTHORIZED: missing, bad or expired token',
  403: 'FORBIDDEN: not an admin',
  404: 'NOT_FOUND (also for what exists but is not yours)',
  409: 'SESSION_LOCKED: another admin holds the session',
  413: 'FILE_TOO_LARGE or QUOTA_EXCEEDED',
  415: 'UNSUPPORTED_FILE_TYPE (judged by content)',
  422: 'FILE_REJECTED: malware found',
  429: 'RATE_LIMITED',
  503: 'SCANNER_UNAVAILABLE or STORAGE_UNAVAILABLE',
};

// The error answers of a route, each with the one error body (OpenAPI); a status with a description
// of its own where the route's meaning differs from the usual one.
export function ApiErrors(...statuses: (number | [number, string])[]): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ...statuses.map((entry) => {
      const [status, description] = typeof entry === 'number' ? [entry, DESCRIPTIONS[entry]] : entry;
      return ApiResponse({ status, description: description ?? 'error', type: ErrorBodyDto });
    }),
  );
}
