import {
  Inject,
  Injectable,
  SetMetadata,
  type CallHandler,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request } from 'express';
import { finalize, from, lastValueFrom, type Observable } from 'rxjs';
import { SETTINGS, type Settings } from '../../config/settings';
import { whenWritten } from './response-written';
import type { Principal } from '../auth/principal';
import { ConcurrencyLimit } from '../concurrency-limit';
import { DomainException } from '../errors/domain.exception';
import { ErrorCode } from '../errors/error-code';

// a user's REST requests that may wait for a place on an instance, beyond those running
export const REQUESTS_WAITING_PER_USER = 64;

// Routes with a line of their own per user (whole-session reads: one at a time per user, 32 waiting):
// a request waiting there would hold a place here too, and eight of them would stop the user's
// every other request.
const OWN_LINE = 'chatbox:ownLine';
export const OwnLine = () => SetMetadata(OWN_LINE, true);

// A user's REST requests on an instance (docs/protocol.md, "A user's requests at once"): at most
// REQUESTS_AT_ONCE_PER_USER run at once, later ones wait in order, and past
// REQUESTS_WAITING_PER_USER waiting the next is answered 429 RATE_LIMITED (Retry-After: 1). Every
// request costs the store something (a room list is a dozen commands): one user firing thousands at
// once held as many store commands in flight and slowed every other user. Each request is bounded
// in size already; this bounds how many of them one user runs. Requests without a user (public
// routes, the probes) pass. A request whose client left while it waited is not run.
//
// A request with a body takes its place before the body is read (`enter`, from the middleware in
// src/common/http/request-body.ts): the JSON parser, ahead of every interceptor, read 8,000 partial
// bodies of one token at once (+500 MB) before this line saw one of them. A request without one
// takes its place here, once routed, so the whole-session reads (known only by their route) keep
// their own line. Either keeps its place until its answer is written or its connection gone
// (whenWritten; RESPONSE_IDLE_TIMEOUT closes a connection whose client reads none of its answer):
// an answer not yet written is memory of this process. Until the third black-box audit the place
// went back when the handler was done, and one user's pipelined reads of long room pages left
// unread held 300–520 MB of answers (RSS 188 → 895 MB in 43 s) for as long as the connections stayed.
@Injectable()
export class UserRequests implements NestInterceptor {
  private readonly lines = new Map<string, ConcurrencyLimit>();
  // requests that took their place before their body: how each gives it back
  private readonly entered = new WeakMap<IncomingMessage, () => void>();

  constructor(
    @Inject(SETTINGS)
    private readonly settings: Pick<Settings, 'requestsAtOncePerUser' | 'responseIdleTimeoutMs'>,
    private readonly reflector: Reflector,
  ) {}

  // users with a request running or waiting on this instance
  get users(): number {
    return this.lines.size;
  }

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const request = context.switchToHttp().getRequest<Request & { principal?: Principal }>();
    const ownLine = this.reflector.getAllAndOverride<boolean>(OWN_LINE, [
      context.getHandler(),
      context.getClass(),
    ]);
    const response = context.switchToHttp().getResponse<ServerResponse>();
    // in line since before its body: its place is given back once its answer is written, or at once
    // for a route with a line of its own
    const release = this.entered.get(request);
    if (release) {
      if (!ownLine) return next.handle().pipe(finalize(() => void this.written(response).then(release)));
      release();
      return next.handle();
    }
    const userId = request.principal?.userId;
    if (userId === undefined || ownLine) return next.handle();
    return from(
      new Promise<unknown>((answer, fail) => {
        this.run(
          userId,
          async () => {
            try {
              answer(await lastValueFrom(next.handle(), { defaultValue: undefined }));
            } catch (error) {
              fail(error);
            }
            // the answer (or its error) is written after this: the place is held until then
            await this.written(response);
          },
          () => Boolean(request.socket?.destroyed),
        ).catch(fail);
      }),
    );
  }

  private written(response: ServerResponse): Promise<void> {
    return whenWritten(response, this.settings.responseIdleTimeoutMs);
  }

  // Takes a place in the user's line for a request whose body is not read yet: resolves once it has
  // one, which it keeps until its answer is written (intercept) or its response is closed (its
  // connection gone, or answered with no handler run). Rejects RATE_LIMITED when the line is full, and INVALID_MESSAGE when the
  // client left while it waited.
  enter(userId: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
    return new Promise<void>((admitted, refused) => {
      const hold = () =>
        new Promise<void>((done) => {
          const release = () => {
            if (this.entered.get(request) !== release) return;
            this.entered.delete(request);
            response.off('close', release);
            done();
          };
          this.entered.set(request, release);
          response.once('close', release);
          admitted();
        });
      this.run(userId, hold, () => request.socket.destroyed).catch(refused);
    });
  }

  // Runs `task` in the user's line: at once while the user has a place free, after the requests
  // ahead of it otherwise; refused (RATE_LIMITED) when the line is full. `gone`: the client left (its
  // turn comes to nothing: the task is not run).
  async run<T>(userId: string, task: () => Promise<T>, gone: () => boolean = () => false): Promise<T> {
    let line = this.lines.get(userId);
    if (!line) {
      line = new ConcurrencyLimit(this.settings.requestsAtOncePerUser, REQUESTS_WAITING_PER_USER);
      this.lines.set(userId, line);
    }
    try {
      const done = await line.run(() => {
        if (gone())
          throw new DomainException(ErrorCode.INVALID_MESSAGE, 'The request was closed before it ran.');
        return task();
      });
      if (!done)
        throw new DomainException(ErrorCode.RATE_LIMITED, 'Too many requests at once; retry shortly.', {
          retryAfterMs: 1000,
        });
      return done.value;
    } finally {
      if (line.active === 0 && line.queued === 0 && this.lines.get(userId) === line)
        this.lines.delete(userId);
    }
  }
}
