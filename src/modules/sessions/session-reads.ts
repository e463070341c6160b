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
import { finalize, type Observable } from 'rxjs';
import { SETTINGS, type Settings } from '../../config/settings';
import type { Principal } from '../../common/auth/principal';
import { ReadGate } from '../../common/read-gate';
import { whenWritten } from '../../common/http/response-written';
import { OwnLine } from '../../common/http/user-requests';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';

// a user's reads of whole sessions that may wait for a place, beyond the one running (a waiting read
// holds its request, not the session: the bound on memory is the places)
const PER_USER_WAITING = 32;
// a read whose answer is not on its connection by then (queued behind another answer of a pipelined
// connection, which may wait for this line) gives its place up: no deadlock between the lines
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
// written (the body is the read's largest copy: handed to the kernel, 'finish') or the connection is
// gone; RESPONSE_IDLE_TIMEOUT closes the connection of a client that takes none of it
// (src/common/http/response-written.ts). Until the third black-box audit the place went back 10 s
// after the read whatever became of its answer: a user reading a 9.8 MB session over six
// connections and reading nothing held one more unsent answer every 10 s (external memory 21.8 →
// 63.8 MB, held until the client closed).
@Injectable()
export class WholeSessionRead implements NestInterceptor {
  constructor(
    private readonly reads: SessionReads,
    @Inject(SETTINGS) private readonly settings: Pick<Settings, 'responseIdleTimeoutMs'>,
  ) {}

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    const http = context.switchToHttp();
    const principal = http.getRequest<{ principal?: Principal }>().principal;
    const response = http.getResponse<Response>();
    // listened to before the wait: a client gone while its read waited gives the place back at once
    const place: { closed: boolean; release?: () => void; timer?: NodeJS.Timeout } = { closed: false };
    const done = () => {
      place.closed = true;
      clearTimeout(place.timer);
      place.release?.();
    };
    response.once('close', done);
    response.once('finish', done);
    const release = await this.reads.enter(principal?.userId ?? '');
    place.release = release;
    if (place.closed) {
      release();
      // nobody to answer: the read is not made (the answer goes nowhere)
      throw new DomainException(ErrorCode.INVALID_MESSAGE, 'The request was closed before its read.');
    }
    place.timer = setTimeout(() => {
      if (!response.socket) release();
    }, HOLD_MAX_MS);
    return next
      .handle()
      .pipe(finalize(() => void whenWritten(response, this.settings.responseIdleTimeoutMs)));
  }
}

// The routes that read whole sessions: their places here instead of the user's line of requests
// (src/common/http/user-requests.ts), which a read waiting here would otherwise hold too.
export const WholeSessionReads = () => applyDecorators(UseInterceptors(WholeSessionRead), OwnLine());
