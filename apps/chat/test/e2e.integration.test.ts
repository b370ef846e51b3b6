import { mkdirSync } from 'node:fs';
import { launchChromium, type ServerProcess, startServer, startTcpProxy } from '@gale/test-utils';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The production build (`pnpm build`, then `pnpm start`) driven by real Chromium: two people, each
// in their own browser context (their own cookies), chatting; on Node (`pnpm start`) and on Bun
// (`pnpm start:bun`: @gale/server/bun's serve()).
const appDir = new URL('../', import.meta.url);
const XSS = '<img src=x onerror=alert(1)>';
let browser: Browser;

async function join(page: Page, nickname: string): Promise<void> {
  await page.getByRole('textbox', { name: 'Nickname' }).fill(nickname);
  await page.getByRole('button', { name: 'Join' }).click();
}

async function say(page: Page, text: string): Promise<void> {
  await page.getByRole('textbox', { name: 'Message' }).fill(text);
  await page.getByRole('button', { name: 'Send' }).click();
}

function items(page: Page): Promise<string[]> {
  return page.getByRole('log', { name: 'Messages' }).getByRole('listitem').allInnerTexts();
}

beforeAll(async () => {
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
});

describe.each(['node', 'bun'] as const)('two people in the chat room, on %s', (runtime) => {
  let server: ServerProcess;
  const contexts: BrowserContext[] = [];
  let ada: Page;
  let bob: Page;

  async function newPerson(url = server.url): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 900, height: 640 } });
    contexts.push(context);
    const page = await context.newPage();
    // An alert() would mean markup from a message ran as code.
    page.on('dialog', (dialog) => {
      throw new Error(`unexpected dialog: ${dialog.message()}`);
    });
    await page.goto(url);
    return page;
  }

  beforeAll(async () => {
    // Production refuses to start without COOKIE_SECRET (see test/production-start).
    server = await startServer(appDir, { COOKIE_SECRET: 'e2e secret' }, { runtime });
  });

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => {});
    await server?.stop();
  });

  it('lets Ada in with a nickname, and keeps what she says for later', async () => {
    ada = await newPerson();
    await join(ada, 'Ada');
    await expect.poll(() => ada.getByRole('status').textContent()).toBe('Connected');
    await ada.getByText('Signed in as Ada').waitFor();
    await say(ada, 'Is anyone here?');
    await say(ada, 'I will wait.');
    await expect.poll(() => items(ada)).toContain('You joined');
    await expect
      .poll(async () => (await items(ada)).filter((t) => t.includes('I will wait.')))
      .toHaveLength(1);
  });

  it('refuses a taken nickname with the message, and stays at the login form', async () => {
    bob = await newPerson();
    await join(bob, 'ada');
    await expect
      .poll(() => bob.getByRole('alert').textContent())
      .toBe('Nickname already in use, please choose another');
    expect(await bob.getByRole('textbox', { name: 'Message' }).count()).toBe(0);
    await expect(bob.getByRole('textbox', { name: 'Nickname' }).isVisible()).resolves.toBe(true);
  });

  it('shows a late joiner the history, and tells Ada he joined', async () => {
    await join(bob, 'Bob');
    await expect.poll(() => bob.getByRole('status').textContent()).toBe('Connected');
    await expect
      .poll(() => items(bob))
      .toEqual(
        expect.arrayContaining([
          expect.stringContaining('Is anyone here?'),
          expect.stringContaining('I will wait.'),
        ]),
      );
    // Ada's messages are hers on Bob's screen: her nickname, not "You".
    const first = bob.getByRole('listitem').filter({ hasText: 'Is anyone here?' });
    expect(await first.locator('.from').textContent()).toBe('Ada');
    await expect.poll(() => items(ada)).toContain('Bob joined');
  });

  it('carries messages both ways, with nickname and time', async () => {
    await say(bob, 'Hi Ada!');
    await say(ada, 'Hello Bob, welcome.');
    for (const page of [ada, bob]) {
      await page.getByText('Hi Ada!').waitFor();
      await page.getByText('Hello Bob, welcome.').waitFor();
    }
    const onAdas = ada.getByRole('listitem').filter({ hasText: 'Hi Ada!' });
    expect(await onAdas.locator('.from').textContent()).toBe('Bob');
    expect(await onAdas.locator('time').textContent()).toMatch(/\d{1,2}.\d{2}/);
    const ownOnAdas = ada.getByRole('listitem').filter({ hasText: 'Hello Bob, welcome.' });
    expect(await ownOnAdas.locator('.from').textContent()).toBe('You');
  });

  it('shows markup as the literal text it is', async () => {
    await say(bob, XSS);
    for (const page of [ada, bob]) {
      await page.getByText(XSS, { exact: true }).waitFor();
      expect(await page.locator('message-list img').count()).toBe(0);
    }
  });

  it('keeps Dave in the room through a lost connection, with what was said meanwhile, no reload', async () => {
    // Dave reaches the server through a TCP proxy the test cuts; his page never reloads.
    const proxy = await startTcpProxy([server.port]);
    try {
      const dave = await newPerson(`http://127.0.0.1:${proxy.port}/`);
      await join(dave, 'Dave');
      await expect.poll(() => dave.getByRole('status').textContent()).toBe('Connected');
      await say(ada, 'Before the cut.');
      await dave.getByText('Before the cut.').waitFor();
      await dave.evaluate(() => {
        (window as { sameLoad?: boolean }).sameLoad = true;
      });
      const cut = proxy.cut(1000);
      await expect.poll(() => dave.getByRole('status').textContent()).toBe('Reconnecting…');
      await say(ada, 'During the cut, one.');
      await say(bob, 'During the cut, two.');
      await ada.getByText('During the cut, two.').waitFor();
      await cut;
      // The next try comes after the page's backoff (up to 5 s).
      await expect
        .poll(() => dave.getByRole('status').textContent(), { timeout: 10_000 })
        .toBe('Connected');
      await say(ada, 'After the cut.');
      await dave.getByText('After the cut.').waitFor();
      // In order, once, and no history in place of the list (it would have dropped the notice).
      const texts = await items(dave);
      const from = texts.indexOf('You joined');
      expect(texts.slice(from).map((t) => t.split('\n').at(-1))).toEqual([
        'You joined',
        'Before the cut.',
        'During the cut, one.',
        'During the cut, two.',
        'After the cut.',
      ]);
      expect(await dave.evaluate(() => (window as { sameLoad?: boolean }).sameLoad)).toBe(true);
      // Back within the grace period: Ada heard neither "Dave left" nor a second "Dave joined".
      await new Promise((resolve) => setTimeout(resolve, 5500));
      const adas = await items(ada);
      expect(adas.filter((t) => t === 'Dave joined')).toHaveLength(1);
      expect(adas).not.toContain('Dave left');
    } finally {
      await proxy.close();
    }
  });

  // Rewrites docs/screenshot.png, a tracked file: only when asked (`pnpm screenshots`).
  it.runIf(runtime === 'node' && process.env['UPDATE_SCREENSHOTS'] === '1')(
    'saves a screenshot of the room in use for the README',
    async () => {
      await say(ada, 'Ha, nice try 😄 It shows up as plain text.');
      await ada.getByText('Ha, nice try').waitFor();
      mkdirSync(new URL('docs/', appDir), { recursive: true });
      await ada.screenshot({ path: new URL('docs/screenshot.png', appDir).pathname });
    },
  );

  // docs/screenshot-phone.png likewise: the room on a 390×844 phone, in the dark colour scheme.
  it.runIf(runtime === 'node' && process.env['UPDATE_SCREENSHOTS'] === '1')(
    'saves a screenshot of the room on a phone for the README',
    async () => {
      const context = await browser.newContext({
        viewport: { width: 390, height: 844 },
        deviceScaleFactor: 1,
        colorScheme: 'dark',
      });
      contexts.push(context);
      const cleo = await context.newPage();
      await cleo.goto(server.url);
      await join(cleo, 'Cleo');
      await expect.poll(() => cleo.getByRole('status').textContent()).toBe('Connected');
      await say(cleo, 'Hello from my phone!');
      await cleo.getByText('Hello from my phone').waitFor();
      await say(ada, 'Welcome, Cleo!');
      await cleo.getByText('Welcome, Cleo!').waitFor();
      // Where a phone user types: the message box has the focus.
      await cleo.getByRole('textbox', { name: 'Message' }).focus();
      await cleo.screenshot({ path: new URL('docs/screenshot-phone.png', appDir).pathname });
      await context.close();
    },
  );

  it('refuses a message over the size limit with a visible reason', async () => {
    await say(bob, 'x'.repeat(2001));
    await expect
      .poll(() => bob.getByRole('alert').textContent())
      .toBe('Message too long (max 2000 characters)');
    expect(await bob.getByRole('alert').isVisible()).toBe(true);
    // The room goes on.
    await say(bob, 'Sorry, too long.');
    await ada.getByText('Sorry, too long.').waitFor();
  });

  it('Leave takes Bob back to the login form, tells Ada, and frees his nickname', async () => {
    await bob.getByRole('button', { name: 'Leave' }).click();
    await bob.getByRole('textbox', { name: 'Nickname' }).waitFor();
    await expect.poll(() => items(ada)).toContain('Bob left');
    const carol = await newPerson();
    await join(carol, 'bob');
    await expect.poll(() => carol.getByRole('status').textContent()).toBe('Connected');
    await expect.poll(() => items(ada)).toContain('bob joined');
  });
});
