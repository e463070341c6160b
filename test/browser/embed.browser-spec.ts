import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { startApp, type RunningApp } from '../helpers/app';
import { uniqueUser, userToken } from '../helpers/tokens';
import { DESKTOP, launchBrowser, newPage, PHONE, screenshot } from './browser';

const EMBED = join(__dirname, '..', '..', 'client', 'embed');
const TOKEN_SECONDS = 6;

// A parent app on another origin embeds the chat with the shipped snippet and example host page;
// its backend hands out short-lived tokens, and the chat keeps one socket alive by refreshing.
describe('embedding (browser)', () => {
  let server: RunningApp;
  let host: Server;
  let hostUrl: string;
  let browser: Browser;
  const user = uniqueUser('embedded');
  const tokenRequests: number[] = [];

  beforeAll(async () => {
    host = createServer((request, response) => {
      if (request.url === '/token') {
        tokenRequests.push(Date.now());
        response.writeHead(200, { 'content-type': 'text/plain' });
        response.end(userToken(user, { expiresInSeconds: TOKEN_SECONDS }));
        return;
      }
      const file = request.url === '/chatbox-embed.js' ? 'chatbox-embed.js' : 'example-host.html';
      let body = readFileSync(join(EMBED, file), 'utf8');
      if (file.endsWith('.html'))
        body = body.replace('data-chat-url="/chat/"', `data-chat-url="${server.httpUrl}/chat/"`);
      response.writeHead(200, { 'content-type': file.endsWith('.js') ? 'text/javascript' : 'text/html' });
      response.end(body);
    });
    await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve));
    // "localhost" vs the chat's "127.0.0.1": two origins, as with a real parent app
    hostUrl = `http://localhost:${(host.address() as AddressInfo).port}`;
    // the chat's CSP lets only ALLOWED_ORIGINS frame it (frame-ancestors)
    server = await startApp({
      ALLOWED_ORIGINS: hostUrl,
      LLM_PROVIDERS: JSON.stringify([{ id: 'demo', type: 'demo', delay_ms: 5 }]),
    });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => host?.close(resolve));
    await server?.close();
  });

  it('should get its first token by postMessage and refresh it before expiry on the same socket', async () => {
    const { context, page } = await newPage(browser, DESKTOP);
    // counts sockets opened inside the chat frame: a refresh must not need a reconnect
    await context.addInitScript({
      content: `(() => {
        const Native = window.WebSocket;
        window.sockets = 0;
        window.WebSocket = class extends Native {
          constructor(url, protocols) { super(url, protocols); window.sockets += 1; }
        };
      })();`,
    });
    try {
      await page.goto(`${hostUrl}/example-host.html`);
      const chat = page.frameLocator('iframe');
      await chat.locator('[data-testid=status][data-state=connected]').waitFor();
      const frame = page.frames().find((candidate) => candidate.url().startsWith(server.httpUrl));
      expect(frame?.url()).toContain(`parent_origin=${encodeURIComponent(hostUrl)}`);
      expect(frame?.url()).not.toContain('token=');
      // outlive two token lifetimes: the chat asks, the host answers, auth_refresh keeps the socket
      await page.waitForTimeout(TOKEN_SECONDS * 2 * 1000 + 1000);
      expect(tokenRequests.length).toBeGreaterThanOrEqual(3);
      expect(await page.locator('#log').textContent()).toContain('(last: expiring)');
      expect(await frame?.evaluate('window.sockets')).toBe(1);
      await chat.locator('[data-testid=status][data-state=connected]').waitFor();
      const input = chat.getByLabel('Message', { exact: true });
      await input.fill('Still here after two refreshes?');
      await input.press('Enter');
      await chat.locator('.msg.ai:not(.streaming)').waitFor();
      expect(await chat.locator('.msg.ai').textContent()).toContain('message 1 of this conversation');
      await screenshot(page, 'embedded-host-desktop');
    } finally {
      await context.close();
    }
  }, 60_000);

  it('should ask a React Native host through ReactNativeWebView and accept its token', async () => {
    const { context, page } = await newPage(browser, PHONE);
    await context.addInitScript({
      content: `window.nativeInbox = [];
        window.ReactNativeWebView = { postMessage: (message) => window.nativeInbox.push(message) };`,
    });
    try {
      await page.goto(`${server.httpUrl}/chat/`);
      await page.getByText('Waiting for sign-in…').waitFor();
      const inbox = (await page.evaluate('window.nativeInbox')) as string[];
      const messages = inbox.map((message) => JSON.parse(message) as Record<string, unknown>);
      expect(messages).toContainEqual({
        source: 'chatbox',
        type: 'chatbox:token_request',
        reason: 'initial',
      });
      // what a native app does: webView.injectJavaScript("window.postMessage('…')")
      const token = userToken(uniqueUser());
      await page.evaluate(
        `window.postMessage(${JSON.stringify(JSON.stringify({ type: 'chatbox:token', token }))}, '*')`,
      );
      await page.locator('[data-testid=status][data-state=connected]').waitFor();
    } finally {
      await context.close();
    }
  });
});
