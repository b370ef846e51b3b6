import {
  type ForgedPost,
  type ForgeryOptions,
  forgePost,
  launchChromium,
  type ServerProcess,
  startServer,
} from '@gale/test-utils';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CartMessage } from '../server/messages.js';

// Cross-site request forgery against the production build (`pnpm build`, then `pnpm start`), in
// real Chromium: the shopper's page is open on http://127.0.0.1:PORT, and an attacker's page,
// served from another port of the same host (the same site: SameSite=Lax cookies go along, and
// cookies ignore ports, so it can even read the _xsrf cookie) or from http://localhost (another
// site), posts a form to /cart. The cart must not change, and no cookie may land.
const appDir = new URL('../', import.meta.url);
let server: ServerProcess;
let browser: Browser;
let cartUrl: string;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  server = await startServer(appDir, {
    INITIAL_STOCK: '5',
    COOKIE_SECRET: 'csrf-secret-0123456789',
  });
  cartUrl = `${server.url}cart`;
  browser = await launchChromium();
});

afterEach(async () => {
  for (const context of contexts.splice(0)) await context.close().catch(() => {});
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

/** A shopper with the shop open (its first GET /cart done and the live count shown). */
async function shopper(): Promise<Page> {
  const context = await browser.newContext();
  contexts.push(context);
  const page = await context.newPage();
  await page.goto(server.url);
  // The connection's status region (the page has another, for screen readers).
  const connection = page.locator('connection-status').getByRole('status');
  await expect.poll(() => connection.textContent()).toBe('Live');
  return page;
}

/** The shopper's cookies for the shop, by name. */
async function cookiesOf(page: Page): Promise<Record<string, string>> {
  const cookies = await page.context().cookies(server.url);
  return Object.fromEntries(cookies.map((cookie) => [cookie.name, cookie.value]));
}

/** The cart as the server keeps it for these cookies (GET /cart changes nothing). */
async function cartOf(cookies: Record<string, string>): Promise<CartMessage> {
  const header = Object.entries(cookies)
    .map(([name, value]) => `${name}=${value}`)
    .join('; ');
  const response = await fetch(cartUrl, { headers: { Cookie: header } });
  return (await response.json()) as CartMessage;
}

/** The attacker's page, served from `from`, posts `fields` to /cart in a new tab of the victim's. */
function forge(
  victim: Page,
  from: ForgeryOptions['from'],
  fields: Record<string, string>,
): Promise<ForgedPost> {
  return forgePost(victim.context(), { target: cartUrl, fields, from });
}

describe('a forged POST /cart in Chromium', () => {
  it('from another port of the same host, with the _xsrf cookie it read, adds nothing', async () => {
    const victim = await shopper();
    const cookies = await cookiesOf(victim);
    const cart = await cartOf(cookies);
    expect(cart.inCart).toBe(false);

    const forgery = await forge(victim, '127.0.0.1', { action: 'add' });

    expect(await cartOf(cookies)).toEqual(cart);
    expect(await cookiesOf(victim)).toEqual(cookies);
    expect(forgery.status).toBe(403);
    expect(forgery.setCookie).toBeNull();
    // It did send the token: the same-origin check alone stopped it.
    expect(forgery.body).toMatch(/(^|&)_xsrf=2%7C/);
  });

  it('from another port of the same host, with the _xsrf cookie it read, removes nothing', async () => {
    const victim = await shopper();
    await victim.getByRole('button', { name: 'Add to Cart' }).click();
    await victim.getByText('One copy is in your cart.').waitFor();
    const cookies = await cookiesOf(victim);
    const cart = await cartOf(cookies);
    expect(cart.inCart).toBe(true);

    const forgery = await forge(victim, '127.0.0.1', { action: 'remove' });

    expect(await cartOf(cookies)).toEqual(cart);
    expect(await cookiesOf(victim)).toEqual(cookies);
    expect(forgery.status).toBe(403);
    expect(forgery.setCookie).toBeNull();
    expect(forgery.body).toMatch(/(^|&)_xsrf=2%7C/);
    // The shopper's tab still shows the copy, and Remove from Cart still works there.
    await victim.getByRole('button', { name: 'Remove from Cart' }).click();
    await victim.getByText(/left in stock! Order now!/).waitFor();
    expect((await cartOf(cookies)).inCart).toBe(false);
  });

  it('from another site gives the browser no new session and reserves no copy', async () => {
    const victim = await shopper();
    await victim.getByRole('button', { name: 'Add to Cart' }).click();
    await victim.getByText('One copy is in your cart.').waitFor();
    const cookies = await cookiesOf(victim);
    const cart = await cartOf(cookies);

    const forgery = await forge(victim, 'localhost', { action: 'add' });

    expect(await cookiesOf(victim)).toEqual(cookies);
    expect(await cartOf(cookies)).toEqual(cart);
    expect(forgery.status).toBe(403);
    expect(forgery.setCookie).toBeNull();
    // SameSite=Lax kept every cookie out of it, so it had no token to send.
    expect(forgery.body).toBe('action=add');
  });

  it("leaves the shop's own page working: with the _xsrf cookie cleared, it gets one again", async () => {
    const victim = await shopper();
    await victim.context().clearCookies({ name: '_xsrf' });
    await victim.getByRole('button', { name: 'Add to Cart' }).click();
    await victim.getByText('One copy is in your cart.').waitFor();
    expect(await cookiesOf(victim)).toHaveProperty('_xsrf');
    await victim.getByRole('button', { name: 'Remove from Cart' }).click();
    await victim.getByRole('button', { name: 'Add to Cart' }).waitFor();
    // The alert region is always on the page; it says nothing.
    expect(await victim.getByRole('alert').textContent()).toBe('');
  });
});
