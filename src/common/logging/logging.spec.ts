import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import fc from 'fast-check';
import pinoHttp, { type HttpLogger, type Options } from 'pino-http';
import { describeError, loggerParams, REDACTED_PARAMETERS, redactUrl } from './logging';

describe('loggerParams', () => {
  let server: Server;
  let lines: string[];
  let log: HttpLogger;
  // how the server answers; a redirect unless a test says otherwise
  let answer: (response: ServerResponse) => void;

  beforeEach(async () => {
    lines = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const options = loggerParams('info').pinoHttp as Options;
    log = pinoHttp(options, sink);
    answer = (response) => {
      // a file read answers with a signed link (local disk or S3 presigned)
      // as Express's res.redirect sets it
      response.setHeader(
        'location',
        '/chat/blob?key=f1&name=medical.txt&expires=99&signature=secret-signature',
      );
      response.statusCode = 302;
      response.end();
    };
    server = createServer((request, response) => {
      log(request, response);
      answer(response);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterEach(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('should keep tokens, authorization and the signed link of a redirect out of the request log', async () => {
    const { port } = server.address() as AddressInfo;
    await fetch(`http://127.0.0.1:${port}/chat/files/f1?token=secret-token`, {
      headers: { authorization: 'Bearer secret-bearer' },
      redirect: 'manual',
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const logged = lines.join('');
    expect(logged).toContain('request completed');
    expect(logged).toContain('"statusCode":302');
    for (const secret of ['secret-signature', 'secret-token', 'secret-bearer'])
      expect(logged).not.toContain(secret);
    expect(logged).toContain('/chat/files/f1?token=[REDACTED]');
    expect(logged).toContain('/chat/blob?key=f1&name=[REDACTED]&expires=99&signature=[REDACTED]');
    expect(logged).not.toContain('medical');
  });

  // GET /chat/blob answers a local-disk download with the file's name in Content-Disposition
  // (src/modules/uploads/files.service.ts): "request completed" logged it on every download
  it("should keep a download's file name and other response headers out of the request log", async () => {
    // set one by one, as Express's res.set does (writeHead's own headers are not the response's)
    answer = (response) => {
      response.setHeader('Content-Type', 'text/plain');
      response.setHeader(
        'Content-Disposition',
        `inline; filename="medical-report.txt"; filename*=UTF-8''medical-report.txt`,
      );
      response.setHeader('Accept-Ranges', 'bytes');
      response.setHeader('Content-Length', '2');
      response.setHeader('X-Upstream-Note', 'medical');
      response.statusCode = 200;
      response.end('ok');
    };
    const { port } = server.address() as AddressInfo;
    await fetch(`http://127.0.0.1:${port}/chat/blob?key=f1&name=medical-report.txt&expires=99&signature=s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const completed = lines.map((line) => JSON.parse(line)).find((line) => line.msg === 'request completed');
    expect(completed.res).toEqual({
      statusCode: 200,
      headers: { 'content-type': 'text/plain', 'content-length': '2' },
    });
    expect(lines.join('')).not.toContain('medical');
  });

  // a Mongo duplicate-key error carries the documents (keyValue, writeErrors), an AWS SDK error its
  // $metadata, and either a cause: the error serializer logged every enumerable field of them
  it("should log only an error's type, message and stack, at every site that logs an err", () => {
    const cause = Object.assign(new Error('cause says private-cause'), { secret: 'private-cause-field' });
    const error = Object.assign(new Error('E11000 duplicate key error', { cause }), {
      name: 'MongoServerError',
      code: 11000,
      keyValue: { email: 'private-key-value@example.com' },
      writeErrors: [{ op: { text: 'private message text' } }],
      $metadata: { requestId: 'private-request-id' },
    });
    log.logger.error({ err: error }, 'unhandled error');
    const logged = JSON.parse(lines[0]) as { err: Record<string, unknown> };
    expect(logged.err).toEqual({
      type: 'Error',
      message: 'E11000 duplicate key error',
      stack: error.stack,
    });
    expect(lines[0]).not.toContain('private');
    // an error-like object that is no Error, and a plain value
    log.logger.error({ err: { message: 'failed', keyValue: { email: 'private' } } }, 'error-like');
    expect(JSON.parse(lines[1]).err).toEqual({ type: 'Object', message: 'failed' });
    log.logger.error({ err: 'timeout' }, 'not an error');
    expect(JSON.parse(lines[2]).err).toBe('timeout');
    expect(lines.join('')).not.toContain('private');
  });

  it("should keep a search's words out of the request log", async () => {
    const { port } = server.address() as AddressInfo;
    await fetch(`http://127.0.0.1:${port}/chat/search?q=banana`, { redirect: 'manual' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const logged = lines.join('');
    expect(logged).toContain('"url":"/chat/search?q=[REDACTED]"');
    expect(logged).not.toContain('banana');
  });
});

describe(redactUrl.name, () => {
  it('should cut token, access_token and signature values, and S3 presigned signatures', () => {
    expect(redactUrl('/a?token=x&b=1&signature=y')).toBe('/a?token=[REDACTED]&b=1&signature=[REDACTED]');
    expect(redactUrl('https://s3/b/k?X-Amz-Credential=c&X-Amz-Security-Token=t&X-Amz-Signature=abc')).toBe(
      'https://s3/b/k?X-Amz-Credential=[REDACTED]&X-Amz-Security-Token=[REDACTED]&X-Amz-Signature=[REDACTED]',
    );
  });

  // the server reads a key as decoded, and qs reads `q[]` and `name[x]` as q and name: matching the
  // raw key let `%71=` (q), `%74oken=` (token), `q[]=` and `name[x]=` through with their values
  it('should cut a redacted parameter however its key is encoded or bracketed', () => {
    expect(redactUrl('/chat/search?%71=banana')).toBe('/chat/search?%71=[REDACTED]');
    expect(redactUrl('/chat/files/f1?%74oken=secret-token')).toBe('/chat/files/f1?%74oken=[REDACTED]');
    expect(redactUrl('/chat/search?q[]=banana&q%5B%5D=bread')).toBe(
      '/chat/search?q[]=[REDACTED]&q%5B%5D=[REDACTED]',
    );
    expect(redactUrl('/chat/blob?key=f1&name[x]=medical.txt&Name=x.txt')).toBe(
      '/chat/blob?key=f1&name[x]=[REDACTED]&Name=[REDACTED]',
    );
    expect(redactUrl('/chat/x?a=1#q=not-a-parameter')).toBe('/chat/x?a=1#q=not-a-parameter');
    expect(redactUrl('/chat/x#frag?q=banana')).toBe('/chat/x#frag?q=banana');
    expect(redactUrl('/chat/x')).toBe('/chat/x');
    expect(redactUrl(undefined)).toBeUndefined();
  });

  // a search's words and a file's name were logged as typed ("q=banana", "name=medical.txt")
  it("should cut what users write into a URL: a search's words and a file's name", () => {
    expect(redactUrl('/chat/search?q=banana%20bread')).toBe('/chat/search?q=[REDACTED]');
    expect(redactUrl('/chat/admin/search?user_id=u1&q=rash')).toBe(
      '/chat/admin/search?user_id=u1&q=[REDACTED]',
    );
    expect(
      redactUrl(
        '/chat/blob?key=files%2Fa%2Fb&type=text%2Fplain&name=medical.txt&disposition=attachment&expires=9&signature=s',
      ),
    ).toBe(
      '/chat/blob?key=files%2Fa%2Fb&type=text%2Fplain&name=[REDACTED]&disposition=attachment&expires=9&signature=[REDACTED]',
    );
    expect(
      redactUrl(
        'https://s3/b/k?response-content-disposition=attachment%3B%20filename%3D%22medical.txt%22&X-Amz-Signature=a',
      ),
    ).toBe('https://s3/b/k?response-content-disposition=[REDACTED]&X-Amz-Signature=[REDACTED]');
    // keys that only end or start like one are left alone
    expect(redactUrl('/chat/sessions?archived=true&faq=1&names=2')).toBe(
      '/chat/sessions?archived=true&faq=1&names=2',
    );
  });

  // every spelling a query parser reads as the same key: any letter's case, any character
  // percent-encoded (either hex case), and a qs array or object suffix
  const spelling = (name: string) =>
    fc
      .tuple(
        fc.array(fc.constantFrom('plain', 'upper', 'encoded', 'encodedUpperHex'), {
          minLength: name.length,
          maxLength: name.length,
        }),
        fc.constantFrom('', '[]', '[0]', '[x]', '%5B%5D'),
      )
      .map(([forms, suffix]) => {
        const characters = Array.from(name).map((character, index) => {
          const hex = character.charCodeAt(0).toString(16);
          switch (forms[index]) {
            case 'upper':
              return character.toUpperCase();
            case 'encoded':
              return `%${hex}`;
            case 'encodedUpperHex':
              return `%${hex.toUpperCase()}`;
            default:
              return character;
          }
        });
        return `${characters.join('')}${suffix}`;
      });

  it('should leave no value of a redacted parameter in the output, whatever the spelling of its key', () => {
    const names = [...REDACTED_PARAMETERS];
    fc.assert(
      fc.property(
        fc.constantFrom(...names).chain(spelling),
        fc.stringMatching(/^[A-Za-z0-9._~%-]{12,40}$/),
        fc.array(fc.stringMatching(/^[a-z]{1,6}=[a-z0-9]{0,6}$/), { maxLength: 3 }),
        (key, secret, others) => {
          const url = `/chat/x?${[...others, `${key}=${secret}`, ...others].join('&')}#end`;
          const redacted = redactUrl(url) as string;
          expect(redacted).not.toContain(secret);
          expect(redacted).toContain(`${key}=[REDACTED]`);
          expect(redacted.endsWith('#end')).toBe(true);
        },
      ),
    );
  });

  it('should leave no secret value of a redacted parameter in any URL, whatever its case or place', () => {
    const names = [
      'token',
      'access_token',
      'signature',
      'X-Amz-Signature',
      'x-amz-security-token',
      'q',
      'name',
      'response-content-disposition',
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...names),
        fc.boolean(),
        fc.stringMatching(/^[A-Za-z0-9._~%-]{12,40}$/),
        fc.array(fc.stringMatching(/^[a-z]{1,6}=[a-z0-9]{0,6}$/), { maxLength: 3 }),
        (name, upper, secret, others) => {
          const parameter = `${upper ? name.toUpperCase() : name}=${secret}`;
          const url = `/chat/x?${[...others, parameter, ...others].join('&')}#end`;
          const redacted = redactUrl(url) as string;
          expect(redacted).not.toContain(secret);
          expect(redacted.endsWith('#end')).toBe(true);
        },
      ),
    );
  });
});

describe(describeError.name, () => {
  // a MongoDB driver's parse error quotes the whole URI, password included
  it("should give an error's name and message only, with a URL's credentials masked", () => {
    const error = Object.assign(
      new Error('Protocol and host list are required in "mongodb://chatbox:hunter2@/chatbox"'),
      { name: 'MongoParseError', uri: 'mongodb://chatbox:hunter2@/chatbox' },
    );
    expect(describeError(error)).toBe(
      'MongoParseError: Protocol and host list are required in "mongodb://***@/chatbox"',
    );
    // a password with an unescaped @ or / in it is masked whole
    expect(describeError(new Error('bad mongodb://u:hun@ter/2@db1,db2/chatbox and redis://:pw@r:6379'))).toBe(
      'Error: bad mongodb://***@db1,db2/chatbox and redis://***@r:6379',
    );
    expect(describeError(new Error('https://example.com/a/b stays'))).toBe(
      'Error: https://example.com/a/b stays',
    );
    expect(describeError('mongodb://u:secret@h')).toBe('mongodb://***@h');
    expect(describeError(undefined)).toBe('undefined');
  });
});
