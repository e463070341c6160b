import type { Browser } from 'playwright-core';
import { testEnv } from '../helpers/env';
import { startAppProcess, type AppProcess } from '../helpers/process';
import { uniqueUser, userToken } from '../helpers/tokens';
import { launchBrowser, newPage, PHONE, screenshot } from './browser';

// The built server as its own process is stopped mid-conversation and started again on the same
// port: the page reconnects by itself, sends what the user typed meanwhile, and shows it all once.
describe('chat client across a server restart (browser)', () => {
  let browser: Browser;
  const env = testEnv({
    LLM_PROVIDERS: JSON.stringify([{ id: 'demo', name: 'Demo', type: 'demo', delay_ms: 60 }]),
  });

  beforeAll(async () => {
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('should reconnect after a restart and show every message exactly once', async () => {
    let server: AppProcess | undefined = await startAppProcess(env);
    const port = server.port;
    const { context, page } = await newPage(browser, PHONE);
    try {
      await page.goto(`http://127.0.0.1:${port}/chat/#token=${userToken(uniqueUser())}`);
      const connected = page.locator('[data-testid=status][data-state=connected]');
      const input = page.getByLabel('Message', { exact: true });
      await connected.waitFor();
      await input.fill('one');
      await input.press('Enter');
      await page.locator('.msg.ai:not(.streaming)').waitFor();

      // stop the server while the second reply streams (it finishes within SHUTDOWN_GRACE)
      await input.fill('two');
      await input.press('Enter');
      await page.locator('.msg.ai.streaming').waitFor();
      server.child.kill('SIGTERM');
      await page.locator('[data-testid=status][data-state=reconnecting]').waitFor();
      expect(await server.exited).toBe(0);
      server = undefined;
      expect(await page.getByTestId('status').textContent()).toMatch(/Reconnecting in \d+ s/);
      // typed while the server is away: kept and sent after the reconnect
      await input.fill('three');
      await input.press('Enter');
      await screenshot(page, 'reconnecting-phone');

      server = await startAppProcess(env, port);
      await connected.waitFor({ timeout: 40_000 });
      await page.locator('.msg.ai:not(.streaming)').nth(2).waitFor({ timeout: 20_000 });
      expect(await page.locator('.msg.user .text').allTextContents()).toEqual(['one', 'two', 'three']);
      const replies = await page.locator('.msg.ai').allTextContents();
      expect(replies).toHaveLength(3);
      expect(replies[1]).toContain('You said: "two"');
      expect(replies[2]).toContain('message 3 of this conversation');
      const seqs = await page
        .locator('.thread [data-seq]')
        .evaluateAll((nodes) => nodes.map((node) => Number(node.getAttribute('data-seq'))));
      expect(seqs).toEqual([1, 2, 3, 4, 5, 6]);
      expect(await page.locator('.msg.pending').count()).toBe(0);
    } finally {
      await context.close();
      if (server) {
        server.child.kill('SIGTERM');
        await server.exited;
      }
    }
  }, 120_000);
});
