import type { Browser, Page } from 'playwright-core';
import { startApp, type RunningApp } from '../helpers/app';
import { uniqueUser, userToken } from '../helpers/tokens';
import { chatUrl, DESKTOP, launchBrowser, newPage } from './browser';

// Issue 15 in the chat client: regenerate (2/2 with arrows), edit the last message, feedback.
describe('turn actions (browser)', () => {
  let server: RunningApp;
  let browser: Browser;

  beforeAll(async () => {
    server = await startApp({
      // short enough to write past in a test (the edit box's check)
      MAX_MESSAGE_LENGTH: '200',
      LLM_PROVIDERS: JSON.stringify([
        { id: 'demo', name: 'Demo', type: 'demo', delay_ms: 2 },
        { id: 'fast', name: 'Fast demo', type: 'demo', delay_ms: 1 },
      ]),
    });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  const open = async (token = userToken(uniqueUser())) => {
    const { context, page } = await newPage(browser, DESKTOP);
    await page.goto(chatUrl(server.httpUrl, token));
    await page.locator('[data-testid=status][data-state=connected]').waitFor();
    return { context, page, token };
  };
  const send = async (page: Page, text: string) => {
    const input = page.getByLabel('Message', { exact: true });
    await input.fill(text);
    await input.press('Enter');
  };
  const settled = (page: Page) => page.getByRole('button', { name: 'Regenerate' }).waitFor();

  it('should regenerate the last reply, show 2/2 with arrows, and keep the choice across a reload', async () => {
    const { context, page, token } = await open();
    try {
      await send(page, 'Tell me something');
      await settled(page);
      await page.getByRole('button', { name: 'Regenerate' }).click();
      const pager = page.getByTestId('alternatives');
      await pager.getByText('2/2').waitFor();
      await settled(page);
      expect(await page.locator('.msg.ai').count()).toBe(1);
      await pager.getByRole('button', { name: 'Previous answer' }).click();
      await pager.getByText('1/2').waitFor();
      // the choice is stored: another device (a reload) sees it
      await page.goto('about:blank');
      await page.goto(chatUrl(server.httpUrl, token));
      await page.getByTestId('alternatives').getByText('1/2').waitFor();
    } finally {
      await context.close();
    }
  });

  it('should edit the last message, answer it again, and show the earlier version on request', async () => {
    const { context, page } = await open();
    try {
      await send(page, 'A typo here');
      await settled(page);
      await page.getByRole('button', { name: 'Edit' }).click();
      await page.getByLabel('Edit message').fill('No typo here');
      await page.getByRole('button', { name: 'Send', exact: true }).click();
      await page.locator('.msg.ai:not(.streaming)', { hasText: 'No typo here' }).waitFor();
      await settled(page);
      expect(await page.locator('.msg.ai').count()).toBe(1);
      const versions = page.getByTestId('versions');
      await versions.getByText('edited 2/2').waitFor();
      await versions.getByRole('button', { name: 'Earlier version' }).click();
      await page.locator('.msg.user .text', { hasText: 'A typo here' }).waitFor();
    } finally {
      await context.close();
    }
  });

  // Found by the text-limits black-box audit in session 42 (1 of 1): the edit box had no check, so an
  // edit over MAX_MESSAGE_LENGTH was sent, refused MESSAGE_TOO_LONG and shown failed, and its Retry
  // could never succeed. It counts code points now, against the limit the server names on connect.
  it('should count an edit in code points against the server limit and refuse to send one over it', async () => {
    const { context, page } = await open();
    try {
      await send(page, 'Short');
      await settled(page);
      await page.getByRole('button', { name: 'Edit' }).click();
      const box = page.getByLabel('Edit message');
      await box.fill('x'.repeat(201));
      const note = page.locator('form.edit .counter.over');
      await note.waitFor({ timeout: 5_000 });
      expect(await note.textContent()).toContain('201 / 200');
      expect(await page.getByRole('button', { name: 'Send', exact: true }).isDisabled()).toBe(true);
      await box.press('Enter');
      // 200 emoji are 200 characters (400 UTF-16 units): taken, and answered
      await box.fill('😀'.repeat(200));
      expect(await page.locator('form.edit .counter:not(.over)').textContent()).toBe('200 / 200');
      await page.getByRole('button', { name: 'Send', exact: true }).click();
      await page.getByTestId('versions').getByText('edited 2/2').waitFor();
      expect(await page.locator('.msg .note.error').count()).toBe(0);
    } finally {
      await context.close();
    }
  });

  it('should rate a reply with thumbs, keep the rating across a reload and show it on the other device', async () => {
    const { context, page, token } = await open();
    const other = await newPage(browser, DESKTOP);
    try {
      await send(page, 'Rate this');
      await settled(page);
      await other.page.goto(chatUrl(server.httpUrl, token));
      await other.page.locator('.msg.ai').waitFor();
      await page.getByRole('button', { name: 'Bad answer' }).click();
      await page.locator('button[aria-label="Bad answer"][aria-pressed=true]').waitFor();
      await other.page.locator('button[aria-label="Bad answer"][aria-pressed=true]').waitFor();
      await page.reload();
      await page.locator('button[aria-label="Bad answer"][aria-pressed=true]').waitFor();
    } finally {
      await other.context.close();
      await context.close();
    }
  });

  it('should rename, archive, export and delete conversations from the session list', async () => {
    const { context, page } = await open();
    try {
      await send(page, 'Plan a trip');
      await settled(page);
      await page.getByTitle('Conversations').click();
      const row = page.locator('.sessions li').first();
      page.once('dialog', (dialog) => void dialog.accept('Holiday ideas'));
      await row.getByRole('button', { name: 'Rename' }).click();
      await page.locator('.sessions .name', { hasText: 'Holiday ideas' }).waitFor();
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.locator('.sessions li').first().getByRole('button', { name: 'Export' }).click(),
      ]);
      expect(download.suggestedFilename()).toBe('Holiday ideas.md');
      await page.locator('.sessions li').first().getByRole('button', { name: 'Archive' }).click();
      await page.getByText('No conversations yet.').waitFor();
      await page.getByLabel('Show archived').check();
      await page.locator('.sessions .name', { hasText: 'Holiday ideas' }).waitFor();
      page.once('dialog', (dialog) => void dialog.accept());
      await page.locator('.sessions li').first().getByRole('button', { name: 'Delete' }).click();
      await page.getByText('No archived conversations.').waitFor();
    } finally {
      await context.close();
    }
  });

  it('should search conversations as one types and open a hit at its message', async () => {
    const { context, page } = await open();
    try {
      await send(page, 'Tell me about Kilimanjaro glaciers');
      await settled(page);
      await page.getByTitle('Conversations').click();
      await page.getByRole('button', { name: /New chat/ }).click();
      await page.locator('.msg').first().waitFor({ state: 'detached' });
      await page.getByTitle('Conversations').click();
      await page.getByLabel('Search conversations').pressSequentially('kiliman');
      const hit = page
        .getByLabel('Search results')
        .getByRole('button', { name: /Kilimanjaro glaciers/ })
        .first();
      await hit.click();
      await page.locator('.msg.focus', { hasText: 'Kilimanjaro' }).waitFor();
    } finally {
      await context.close();
    }
  });

  it('should give code blocks a Copy button and highlight them from a chunk loaded on demand', async () => {
    const { context, page } = await open();
    try {
      const scripts: string[] = [];
      page.on('request', (request) => {
        if (request.url().endsWith('.js')) scripts.push(request.url());
      });
      await send(page, 'Code:\n```js\nconst answer = 42;\n```');
      await settled(page);
      const block = page.locator('.msg.ai pre');
      await block.locator('.copy-code').waitFor();
      await block.locator('code .hljs-keyword', { hasText: 'const' }).waitFor();
      expect(scripts.some((url) => /\/highlight-[\w-]+\.js$/.test(url))).toBe(true);
      await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
      await block.locator('.copy-code').click();
      await block.getByText('Copied').waitFor();
      expect(String(await page.evaluate('navigator.clipboard.readText()'))).toContain('const answer = 42;');
    } finally {
      await context.close();
    }
  });
});
