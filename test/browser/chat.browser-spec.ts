import type { Browser } from 'playwright-core';
import { startApp, type RunningApp } from '../helpers/app';
import { uniqueUser, userToken } from '../helpers/tokens';
import { chatUrl, DESKTOP, launchBrowser, newPage, screenshot } from './browser';

// The chat client in a real browser against the real server (demo models stream word by word).
describe('chat client (browser)', () => {
  let server: RunningApp;
  let browser: Browser;

  beforeAll(async () => {
    server = await startApp({
      LLM_PROVIDERS: JSON.stringify([
        { id: 'demo', name: 'Demo', type: 'demo', delay_ms: 40 },
        { id: 'fast', name: 'Fast demo', type: 'demo', delay_ms: 5 },
      ]),
    });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('should stream the AI reply into the thread and render it as sanitised markdown', async () => {
    const { context, page } = await newPage(browser, DESKTOP);
    try {
      await page.goto(chatUrl(server.httpUrl, userToken(uniqueUser())));
      await page.locator('[data-testid=status][data-state=connected]').waitFor();
      const input = page.getByLabel('Message', { exact: true });
      await input.fill('Hello **there** <img src=x onerror="window.pwned=1">');
      await input.press('Enter');
      // streaming: the reply bubble exists while it is still growing
      const streaming = page.locator('.msg.ai.streaming');
      await streaming.waitFor();
      const early = (await streaming.textContent()) ?? '';
      const reply = page.locator('.msg.ai:not(.streaming)');
      await reply.waitFor();
      const final = (await reply.textContent()) ?? '';
      expect(final).toContain('message 1 of this conversation');
      expect(final.length).toBeGreaterThan(early.length);
      expect(await page.locator('.msg.user').count()).toBe(1);
      expect(await page.locator('.msg.user .text').textContent()).toContain('<img src=x');
      expect(await page.evaluate('typeof window.pwned')).toBe('undefined');
      expect(await page.locator('.thread img').count()).toBe(0);
      await screenshot(page, 'chat-desktop');
    } finally {
      await context.close();
    }
  });
});
