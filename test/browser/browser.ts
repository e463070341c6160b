import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Frame, type Page } from 'playwright-core';

// Debian's chromium (scripts/services/chromium.sh installs it and exports CHROMIUM_PATH), driven by
// playwright-core: never a downloaded browser. Each launch gets a fresh temporary profile.
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const SCREENSHOTS = join(__dirname, '..', '..', 'screenshots');

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // a fake microphone and camera, granted without a prompt
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
];

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: ARGS, headless: true });
}

export const PHONE = { width: 390, height: 844 };
export const DESKTOP = { width: 1280, height: 800 };

export async function newPage(
  browser: Browser,
  viewport = DESKTOP,
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({
    viewport,
    deviceScaleFactor: 1,
    permissions: ['microphone'],
  });
  const page = await context.newPage();
  // surface page errors in the test output instead of losing them
  page.on('pageerror', (error) => console.error(`[page error] ${error.message}`));
  return { context, page };
}

// Waits until `expression` is truthy in the page. Not page.waitForFunction: it runs a string predicate
// through eval() on every poll, which the pages' CSP (script-src 'self', no 'unsafe-eval') refuses;
// page.evaluate goes through DevTools, which the page's CSP does not govern.
export async function waitUntil(target: Page | Frame, expression: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await target.evaluate(expression))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${expression}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
}

// The chat page for a token, the way a parent app opens it.
export function chatUrl(httpUrl: string, token: string): string {
  return `${httpUrl}/chat/#token=${token}`;
}
