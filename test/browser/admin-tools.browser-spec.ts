import type { Browser } from 'playwright-core';
import { authHeaders, startApp, type RunningApp } from '../helpers/app';
import { adminToken, uniqueUser, userToken } from '../helpers/tokens';
import { chatUrl, DESKTOP, launchBrowser, newPage } from './browser';

// Issue 15, item 6 in the dashboard: "/" inserts a canned response; internal notes stay with admins;
// read receipts reach the dashboard as "Seen".
describe('admin tools (browser)', () => {
  let server: RunningApp;
  let browser: Browser;

  beforeAll(async () => {
    server = await startApp({
      LLM_PROVIDERS: JSON.stringify([{ id: 'demo', name: 'Demo', type: 'demo', delay_ms: 1 }]),
    });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('should insert a canned response with "/" and keep internal notes off the user side', async () => {
    const admin = adminToken(uniqueUser('admin'), 'Nia Notes');
    const created = await fetch(`${server.httpUrl}/chat/admin/canned-responses`, {
      method: 'POST',
      headers: { ...authHeaders(admin), 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'Refund', text: 'Your refund is on its way.', shortcut: 'refund' }),
    });
    expect(created.status).toBe(201);
    const user = uniqueUser('tools');
    const chat = await newPage(browser, DESKTOP);
    const dash = await newPage(browser, DESKTOP);
    try {
      await chat.page.goto(chatUrl(server.httpUrl, userToken(user)));
      await chat.page.locator('[data-testid=status][data-state=connected]').waitFor();
      const input = chat.page.getByLabel('Message', { exact: true });
      await input.fill('Where is my refund?');
      await input.press('Enter');
      await chat.page.locator('.msg.ai:not(.streaming)').waitFor();

      await dash.page.goto(`${server.httpUrl}/admin/#token=${admin}`);
      await dash.page.getByPlaceholder('user id').fill(user);
      await dash.page.getByPlaceholder('user id').press('Enter');
      await dash.page.locator(`tr:has-text("${user}") button.open`).click();
      const panel = dash.page.locator('.session-panel');
      await panel.getByRole('button', { name: 'Take over' }).click();
      const reply = panel.getByLabel('Reply as admin');
      await reply.pressSequentially('/ref');
      await panel.getByLabel('Canned responses').getByText('/refund · Refund').waitFor();
      await reply.press('Tab');
      expect(await reply.inputValue()).toBe('Your refund is on its way.');
      await reply.press('Enter');
      await chat.page.locator('.msg.admin', { hasText: 'Your refund is on its way.' }).waitFor();
      // read receipt: the user's page showed it, the admin sees "Seen"
      await panel.locator('.msg', { hasText: 'Your refund is on its way.' }).locator('.seen').waitFor();

      await panel.getByLabel('Add an internal note').fill('Checked the order: shipped late');
      await panel.getByRole('button', { name: 'Add', exact: true }).click();
      await panel.getByText('Checked the order: shipped late').waitFor();
      await chat.page.reload();
      await chat.page.locator('.msg.admin').waitFor();
      expect(await chat.page.content()).not.toContain('shipped late');
    } finally {
      await chat.context.close();
      await dash.context.close();
    }
  });

  it('should show "Seen" on the dashboard once the user\'s page has shown the admin\'s message', async () => {
    const admin = adminToken(uniqueUser('admin'), 'Sam Seen');
    const user = uniqueUser('seen');
    const chat = await newPage(browser, DESKTOP);
    const dash = await newPage(browser, DESKTOP);
    try {
      await chat.page.goto(chatUrl(server.httpUrl, userToken(user)));
      await chat.page.locator('[data-testid=status][data-state=connected]').waitFor();
      const input = chat.page.getByLabel('Message', { exact: true });
      await input.fill('Is anyone there?');
      await input.press('Enter');
      await chat.page.locator('.msg.ai:not(.streaming)').waitFor();

      await dash.page.goto(`${server.httpUrl}/admin/#token=${admin}`);
      // the metrics panel lists the replies per model (item 11)
      await dash.page.getByRole('table', { name: 'Replies per model' }).getByText('demo').waitFor();
      await dash.page.getByPlaceholder('user id').fill(user);
      await dash.page.getByPlaceholder('user id').press('Enter');
      await dash.page.locator(`tr:has-text("${user}") button.open`).click();
      const panel = dash.page.locator('.session-panel');
      await panel.getByRole('button', { name: 'Take over' }).click();
      await chat.page.getByTestId('assisted-by').waitFor();
      const reply = panel.getByLabel('Reply as admin');
      await reply.fill('Yes, Sam here. How can I help?');
      await reply.press('Enter');

      await chat.page.locator('.msg.admin', { hasText: 'Sam here' }).waitFor();
      const sent = panel.locator('.msg', { hasText: 'Sam here' });
      await sent.getByText('Seen', { exact: true }).waitFor();
    } finally {
      await chat.context.close();
      await dash.context.close();
    }
  });

  it('should ask the user to rate a takeover when it ends and store the rating', async () => {
    const adminId = uniqueUser('admin');
    const admin = adminToken(adminId, 'Rhea Rated');
    const chat = await newPage(browser, DESKTOP);
    try {
      const token = userToken(uniqueUser());
      await chat.page.goto(chatUrl(server.httpUrl, token));
      await chat.page.locator('[data-testid=status][data-state=connected]').waitFor();
      const input = chat.page.getByLabel('Message', { exact: true });
      await input.fill('I want a person');
      await input.press('Enter');
      await chat.page.locator('.msg.ai:not(.streaming)').waitFor();
      const sessions = (await (
        await fetch(`${server.httpUrl}/chat/sessions`, { headers: authHeaders(token) })
      ).json()) as Array<{ id: string }>;
      const sessionId = sessions[0].id;
      const post = (path: string) =>
        fetch(`${server.httpUrl}/chat/admin/sessions/${sessionId}/${path}`, {
          method: 'POST',
          headers: authHeaders(admin),
        });
      expect((await post('takeover')).status).toBe(200);
      await chat.page.getByTestId('assisted-by').waitFor();
      expect((await post('release')).status).toBe(200);
      const prompt = chat.page.getByRole('form', { name: 'Rate the help you got' });
      await prompt.getByText('How did Rhea Rated help you?').waitFor();
      await prompt.getByRole('radio', { name: '4 of 5' }).click();
      await prompt.getByLabel('Comment').fill('Quick and kind');
      await prompt.getByRole('button', { name: 'Send rating' }).click();
      await prompt.waitFor({ state: 'detached' });
      const deadline = Date.now() + 5000;
      for (;;) {
        const metrics = (await (
          await fetch(`${server.httpUrl}/chat/admin/metrics`, { headers: authHeaders(admin) })
        ).json()) as { csat: Array<{ admin_id: string; average: number }> };
        const mine = metrics.csat.find((entry) => entry.admin_id === adminId);
        if (mine) {
          expect(mine.average).toBe(4);
          break;
        }
        if (Date.now() > deadline) throw new Error('the rating was not stored');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      // the dashboard shows it per admin
      const dash = await newPage(browser, DESKTOP);
      try {
        await dash.page.goto(`${server.httpUrl}/admin/#token=${admin}`);
        await dash.page.getByRole('table', { name: 'CSAT per admin' }).getByText('Rhea Rated').waitFor();
      } finally {
        await dash.context.close();
      }
    } finally {
      await chat.context.close();
    }
  });

  it('should search every conversation from the dashboard and open a hit at its message', async () => {
    const admin = adminToken(uniqueUser('admin'));
    const chat = await newPage(browser, DESKTOP);
    const dash = await newPage(browser, DESKTOP);
    try {
      await chat.page.goto(chatUrl(server.httpUrl, userToken(uniqueUser())));
      await chat.page.locator('[data-testid=status][data-state=connected]').waitFor();
      const input = chat.page.getByLabel('Message', { exact: true });
      await input.fill('My parcel to Reykjavik is missing');
      await input.press('Enter');
      await chat.page.locator('.msg.ai:not(.streaming)').waitFor();
      await dash.page.goto(`${server.httpUrl}/admin/#token=${admin}`);
      await dash.page.getByLabel('Search all conversations').pressSequentially('reykjav');
      await dash.page.getByLabel('Search results').getByRole('button').first().click();
      await dash.page.locator('.session-panel .msg.focus', { hasText: 'Reykjavik' }).waitFor();
    } finally {
      await chat.context.close();
      await dash.context.close();
    }
  });

  // an alert's email or SMS links to /admin/?session=<id>: the dashboard opened on the list, and the
  // admin had to find the session among the others
  it("should open the session an alert's link names", async () => {
    const admin = adminToken(uniqueUser('admin'));
    const chat = await newPage(browser, DESKTOP);
    const dash = await newPage(browser, DESKTOP);
    const token = userToken(uniqueUser());
    try {
      await chat.page.goto(chatUrl(server.httpUrl, token));
      await chat.page.locator('[data-testid=status][data-state=connected]').waitFor();
      const input = chat.page.getByLabel('Message', { exact: true });
      await input.fill('Where is my order to Tromsø?');
      await input.press('Enter');
      await chat.page.locator('.msg.ai:not(.streaming)').waitFor();
      const list = await fetch(`${server.httpUrl}/chat/sessions`, { headers: authHeaders(token) });
      const id = ((await list.json()) as Array<{ id: string }>)[0]?.id;
      expect(id).toBeDefined();
      await dash.page.goto(`${server.httpUrl}/admin/?session=${id}#token=${admin}`);
      await dash.page.locator('.session-panel .msg.user', { hasText: 'Tromsø' }).waitFor();
    } finally {
      await chat.context.close();
      await dash.context.close();
    }
  });

  it('should add and delete canned responses in the dashboard', async () => {
    const admin = adminToken(uniqueUser('admin'));
    const dash = await newPage(browser, DESKTOP);
    try {
      await dash.page.goto(`${server.httpUrl}/admin/#token=${admin}`);
      const panel = dash.page.locator('.canned-panel');
      const shortcut = `bye${Math.random().toString(36).slice(2, 6)}`;
      await panel.getByLabel('Title').fill('Goodbye');
      await panel.getByLabel('Shortcut').fill(shortcut);
      await panel.getByLabel('Text').fill('Thanks for chatting!');
      await panel.getByRole('button', { name: 'Add' }).click();
      await panel.getByText(`/${shortcut}`).waitFor();
      await panel.getByRole('button', { name: `Delete /${shortcut}` }).click();
      await panel.getByText(`/${shortcut}`).waitFor({ state: 'detached' });
    } finally {
      await dash.context.close();
    }
  });
});
