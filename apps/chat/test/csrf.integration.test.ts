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
import { type Endpoint, login } from './helpers.js';

// Cross-site request forgery against the production build (`pnpm build`, then `pnpm start`), in
// real Chromium: the victim's page is open on http://127.0.0.1:PORT, and an attacker's page,
// served from another port of the same host (the same site: SameSite=Lax cookies go along, and
// cookies ignore ports, so it can even read the _xsrf cookie) or from http://localhost (another
// site), posts a form to /login (login CSRF: the victim would chat as the attacker) or /logout
// (logout CSRF). Nobody may be signed in or out, and no cookie may land.
const appDir = new URL('../', import.meta.url);
let server: ServerProcess;
let endpoint: Endpoint;
let browser: Browser;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  server = await startServer(appDir, { COOKIE_SECRET: 'csrf secret' });
  const origin = server.url.replace(/\/$/, '');
  endpoint = { http: origin, ws: `${origin.replace('http', 'ws')}/chat` };
  browser = await launchChromium();
});

afterEach(async () => {
  for (const context of contexts.splice(0)) await context.close().catch(() => {});
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

/** A browser with the chat open at the login form (its first GET /login answered). */
async function visitor(): Promise<Page> {
  const context = await browser.newContext();
  contexts.push(context);
  const page = await context.newPage();
  await page.goto(server.url);
  await page.getByRole('textbox', { name: 'Nickname' }).waitFor();
  return page;
}

/** A browser signed in as `nickname` through the page, in the room and connected. */
async function member(nickname: string): Promise<Page> {
  const page = await visitor();
  await page.getByRole('textbox', { name: 'Nickname' }).fill(nickname);
  await page.getByRole('button', { name: 'Join' }).click();
  await expect.poll(() => page.getByRole('status').textContent()).toBe('Connected');
  return page;
}

/** The browser's cookies for the chat, by name. */
async function cookiesOf(page: Page): Promise<Record<string, string>> {
  const cookies = await page.context().cookies(server.url);
  return Object.fromEntries(cookies.map((cookie) => [cookie.name, cookie.value]));
}

/** Who the server says these cookies are signed in as (GET /login), or null. */
async function signedInAs(cookies: Record<string, string>): Promise<string | null> {
  const header = Object.entries(cookies)
    .map(([name, value]) => `${name}=${value}`)
    .join('; ');
  const response = await fetch(`${endpoint.http}/login`, { headers: { Cookie: header } });
  return ((await response.json()) as { nickname: string | null }).nickname;
}

/** The attacker's page, served from `from`, posts `fields` to `path` in a new tab of the victim's. */
function forge(
  victim: Page,
  from: ForgeryOptions['from'],
  path: '/login' | '/logout',
  fields: Record<string, string> = {},
): Promise<ForgedPost> {
  return forgePost(victim.context(), { target: `${endpoint.http}${path}`, fields, from });
}

/** Whether `page`'s room connection still carries what it says (a logout would have closed it). */
async function stillChatting(page: Page, text: string): Promise<void> {
  await page.getByRole('textbox', { name: 'Message' }).fill(text);
  await page.getByRole('button', { name: 'Send' }).click();
  await page.getByRole('log', { name: 'Messages' }).getByText(text).waitFor();
}

describe('login CSRF in Chromium', () => {
  it('a form from another site does not sign the browser in as the attacker', async () => {
    const victim = await visitor();
    const cookies = await cookiesOf(victim);

    const forgery = await forge(victim, 'localhost', '/login', { nickname: 'mallory1' });

    expect(await cookiesOf(victim)).toEqual(cookies);
    expect(await signedInAs(cookies)).toBeNull();
    expect(forgery.status).toBe(403);
    expect(forgery.setCookie).toBeNull();
    // No one claimed the nickname either.
    expect((await login(endpoint, 'mallory1')).status).toBe(200);
  });

  it('a form from another port of the same host, with the _xsrf cookie it read, signs nobody in', async () => {
    const victim = await visitor();
    const cookies = await cookiesOf(victim);

    const forgery = await forge(victim, '127.0.0.1', '/login', { nickname: 'mallory2' });

    expect(await cookiesOf(victim)).toEqual(cookies);
    expect(await signedInAs(cookies)).toBeNull();
    expect(forgery.status).toBe(403);
    expect(forgery.setCookie).toBeNull();
    // It did send the token: the same-origin check alone stopped it.
    expect(forgery.body).toMatch(/(^|&)_xsrf=2%7C/);
    expect((await login(endpoint, 'mallory2')).status).toBe(200);
  });
});

describe('logout CSRF in Chromium', () => {
  it('a form from another port of the same host, with the _xsrf cookie it read, signs nobody out', async () => {
    const victim = await member('Vic');
    const cookies = await cookiesOf(victim);

    const forgery = await forge(victim, '127.0.0.1', '/logout');

    expect(await cookiesOf(victim)).toEqual(cookies);
    // A logout would have closed the page's connection (4001) and freed the nickname.
    await stillChatting(victim, 'Still here.');
    expect((await login(endpoint, 'Vic')).status).toBe(409);
    expect(await signedInAs(cookies)).toBe('Vic');
    expect(forgery.status).toBe(403);
    expect(forgery.setCookie).toBeNull();
    expect(forgery.body).toMatch(/^_xsrf=2%7C/);
    expect(await victim.getByText('Signed in as Vic').isVisible()).toBe(true);
  });

  it('a form from another site signs nobody out and clears no cookie', async () => {
    const victim = await member('Val');
    const cookies = await cookiesOf(victim);

    const forgery = await forge(victim, 'localhost', '/logout');

    expect(await cookiesOf(victim)).toEqual(cookies);
    await stillChatting(victim, 'Still here too.');
    expect((await login(endpoint, 'Val')).status).toBe(409);
    expect(await signedInAs(cookies)).toBe('Val');
    expect(forgery.status).toBe(403);
    expect(forgery.setCookie).toBeNull();
  });

  it("leaves the chat's own page working: Leave after a forgery, and Join with the _xsrf cookie cleared", async () => {
    const victim = await member('Viv');
    await forge(victim, '127.0.0.1', '/logout');
    await victim.getByRole('button', { name: 'Leave' }).click();
    await victim.getByRole('textbox', { name: 'Nickname' }).waitFor();
    await expect.poll(async () => (await cookiesOf(victim))['nickname']).toBeUndefined();
    expect(await victim.getByText('You left the room.').isVisible()).toBe(true);
    // Freed: someone else may take the nickname.
    expect((await login(endpoint, 'Viv')).status).toBe(200);

    await victim.context().clearCookies({ name: '_xsrf' });
    await victim.getByRole('textbox', { name: 'Nickname' }).fill('Viv2');
    await victim.getByRole('button', { name: 'Join' }).click();
    await expect.poll(() => victim.getByRole('status').textContent()).toBe('Connected');
    expect(await cookiesOf(victim)).toHaveProperty('_xsrf');
  });
});
