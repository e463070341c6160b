import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { gptModel, startOpenAiFake, type OpenAiFake } from '../fakes/openai-fake';
import { startApp, type RunningApp } from '../helpers/app';
import { uniqueUser, userToken } from '../helpers/tokens';
import { chatUrl, launchBrowser, newPage, PHONE, screenshot, waitUntil } from './browser';

// A valid 1×1 PNG; the upload test pads it so that a throttled upload takes a while.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
  'base64',
);

// Uploads (progress, thumbnail) and voice (Chromium's fake microphone → MediaRecorder → upload →
// transcription by the OpenAI fake → streamed answer with its speech) against the real server.
describe('uploads and voice (browser)', () => {
  let server: RunningApp;
  let openai: OpenAiFake;
  let browser: Browser;
  const uploadDir = mkdtempSync(join(tmpdir(), 'chatbox-browser-uploads-'));

  beforeAll(async () => {
    openai = await startOpenAiFake({ transcript: 'What is the weather in Paris?', chunkSize: 8 });
    server = await startApp({
      UPLOAD_DIR: uploadDir,
      LLM_PROVIDERS: JSON.stringify([
        gptModel(openai, { tts: { voice: 'nova', format: 'wav' } }),
        { id: 'demo', name: 'Demo', type: 'demo', delay_ms: 5 },
      ]),
    });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await openai?.close();
    rmSync(uploadDir, { recursive: true, force: true });
  });

  it('should upload a picture with a progress bar and show it as a thumbnail', async () => {
    const { context, page } = await newPage(browser, PHONE);
    try {
      await page.goto(chatUrl(server.httpUrl, userToken(uniqueUser())));
      await connected(page);
      // a slow uplink (CDP network emulation) so the progress bar has something to show
      const cdp = await context.newCDPSession(page);
      await cdp.send('Network.enable');
      await cdp.send('Network.emulateNetworkConditions', {
        offline: false,
        latency: 20,
        downloadThroughput: -1,
        uploadThroughput: 256 * 1024,
      });
      await page.evaluate(`(() => {
        window.progressSeen = [];
        new MutationObserver(() => {
          const bar = document.querySelector('progress[aria-label="Upload progress"]');
          if (bar) window.progressSeen.push(bar.value);
        }).observe(document.body, { subtree: true, childList: true, attributes: true });
      })()`);
      const picture = Buffer.concat([PNG, Buffer.alloc(600 * 1024)]);
      await page
        .getByTestId('file-input')
        .setInputFiles({ name: 'receipt.png', mimeType: 'image/png', buffer: picture });
      // a picked file waits beside the composer until Send (issue 15)
      await page.getByRole('button', { name: 'Send' }).click();
      await page.locator('progress[aria-label="Upload progress"]').waitFor();
      await screenshot(page, 'upload-progress-phone');
      const thumbnail = page.locator('.msg.user img.thumb');
      await thumbnail.waitFor({ timeout: 20_000 });
      await waitUntil(page, `document.querySelector('.msg.user img.thumb').naturalWidth === 1`);
      const seen = (await page.evaluate('window.progressSeen')) as number[];
      expect(seen.some((value) => value > 0 && value < 1)).toBe(true);
      expect(await page.locator('.msg.user .file-name').textContent()).toContain('receipt.png');
      expect(await page.locator('.msg.pending').count()).toBe(0);
      await cdp.send('Network.emulateNetworkConditions', {
        offline: false,
        latency: 0,
        downloadThroughput: -1,
        uploadThroughput: -1,
      });
    } finally {
      await context.close();
    }
  });

  it('should record a voice message with the fake microphone, send it and play the spoken reply', async () => {
    const { context, page } = await newPage(browser, PHONE);
    try {
      await page.goto(chatUrl(server.httpUrl, userToken(uniqueUser())));
      await connected(page);
      await page.getByRole('button', { name: 'Record a voice message' }).click();
      const elapsed = page.getByTestId('elapsed');
      await waitUntil(page, `document.querySelector('[data-testid=elapsed]')?.textContent === '0:01'`);
      // Chromium's fake device plays a beep: the level meter moves
      await waitUntil(page, `Number(document.querySelector('meter.level')?.value) > 0.05`);
      await screenshot(page, 'voice-recording-phone');
      expect(await elapsed.textContent()).toMatch(/^0:0\d$/);
      await page.getByRole('button', { name: 'Stop' }).click();
      await page.getByLabel('Recorded voice message').waitFor();
      await page.getByRole('button', { name: 'Send', exact: true }).click();

      await page
        .locator('.msg.user .transcript', { hasText: 'What is the weather in Paris?' })
        .waitFor({ timeout: 20_000 });
      await page.locator('.msg.user audio.player').waitFor();
      await page.locator('.msg.ai:not(.streaming)').waitFor({ timeout: 20_000 });
      const spoken = page.locator('.msg.ai audio.player');
      await spoken.waitFor({ timeout: 20_000 });
      // the spoken reply really loads (signed URL of the stored speech)
      await waitUntil(page, `document.querySelector('.msg.ai audio.player').readyState >= 1`);
      expect(await spoken.getAttribute('aria-label')).toBeTruthy();
      await screenshot(page, 'voice-reply-phone');
      const uploads = openai.requests.filter((request) => request.path.endsWith('/audio/transcriptions'));
      expect(uploads).toHaveLength(1);
    } finally {
      await context.close();
    }
  }, 60_000);
});

async function connected(page: Page): Promise<void> {
  await page.locator('[data-testid=status][data-state=connected]').waitFor();
}
