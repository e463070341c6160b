import {
  applyDecorators,
  Inject,
  Injectable,
  UseInterceptors,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import type { Response } from 'express';
import type { Observable } from 'rxjs';
import { SETTINGS, type Settings } from '../../config/settings';
import type { Principal } from '../../common/auth/principal';
import { ReadGate } from '../../common/read-gate';
import { OwnLine } from '../../common/http/user-requests';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';

// a user's reads of whole sessions that may wait for a place, beyond the one running (a waiting read
// holds its request, not the session: the bound on memory is the places)
const PER_USER_WAITING = 32;
// a response not written by then gives its place up anyway: a client that does not read the body it
// asked for cannot keep a place
const HOLD_MAX_MS = 10_000;

// The instance's places for reads of whole sessions (docs/protocol.md, "Whole-session reads"):
// SESSION_READS_AT_ONCE at once, one per user.
@Injectable()
export class SessionReads extends ReadGate {
  constructor(@Inject(SETTINGS) settings: Pick<Settings, 'sessionReadsAtOnce'>) {
    super(settings.sessionReadsAtOnce, PER_USER_WAITING);
  }
}

// A REST read of a whole session takes a place before it runs and gives it up once its response is
// written (the body is the read's largest copy) or the connection is gone.
@Injectable()
export class WholeSessionRead implements NestInterceptor {
  constructor(private readonly reads: SessionReads) {}

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    const http = context.switchToHttp();
    const principal = http.getRequest<{ principal?: Principal }>().principal;
    const response = http.getResponse<Response>();
    // listened to before the wait: a client gone while its read waited gives the place back at once
    const place: { closed: boolean; release?: () => void; timer?: NodeJS.Timeout } = { closed: false };
    response.once('close', () => {
      place.closed = true;
      clearTimeout(place.timer);
      place.release?.();
    });
    const release = await this.reads.enter(principal?.userId ?? '');
    place.release = release;
    if (place.closed) {
      release();
      // nobody to answer: the read is not made (the answer goes nowhere)
      throw new DomainException(ErrorCode.INVALID_MESSAGE, 'The request was closed before its read.');
    }
    place.timer = setTimeout(release, HOLD_MAX_MS);
    return next.handle();
  }
}

// The routes that read whole sessions: their places here instead of the user's line of requests
// (src/common/http/user-requests.ts), which a read waiting here would otherwise hold too.
export const WholeSessionReads = () => applyDecorators(UseInterceptors(WholeSessionRead), OwnLine());
