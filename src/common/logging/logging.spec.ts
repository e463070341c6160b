import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import fc from 'fast-check';
import pinoHttp, { type Options } from 'pino-http';
import { loggerParams, redactUrl } from './logging';

describe('loggerParams', () => {
  let server: Server;
  let lines: string[];

  beforeEach(async () => {
    lines = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const options = loggerParams('info').pinoHttp as Options;
    const log = pinoHttp(options, sink);
    server = createServer((request, response) => {
      log(request, response);
      // a file read answers with a signed link (local disk or S3 presigned)
      // as Express's res.redirect sets it
      response.setHeader(
        'location',
        '/chat/blob?key=f1&name=medical.txt&expires=99&signature=secret-signature',
      );
      response.statusCode = 302;
      response.end();
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
      'https://s3/b/k?X-Amz-Credential=c&X-Amz-Security-Token=[REDACTED]&X-Amz-Signature=[REDACTED]',
    );
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
