import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Response } from 'express';
import { DomainException } from './domain.exception';
import { DEFAULT_MESSAGES, ErrorCode, httpStatusOf } from './error-code';

// HTTP transport: domain codes → status + {error:{code,message}}; never leaks internals.
@Catch()
export class HttpExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('http');

  catch(exception: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    let status = 500;
    let code = ErrorCode.INTERNAL;
    let message = DEFAULT_MESSAGES[ErrorCode.INTERNAL];
    if (exception instanceof DomainException) {
      code = exception.code;
      status = httpStatusOf(code);
      message = exception.message;
      if (exception.details.retryAfterMs !== undefined) {
        response.setHeader('Retry-After', Math.ceil(exception.details.retryAfterMs / 1000));
      }
    } else if (exception instanceof HttpException) {
      status = exception.getStatus();
      code = codeForStatus(status);
      const body = exception.getResponse();
      message =
        typeof body === 'object' && body !== null && 'message' in body
          ? [body.message].flat().join('; ')
          : exception.message;
    } else {
      this.logger.error({ err: exception }, 'unhandled error');
    }
    response.status(status).json({ error: { code, message } });
  }
}

function codeForStatus(status: number): ErrorCode {
  if (status === 401) return ErrorCode.UNAUTHORIZED;
  if (status === 403) return ErrorCode.FORBIDDEN;
  if (status === 404) return ErrorCode.NOT_FOUND;
  if (status === 429) return ErrorCode.RATE_LIMITED;
  if (status >= 400 && status < 500) return ErrorCode.INVALID_MESSAGE;
  return ErrorCode.INTERNAL;
}
