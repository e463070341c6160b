import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Request, Response } from 'express';
import type { Settings } from '../../config/settings';
import type { S3Settings } from '../../config/uploads.settings';
import {
  chatFrameAncestors,
  fileSources,
  openFramingWarning,
  pageDirectives,
  policyFor,
  securityHeaders,
  servesFile,
} from './security-headers';

function settingsWith(allowedOrigins: string[], s3?: Partial<S3Settings>): Settings {
  const bucket = s3 ? { bucket: 'b', region: 'us-east-1', forcePathStyle: false, ...s3 } : undefined;
  return { allowedOrigins, uploads: { s3: bucket } } as Settings;
}

// A response that only records headers, enough for helmet.
function fakeResponse(): Response & { headers: Map<string, string> } {
  const headers = new Map<string, string>();
  return {
    headers,
    setHeader: (name: string, value: string) => headers.set(name.toLowerCase(), String(value)),
    removeHeader: (name: string) => headers.delete(name.toLowerCase()),
  } as unknown as Response & { headers: Map<string, string> };
}

describe('security headers', () => {
  let root: string;

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'security-headers-'));
    mkdirSync(join(root, 'chat', 'assets'), { recursive: true });
    writeFileSync(join(root, 'chat', 'index.html'), '<!doctype html>');
    writeFileSync(join(root, 'chat', 'assets', 'index-1.js'), '');
    writeFileSync(join(root, 'secret.txt'), '');
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  describe(fileSources.name, () => {
    it('should allow the S3 origin attachments are shown from, and nothing without S3', () => {
      expect(fileSources(undefined)).toEqual([]);
      expect(fileSources(settingsWith([], {}).uploads.s3)).toEqual(['https://*.amazonaws.com']);
      const minio = { endpoint: 'http://127.0.0.1:9000', forcePathStyle: true };
      expect(fileSources(settingsWith([], minio).uploads.s3)).toEqual(['http://127.0.0.1:9000']);
      const hosted = { endpoint: 'https://s3.example.com/base', forcePathStyle: false };
      expect(fileSources(settingsWith([], hosted).uploads.s3)).toEqual([
        'https://s3.example.com',
        'https://*.s3.example.com',
      ]);
    });
  });

  describe(chatFrameAncestors.name, () => {
    it('should name the parent apps, or leave framing open when there is no list or *', () => {
      expect(chatFrameAncestors(['https://a.example', 'http://b.example:8080'])).toEqual([
        'https://a.example',
        'http://b.example:8080',
      ]);
      expect(chatFrameAncestors([])).toBeUndefined();
      expect(chatFrameAncestors(['https://a.example', '*'])).toBeUndefined();
    });
  });

  describe(openFramingWarning.name, () => {
    it('should warn while any page may frame the chat, and not once the parent apps are named', () => {
      expect(openFramingWarning([])).toContain('ALLOWED_ORIGINS');
      expect(openFramingWarning(['https://a.example', '*'])).toContain('ALLOWED_ORIGINS');
      expect(openFramingWarning(['https://a.example'])).toBeUndefined();
    });
  });

  describe(pageDirectives.name, () => {
    it('should allow no inline script or style and add the S3 origin to images and media', () => {
      const directives = pageDirectives(settingsWith([], {}), ["'none'"]);
      expect(directives['script-src']).toEqual(["'self'"]);
      expect(directives['style-src']).toEqual(["'self'"]);
      expect(directives['frame-ancestors']).toEqual(["'none'"]);
      expect(directives['img-src']).toContain('https://*.amazonaws.com');
      expect(directives['media-src']).toEqual(["'self'", 'data:', 'blob:', 'https://*.amazonaws.com']);
      expect(JSON.stringify(directives)).not.toContain('unsafe');
      expect('frame-ancestors' in pageDirectives(settingsWith([]), undefined)).toBe(false);
    });
  });

  describe(servesFile.name, () => {
    it('should find the files express.static would serve and nothing outside its root', async () => {
      const chat = join(root, 'chat');
      const cases: Array<[string, boolean]> = [
        ['/chat/', true],
        ['/chat/index.html', true],
        ['/chat/assets/index-1.js', true],
        ['/chat/assets/index-%31.js', true],
        ['/chat/assets/', false],
        ['/chat/models', false],
        ['/chat/sessions/abc', false],
        ['/chat/../secret.txt', false],
        ['/chat/%2e%2e/secret.txt', false],
        ['/chat/%2e%2e%2fsecret.txt', false],
        ['/chat/%E0%A4%A', false],
        ['/chat/index.html%00', false],
        ['/admin/index.html', false],
      ];
      for (const [path, expected] of cases)
        expect([path, await servesFile(chat, '/chat/', path)]).toEqual([path, expected]);
    });
  });

  describe(policyFor.name, () => {
    it('should pick the dashboard by prefix, the chat page by file and the API for the rest', async () => {
      const chat = join(root, 'chat');
      const pick = (method: string, path: string) => policyFor({ method, path }, chat);
      expect(await pick('GET', '/admin/')).toBe('admin');
      expect(await pick('GET', '/admin/nothing-here')).toBe('admin');
      expect(await pick('GET', '/chat/')).toBe('chat');
      expect(await pick('HEAD', '/chat/assets/index-1.js')).toBe('chat');
      expect(await pick('POST', '/chat/')).toBe('api');
      expect(await pick('GET', '/chat/models')).toBe('api');
      expect(await pick('GET', '/chat')).toBe('api');
      expect(await pick('GET', '/metrics')).toBe('api');
    });
  });

  describe(securityHeaders.name, () => {
    const run = async (request: Partial<Request>) => {
      const middleware = securityHeaders(settingsWith(['https://a.example']), join(root, 'chat'));
      const response = fakeResponse();
      await new Promise<void>((resolve, reject) =>
        middleware(request as Request, response, (error?: unknown) => (error ? reject(error) : resolve())),
      );
      return response.headers;
    };

    it('should send HSTS only on a request that came over TLS', async () => {
      for (const path of ['/chat/', '/admin/', '/chat/models']) {
        const plain = await run({
          method: 'GET',
          path,
          secure: false,
          headers: { 'x-forwarded-proto': 'https' },
        });
        expect(plain.has('strict-transport-security')).toBe(false);
        const tls = await run({ method: 'GET', path, secure: true, headers: {} });
        expect(tls.get('strict-transport-security')).toBe('max-age=63072000');
      }
    });

    it('should frame-protect the dashboard and the API with both headers and the chat with CSP only', async () => {
      const admin = await run({ method: 'GET', path: '/admin/', secure: false, headers: {} });
      expect(admin.get('x-frame-options')).toBe('DENY');
      expect(admin.get('content-security-policy')).toContain("frame-ancestors 'none'");
      const chat = await run({ method: 'GET', path: '/chat/', secure: false, headers: {} });
      expect(chat.has('x-frame-options')).toBe(false);
      expect(chat.get('content-security-policy')).toContain('frame-ancestors https://a.example');
      expect(chat.get('cross-origin-resource-policy')).toBe('cross-origin');
      const api = await run({ method: 'GET', path: '/chat/models', secure: false, headers: {} });
      expect(api.get('content-security-policy')).toBe("default-src 'none';frame-ancestors 'none'");
      expect(api.get('x-frame-options')).toBe('DENY');
      for (const headers of [admin, chat, api]) {
        expect(headers.get('x-content-type-options')).toBe('nosniff');
        expect(headers.get('referrer-policy')).toBe('no-referrer');
      }
    });
  });
});
