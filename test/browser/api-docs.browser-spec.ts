import type { Browser } from 'playwright-core';
import { startApp, type RunningApp } from '../helpers/app';
import { adminToken, uniqueUser } from '../helpers/tokens';
import { launchBrowser, newPage, screenshot } from './browser';

// /chat/api-docs/: Swagger UI under the page CSP (script-src 'self', no inline script), showing the
// admin-only document once it has an admin's token.
describe('API docs page (browser)', () => {
  let server: RunningApp;
  let browser: Browser;

  beforeAll(async () => {
    server = await startApp();
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('should ask for a token, then render every route of the document with an admin token', async () => {
    const { context, page } = await newPage(browser);
    const violations: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
    });
    try {
      await page.goto(`${server.httpUrl}/chat/api-docs`);
      await page.getByLabel('Admin token').waitFor();
      await page.getByLabel('Admin token').fill(adminToken(uniqueUser('admin')));
      await page.getByRole('button', { name: 'Load' }).click();
      await page.locator('.opblock').first().waitFor();
      expect(await page.locator('.opblock').count()).toBeGreaterThanOrEqual(14);
      expect(await page.locator('.opblock-summary-path').allTextContents()).toContain('/chat/sessions/{id}');
      // the token came in by hand and is not in the address bar
      expect(page.url()).not.toContain('token');
      expect(violations).toEqual([]);
      await screenshot(page, 'api-docs');
    } finally {
      await context.close();
    }
  });

  it('should take the token from the URL fragment and drop it from the address bar', async () => {
    const { context, page } = await newPage(browser);
    try {
      await page.goto(`${server.httpUrl}/chat/api-docs#token=${adminToken(uniqueUser('admin'))}`);
      await page.locator('.opblock').first().waitFor();
      expect(page.url()).not.toContain('token');
    } finally {
      await context.close();
    }
  });
});
