import { mkdirSync } from 'node:fs';
import { launchChromium, type ServerProcess, startServer } from '@gale/test-utils';
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The production build (`pnpm build`, then `pnpm start`) driven by real Chromium: three shoppers,
// each in their own browser context (own cookies, own session), against a stock of 2. The same
// flow runs on Node (`pnpm start`) and on Bun (`pnpm start:bun`: @gale/server/bun's serve()).
const appDir = new URL('../', import.meta.url);
let browser: Browser;

beforeAll(async () => {
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
});

describe.each(['node', 'bun'] as const)("Burt's Books on %s", (runtime) => {
  let server: ServerProcess;
  const contexts: BrowserContext[] = [];

  async function shopper(
    options: BrowserContextOptions = { viewport: { width: 900, height: 640 } },
  ): Promise<Page> {
    const context = await browser.newContext(options);
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(server.url);
    // The connection's status region (the page has another, for screen readers).
    const connection = page.locator('connection-status').getByRole('status');
    await expect.poll(() => connection.textContent()).toBe('Live');
    return page;
  }

  function stockLine(page: Page, count: number) {
    return page.getByText(`Only ${count} left in stock! Order now!`);
  }

  beforeAll(async () => {
    // `pnpm start` refuses to run without COOKIE_SECRET (outside NODE_ENV=development).
    server = await startServer(
      appDir,
      { INITIAL_STOCK: '2', COOKIE_SECRET: 'e2e-secret-0123456789' },
      { runtime },
    );
  });

  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => {});
    await server?.stop();
  });

  let alice: Page;
  let bob: Page;
  let carol: Page;

  it('shows the book, its price and the stock', async () => {
    alice = await shopper();
    await expect
      .poll(() => alice.getByRole('heading', { level: 1 }).textContent())
      .toContain("Burt's Books");
    await alice.getByRole('heading', { name: 'The Definitive Guide to the Internet' }).waitFor();
    await alice.getByText('$20.00').waitFor();
    await stockLine(alice, 2).waitFor();
  });

  it("an add in one browser changes the other's count", async () => {
    bob = await shopper();
    await stockLine(bob, 2).waitFor();
    await alice.getByRole('button', { name: 'Add to Cart' }).click();
    await alice.getByText('One copy is in your cart.').waitFor();
    await stockLine(bob, 1).waitFor();
  });

  // Rewrites docs/screenshot.png, a tracked file: only when asked (`pnpm screenshots`).
  it.runIf(runtime === 'node' && process.env['UPDATE_SCREENSHOTS'] === '1')(
    'saves a screenshot for the README',
    async () => {
      mkdirSync(new URL('docs/', appDir), { recursive: true });
      await alice.screenshot({ path: new URL('docs/screenshot.png', appDir).pathname });
    },
  );

  // docs/screenshot-phone.png: a shopper on a 390 × 844 phone sees the copy Alice left.
  it.runIf(runtime === 'node' && process.env['UPDATE_SCREENSHOTS'] === '1')(
    'saves a phone screenshot for the README',
    async () => {
      const phone = await shopper({
        viewport: { width: 390, height: 844 },
        isMobile: true,
        hasTouch: true,
      });
      await stockLine(phone, 1).waitFor();
      await phone.screenshot({ path: new URL('docs/screenshot-phone.png', appDir).pathname });
    },
  );

  it('a reload keeps the cart', async () => {
    await alice.reload();
    await alice.getByText('One copy is in your cart.').waitFor();
    await alice.getByRole('button', { name: 'Remove from Cart' }).waitFor();
  });

  it('sold out disables Add to Cart, with the reason shown', async () => {
    await bob.getByRole('button', { name: 'Add to Cart' }).click();
    await bob.getByText('One copy is in your cart.').waitFor();
    carol = await shopper();
    const add = carol.getByRole('button', { name: 'Add to Cart' });
    await carol.getByText('Sold out', { exact: true }).waitFor();
    await expect.poll(() => add.isDisabled()).toBe(true);
    const reason = carol.getByText(/Every copy is in someone's cart/);
    await reason.waitFor();
    expect(await reason.isVisible()).toBe(true);
    // The reason is the button's accessible description, not just nearby text.
    const describedBy = await add.getAttribute('aria-describedby');
    expect(describedBy).not.toBeNull();
  });

  it('a remove puts the copy back for everyone', async () => {
    await alice.getByRole('button', { name: 'Remove from Cart' }).click();
    await stockLine(alice, 1).waitFor();
    await stockLine(carol, 1).waitFor();
    await expect
      .poll(() => carol.getByRole('button', { name: 'Add to Cart' }).isEnabled())
      .toBe(true);
    // Bob still holds his copy, in every tab of his.
    await bob.getByText('One copy is in your cart.').waitFor();
  });
});
