import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { authHeaders, startApp, type RunningApp } from '../helpers/app';
import { adminToken, uniqueUser, userToken } from '../helpers/tokens';

const DOCUMENTED = readFileSync(join(__dirname, '..', '..', 'docs', 'openapi.json'), 'utf8');

describe('OpenAPI at /chat/openapi.json (API_DOCS)', () => {
  describe('admin (the default)', () => {
    let running: RunningApp;
    beforeAll(async () => {
      running = await startApp();
    });
    afterAll(() => running.close());

    it('should serve the live app document, equal to docs/openapi.json, to admins', async () => {
      const response = await fetch(`${running.httpUrl}/chat/openapi.json`, {
        headers: authHeaders(adminToken(uniqueUser('admin'))),
      });
      expect(response.status).toBe(200);
      // every controller of the real app is in the document the build writes from REST_CONTROLLERS
      expect(await response.json()).toEqual(JSON.parse(DOCUMENTED));
    });

    it('should refuse the document without a token (401) and to users (403)', async () => {
      expect((await fetch(`${running.httpUrl}/chat/openapi.json`)).status).toBe(401);
      const asUser = await fetch(`${running.httpUrl}/chat/openapi.json`, {
        headers: authHeaders(userToken(uniqueUser())),
      });
      expect(asUser.status).toBe(403);
    });

    it('should serve the page and its Swagger UI files under a page CSP', async () => {
      const page = await fetch(`${running.httpUrl}/chat/api-docs`);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toContain('text/html');
      expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
      const html = await page.text();
      for (const src of html.matchAll(/(?:src|href)="([^"]+)"/g)) {
        const asset = await fetch(`${running.httpUrl}${src[1]}`);
        expect([src[1], asset.status]).toEqual([src[1], 200]);
      }
    });
  });

  it('should serve the document to anyone when public, and nothing when off', async () => {
    const open = await startApp({ API_DOCS: 'public' });
    try {
      expect((await fetch(`${open.httpUrl}/chat/openapi.json`)).status).toBe(200);
    } finally {
      await open.close();
    }
    const off = await startApp({ API_DOCS: 'off' });
    try {
      const admin = authHeaders(adminToken(uniqueUser('admin')));
      expect((await fetch(`${off.httpUrl}/chat/openapi.json`, { headers: admin })).status).toBe(404);
      expect((await fetch(`${off.httpUrl}/chat/api-docs`)).status).toBe(404);
    } finally {
      await off.close();
    }
  });
});
