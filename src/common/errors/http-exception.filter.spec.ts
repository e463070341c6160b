import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { ArgumentsHost } from '@nestjs/common';
import {
  BadRequestException,
  Controller,
  Get,
  HttpException,
  Logger,
  Module,
  NotFoundException,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MongoServerSelectionError } from 'mongodb';
import { Logger as PinoLogger, LoggerModule } from 'nestjs-pino';
import type { Options } from 'pino-http';
import { loggerParams } from '../logging/logging';
import { DomainException } from './domain.exception';
import { codeForHttpStatus, ErrorCode, httpStatusOf } from './error-code';
import { HttpExceptionFilter } from './http-exception.filter';
import { STORE_AWAY_MESSAGE } from './store-outage';

// the driver's server selection timing out, with the topology it found (no server to talk to)
function selectionTimeout(message: string): MongoServerSelectionError {
  return new MongoServerSelectionError(message, { error: null } as never);
}

// The filter's answer to one exception, and whether it logged an unhandled error.
function answer(
  exception: unknown,
  request: { method: string; originalUrl: string } = { method: 'GET', originalUrl: '/' },
) {
  const sent: { status?: number; body?: unknown; headers: Record<string, unknown> } = { headers: {} };
  const response = {
    status(code: number) {
      sent.status = code;
      return this;
    },
    json(body: unknown) {
      sent.body = body;
    },
    setHeader(name: string, value: unknown) {
      sent.headers[name] = value;
    },
  };
  const host = {
    switchToHttp: () => ({ getResponse: () => response, getRequest: () => request }),
  } as unknown as ArgumentsHost;
  const logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
  try {
    new HttpExceptionFilter().catch(exception, host);
    return { ...sent, logged: logged.mock.calls.length > 0 };
  } finally {
    logged.mockRestore();
  }
}

// body-parser's error for a JSON body past the limit, as it reaches Nest's express error handler
function tooLarge(): Error {
  return Object.assign(new Error('request entity too large'), {
    type: 'entity.too.large',
    status: 413,
    statusCode: 413,
    expose: true,
    limit: 65536,
  });
}

describe(HttpExceptionFilter.name, () => {
  it('should answer body-parser errors with their 4xx and no unhandled-error log', () => {
    expect(answer(tooLarge())).toEqual({
      status: 413,
      body: { error: { code: 'PAYLOAD_TOO_LARGE', message: 'The request body is too large.' } },
      headers: {},
      logged: false,
    });
    const charset = Object.assign(new Error('unsupported charset "IBM037"'), {
      type: 'charset.unsupported',
      status: 415,
      expose: true,
    });
    expect(answer(charset)).toMatchObject({ status: 415, logged: false });
  });

  it('should answer a store that does not answer with 503, INTERNAL and a Retry-After, not as an unhandled error', () => {
    expect(answer(selectionTimeout('Server selection timed out after 5000 ms'))).toEqual({
      status: 503,
      body: { error: { code: 'INTERNAL', message: STORE_AWAY_MESSAGE } },
      headers: { 'Retry-After': 2 },
      logged: false,
    });
  });

  it('should keep domain codes, HTTP exceptions and the 500 for anything else', () => {
    expect(answer(new DomainException(ErrorCode.RATE_LIMITED, 'slow', { retryAfterMs: 1500 }))).toEqual({
      status: 429,
      body: { error: { code: 'RATE_LIMITED', message: 'slow' } },
      headers: { 'Retry-After': 2 },
      logged: false,
    });
    expect(answer(new BadRequestException(['a must be a string', 'b is extra']))).toMatchObject({
      status: 400,
      body: { error: { code: 'INVALID_MESSAGE', message: 'a must be a string; b is extra' } },
    });
    expect(answer(new HttpException('too big', 413))).toMatchObject({
      status: 413,
      body: { error: { code: 'PAYLOAD_TOO_LARGE' } },
    });
    expect(answer(new NotFoundException('Session not found.'))).toMatchObject({
      status: 404,
      body: { error: { code: 'NOT_FOUND', message: 'Session not found.' } },
    });
    expect(answer(new Error('database on fire'))).toEqual({
      status: 500,
      body: { error: { code: 'INTERNAL', message: 'Something went wrong on our side.' } },
      headers: {},
      logged: true,
    });
  });
});

// The HTTP hostile-client audit of session 43: a 404 echoed the whole URL, a socket's `?token=` too
// (5 of 5 paths, 3 of 3 runs)
describe(`${HttpExceptionFilter.name} on an unrouted request`, () => {
  it("should name the method and path of Nest's 404, never the query string", () => {
    const token = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl';
    for (const [method, url, said] of [
      ['GET', `/chat/ws?token=${token}`, 'Cannot GET /chat/ws'],
      ['POST', `/api/v1/chat/room?a=1&token=${token}`, 'Cannot POST /api/v1/chat/room'],
      ['GET', '/chat/nope', 'Cannot GET /chat/nope'],
      ['GET', '/chat/nope?', 'Cannot GET /chat/nope'],
    ]) {
      const notFound = new NotFoundException(`Cannot ${method} ${url}`);
      expect(answer(notFound, { method, originalUrl: url }).body).toEqual({
        error: { code: 'NOT_FOUND', message: said },
      });
    }
  });
});

describe(codeForHttpStatus.name, () => {
  it('should give every 4xx a code of that status where one exists, and INTERNAL to the rest', () => {
    for (const status of [401, 403, 404, 413, 415, 429, 400])
      expect(httpStatusOf(codeForHttpStatus(status))).toBe(status);
    expect(codeForHttpStatus(418)).toBe(ErrorCode.INVALID_MESSAGE);
    expect(codeForHttpStatus(500)).toBe(ErrorCode.INTERNAL);
    expect(codeForHttpStatus(302)).toBe(ErrorCode.INTERNAL);
  });
});

// A Mongo duplicate-key error as the driver throws it: the documents ride along in its fields
function duplicateKey(): Error {
  return Object.assign(new Error('E11000 duplicate key error collection: chatbox.users'), {
    name: 'MongoServerError',
    code: 11000,
    keyValue: { email: 'private-person@example.com' },
    writeErrors: [{ op: { text: 'private message text' } }],
    cause: Object.assign(new Error('private cause'), { $metadata: { requestId: 'private-request' } }),
  });
}

@Controller()
class FailingController {
  @Get('fail')
  fail(): never {
    throw duplicateKey();
  }
}

describe(`${HttpExceptionFilter.name} log`, () => {
  // the filter logged `{ err: exception }`, which pino's error serializer wrote out field by field
  it("should log an unhandled error's type, message and stack only, through the app's logger", async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    @Module({
      imports: [LoggerModule.forRoot({ pinoHttp: [loggerParams('info').pinoHttp as Options, sink] })],
      controllers: [FailingController],
    })
    class FailingModule {}
    const app = await NestFactory.create(FailingModule, { bufferLogs: true });
    app.useLogger(app.get(PinoLogger));
    app.useGlobalFilters(new HttpExceptionFilter());
    await app.listen(0, '127.0.0.1');
    try {
      const { port } = app.getHttpServer().address() as AddressInfo;
      const response = await fetch(`http://127.0.0.1:${port}/fail`);
      expect(response.status).toBe(500);
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      await app.close();
    }
    const unhandled = lines.map((line) => JSON.parse(line)).find((line) => line.msg === 'unhandled error');
    expect(Object.keys(unhandled.err).sort()).toEqual(['message', 'stack', 'type']);
    expect(unhandled.err.message).toBe('E11000 duplicate key error collection: chatbox.users');
    expect(lines.join('')).not.toContain('private');
  });
});
