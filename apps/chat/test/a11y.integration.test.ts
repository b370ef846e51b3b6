import {
  expectNoAxeViolations,
  launchChromium,
  type ServerProcess,
  startServer,
} from '@gale/test-utils';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

// Accessibility of the production build (`pnpm build`, then `pnpm start`) in real Chromium: axe-core
// on every state of the page, at desktop and phone sizes, in light and dark; the keyboard-only
// path; what screen readers are told (live regions, alerts, names); the phone layout; the favicon.
const appDir = new URL('../', import.meta.url);
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const RESERVED = 'This nickname is reserved, please choose another';
const TAKEN = 'Nickname already in use, please choose another';

let server: ServerProcess;
let browser: Browser;
const contexts: BrowserContext[] = [];

interface PersonOptions {
  readonly viewport?: { width: number; height: number };
  readonly colorScheme?: 'light' | 'dark';
  readonly reducedMotion?: 'reduce' | 'no-preference';
}

/** A new browser context (its own cookies) with the page loaded and its login form shown. */
async function newPerson(options: PersonOptions = {}): Promise<Page> {
  const context = await browser.newContext({ viewport: options.viewport ?? DESKTOP });
  contexts.push(context);
  const page = await context.newPage();
  await page.emulateMedia({
    colorScheme: options.colorScheme ?? 'light',
    reducedMotion: options.reducedMotion ?? 'no-preference',
  });
  await page.goto(server.url);
  await nicknameBox(page).waitFor();
  return page;
}

const nicknameBox = (page: Page): Locator => page.getByRole('textbox', { name: 'Nickname' });
const messageBox = (page: Page): Locator => page.getByRole('textbox', { name: 'Message' });
const messageLog = (page: Page): Locator => page.getByRole('log', { name: 'Messages' });

async function join(page: Page, nickname: string): Promise<void> {
  await nicknameBox(page).fill(nickname);
  await page.getByRole('button', { name: 'Join' }).click();
}

async function joinRoom(page: Page, nickname: string): Promise<void> {
  await join(page, nickname);
  await messageBox(page).waitFor();
  await expect.poll(() => page.getByRole('status').textContent()).toBe('Connected');
}

async function say(page: Page, text: string): Promise<void> {
  await messageBox(page).fill(text);
  await page.getByRole('button', { name: 'Send' }).click();
}

/** Whether this element (in whichever shadow root) has the focus. */
function isFocused(locator: Locator): Promise<boolean> {
  return locator.evaluate((el) => el.matches(':focus'));
}

/** The element that has the focus, through shadow roots: `input Nickname`, `button Join`, … */
function focused(page: Page): Promise<string> {
  return page.evaluate(() => {
    let el = document.activeElement;
    while (el?.shadowRoot?.activeElement) el = el.shadowRoot.activeElement;
    if (el === null || el === document.body) return 'nothing';
    const label = (el as HTMLInputElement).labels?.[0]?.textContent;
    const name = el.getAttribute('aria-label') ?? label ?? el.textContent ?? '';
    return `${el.localName} ${name.trim()}`.trim();
  });
}

/** Fails unless the focused control shows a focus ring (`:focus-visible`, an outline ≥ 2 px). */
async function expectFocusRing(locator: Locator): Promise<void> {
  const ring = await locator.evaluate((el) => {
    const style = getComputedStyle(el);
    return {
      focusVisible: el.matches(':focus-visible'),
      outline: style.outlineStyle === 'none' ? 0 : Number.parseFloat(style.outlineWidth),
    };
  });
  const name = await locator.evaluate((el) => el.getAttribute('aria-label') ?? el.textContent);
  expect(ring.focusVisible, `${name} matches :focus-visible`).toBe(true);
  expect(ring.outline, `${name}'s focus outline, in px`).toBeGreaterThanOrEqual(2);
}

/** Presses Tab (or Shift+Tab) until `target` has the focus; fails after `max` presses. */
async function tabTo(page: Page, target: Locator, key: 'Tab' | 'Shift+Tab', max = 8) {
  const path: string[] = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press(key);
    path.push(await focused(page));
    if (await isFocused(target)) return;
  }
  throw new Error(`${key} never reached the target; focus went: ${path.join(' → ')}`);
}

/** What `aria-describedby` of this element says (the texts it points at, in its own root). */
function description(locator: Locator): Promise<string> {
  return locator.evaluate((el) => {
    const root = el.getRootNode() as Document | ShadowRoot;
    return (el.getAttribute('aria-describedby') ?? '')
      .split(/\s+/)
      .map((id) => (id ? (root.getElementById(id)?.textContent?.trim() ?? '') : ''))
      .join(' ')
      .trim();
  });
}

async function expectNoHorizontalScroll(page: Page, label: string): Promise<void> {
  const sizes = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
  }));
  expect(sizes.scrollWidth, `horizontal scroll: ${label}`).toBeLessThanOrEqual(sizes.innerWidth);
}

/** Fails unless the element lies entirely inside the viewport (no scrolling needed). */
async function expectInFirstViewport(page: Page, locator: Locator, label: string): Promise<void> {
  const box = await locator.boundingBox();
  const viewport = page.viewportSize()!;
  expect(box, `${label} is not rendered`).not.toBeNull();
  const { x, y, width, height } = box!;
  const edges = { left: x, top: y, right: x + width, bottom: y + height };
  expect(
    edges.left >= 0 &&
      edges.top >= 0 &&
      edges.right <= viewport.width &&
      edges.bottom <= viewport.height,
    `${label} (${JSON.stringify(edges)}) is outside the first ${viewport.width}×${viewport.height} viewport`,
  ).toBe(true);
}

/** Fails unless every visible button, input and link is at least 44×44 CSS pixels. */
async function expectTapTargets(page: Page, label: string): Promise<void> {
  const small: string[] = [];
  for (const control of await page.locator('button, input, a[href]').all()) {
    if (!(await control.isVisible())) continue;
    const box = (await control.boundingBox())!;
    if (box.width < 44 || box.height < 44) {
      const name = await control.evaluate(
        (el) => `${el.localName} ${el.getAttribute('aria-label') ?? el.textContent?.trim()}`,
      );
      small.push(`${name}: ${Math.round(box.width)}×${Math.round(box.height)}`);
    }
  }
  expect(small, `tap targets under 44×44 px: ${label}`).toEqual([]);
}

beforeAll(async () => {
  // Production refuses to start without COOKIE_SECRET (see test/production-start).
  server = await startServer(appDir, { COOKIE_SECRET: 'a11y secret' });
  browser = await launchChromium();
});

afterEach(async () => {
  for (const context of contexts.splice(0)) await context.close().catch(() => {});
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

describe('axe-core finds no violations', () => {
  const cases = [
    { size: 'desktop', viewport: DESKTOP, colorScheme: 'light' },
    { size: 'desktop', viewport: DESKTOP, colorScheme: 'dark' },
    { size: 'phone', viewport: PHONE, colorScheme: 'light' },
    { size: 'phone', viewport: PHONE, colorScheme: 'dark' },
  ] as const;

  it.each(cases)(
    'at $viewport.width px in $colorScheme: login, refused names, the room in use, after leaving',
    async ({ size, viewport, colorScheme }) => {
      const where = `${viewport.width}px ${colorScheme}`;
      const ada = `Ada ${size} ${colorScheme}`;
      const bob = `Bob ${size} ${colorScheme}`;
      const adas = await newPerson({ viewport, colorScheme });
      await expectNoAxeViolations(adas, `${where}, login form`);

      await join(adas, 'You');
      await expect.poll(() => adas.getByRole('alert').textContent()).toBe(RESERVED);
      await expectNoAxeViolations(adas, `${where}, reserved name refused (400)`);

      await joinRoom(adas, ada);
      await expectNoAxeViolations(adas, `${where}, alone in the empty room`);

      const bobs = await newPerson({ viewport, colorScheme });
      await join(bobs, ada.toUpperCase());
      await expect.poll(() => bobs.getByRole('alert').textContent()).toBe(TAKEN);
      await expectNoAxeViolations(bobs, `${where}, taken name refused (409)`);

      await joinRoom(bobs, bob);
      await say(adas, `Hello ${bob}!`);
      await say(bobs, `${where}: Donaudampfschifffahrtsgesellschaftskapitänsmützenhalter`);
      await adas.getByText(`${where}: Donau`).waitFor();
      await bobs.getByText(`Hello ${bob}!`).waitFor();
      await expectNoAxeViolations(adas, `${where}, room with messages (own and others')`);
      await expectNoAxeViolations(bobs, `${where}, room with history and messages`);

      // A refused message (the error under the box) and a draft near the limit (the count).
      await say(bobs, 'x'.repeat(2001));
      await expect
        .poll(() => bobs.getByRole('alert').textContent())
        .toBe('Message too long (max 2000 characters)');
      await messageBox(bobs).fill('y'.repeat(2001));
      await bobs.getByText('2001 / 2000').waitFor();
      await expectNoAxeViolations(bobs, `${where}, a refused message and a draft over the limit`);

      await bobs.getByRole('button', { name: 'Leave' }).click();
      await nicknameBox(bobs).waitFor();
      await expectNoAxeViolations(bobs, `${where}, back at the login form after leaving`);
    },
    120_000,
  );
});

describe('keyboard only', () => {
  it('logs in (after a refused name), sends a message and leaves with Tab and Enter, focus always visible', async () => {
    const page = await newPerson();
    const nickname = nicknameBox(page);
    const joinButton = page.getByRole('button', { name: 'Join' });

    // The page opens with the focus in the nickname box.
    await expect.poll(() => focused(page)).toBe('input Nickname');
    await expectFocusRing(nickname);

    // A refused name, submitted from the Join button: the focus comes back to the box, which
    // says why.
    await page.keyboard.type('You');
    await tabTo(page, joinButton, 'Tab');
    await expectFocusRing(joinButton);
    await page.keyboard.press('Enter');
    await expect.poll(() => page.getByRole('alert').textContent()).toBe(RESERVED);
    await expect.poll(() => focused(page)).toBe('input Nickname');
    expect(await nickname.getAttribute('aria-invalid')).toBe('true');
    expect(await description(nickname)).toBe(RESERVED);

    // Joining: Enter in the box, then the focus is in the message box.
    await page.keyboard.press('Control+A');
    await page.keyboard.type('Kay Board');
    await page.keyboard.press('Enter');
    await expect.poll(() => focused(page)).toBe('input Message');
    await expectFocusRing(messageBox(page));

    // Sending: Enter; the box is empty again and keeps the focus.
    await page.keyboard.type('Typed, not clicked');
    await page.keyboard.press('Enter');
    await messageLog(page).getByText('Typed, not clicked').waitFor();
    expect(await messageBox(page).inputValue()).toBe('');
    expect(await focused(page)).toBe('input Message');

    // Send is reachable too.
    await tabTo(page, page.getByRole('button', { name: 'Send' }), 'Tab');
    await expectFocusRing(page.getByRole('button', { name: 'Send' }));

    // Leaving: back to Leave, Enter; then the login form has the focus and says what happened.
    const leave = page.getByRole('button', { name: 'Leave' });
    await tabTo(page, leave, 'Shift+Tab');
    await expectFocusRing(leave);
    await page.keyboard.press('Enter');
    await expect.poll(() => focused(page)).toBe('input Nickname');
    await page.getByRole('status').filter({ hasText: 'You left the room.' }).waitFor();
  });
});

describe('screen readers', () => {
  it('hear messages and join notices of others through the Messages log', async () => {
    const ada = await newPerson();
    await joinRoom(ada, 'Ada live');
    const log = messageLog(ada);
    // Silent for a moment while the history is drawn, then live.
    await expect.poll(() => log.getAttribute('aria-live')).toBe('polite');

    const bob = await newPerson();
    await joinRoom(bob, 'Bob live');
    await log.getByRole('listitem').filter({ hasText: 'Bob live joined' }).waitFor();
    await say(bob, 'Can you hear me?');
    await log.getByRole('listitem').filter({ hasText: 'Can you hear me?' }).waitFor();
    // Bob's log was filled with the history when he came in; it is live again for what follows.
    await expect.poll(() => messageLog(bob).getAttribute('aria-live')).toBe('polite');
    expect(await log.getAttribute('aria-live')).toBe('polite');

    await bob.getByRole('button', { name: 'Leave' }).click();
    await log.getByRole('listitem').filter({ hasText: 'Bob live left' }).waitFor();
  });

  it('hear a refused message as an alert', async () => {
    const page = await newPerson();
    await joinRoom(page, 'Al Ert');
    await say(page, 'x'.repeat(2001));
    await expect
      .poll(() => page.getByRole('alert').textContent())
      .toBe('Message too long (max 2000 characters)');
  });

  it('get a named control for everything, and a page with a heading, header and main', async () => {
    const page = await newPerson();
    expect(await page.getByRole('main').count()).toBe(1);
    expect(await page.getByRole('heading', { level: 1, name: 'Chat' }).count()).toBe(1);
    await joinRoom(page, 'Struc Ture');
    expect(await page.getByRole('banner').count()).toBe(1);
    expect(await page.getByRole('main').count()).toBe(1);
    expect(await page.getByRole('heading', { level: 1, name: 'Chat' }).count()).toBe(1);
    for (const control of [
      page.getByRole('button', { name: 'Leave' }),
      page.getByRole('button', { name: 'Send' }),
      messageBox(page),
      messageLog(page),
    ]) {
      expect(await control.count()).toBe(1);
    }
  });
});

describe('on a phone (390×844)', () => {
  it('shows the login form, then the message box and Send, without scrolling', async () => {
    const page = await newPerson({ viewport: PHONE });
    await expectInFirstViewport(page, nicknameBox(page), 'the nickname box');
    await expectInFirstViewport(page, page.getByRole('button', { name: 'Join' }), 'Join');
    await expectNoHorizontalScroll(page, 'login form');
    await expectTapTargets(page, 'login form');

    await joinRoom(page, 'Bartholomew Featherstone');
    await expectInFirstViewport(page, messageBox(page), 'the message box');
    await expectInFirstViewport(page, page.getByRole('button', { name: 'Send' }), 'Send');
    await expectInFirstViewport(page, page.getByRole('button', { name: 'Leave' }), 'Leave');
    await expectNoHorizontalScroll(page, 'room');
    await expectTapTargets(page, 'room');

    // Many messages, long words: the box stays in view, the page never scrolls sideways.
    for (let i = 1; i <= 12; i++) await say(page, `Message ${i} ${'ab'.repeat(i * 10)}`);
    await messageLog(page).getByText('Message 12').waitFor();
    await expectInFirstViewport(page, messageBox(page), 'the message box, after 12 messages');
    await expectInFirstViewport(page, page.getByRole('button', { name: 'Send' }), 'Send, after');
    await expectNoHorizontalScroll(page, 'room with long messages');

    await page.getByRole('button', { name: 'Leave' }).click();
    await expectInFirstViewport(page, nicknameBox(page), 'the nickname box after leaving');
    await expectNoHorizontalScroll(page, 'after leaving');
  });
});

describe('finish', () => {
  it('has a favicon, and nothing on the page answers 404 (or any error)', async () => {
    const context = await browser.newContext({ viewport: DESKTOP });
    contexts.push(context);
    const page = await context.newPage();
    const failed: string[] = [];
    page.on('response', (response) => {
      if (response.status() >= 400) failed.push(`${response.status()} ${response.url()}`);
    });
    page.on('requestfailed', (request) => failed.push(`failed ${request.url()}`));
    page.on('console', (message) => {
      if (message.type() === 'error') failed.push(`console: ${message.text()}`);
    });
    await page.goto(server.url);
    await nicknameBox(page).waitFor();
    const icon = await page.evaluate(async () => {
      const link = document.querySelector<HTMLLinkElement>('link[rel~="icon"]');
      if (link === null) return null;
      const response = await fetch(link.href);
      return { status: response.status, type: response.headers.get('content-type') };
    });
    expect(icon).toEqual({ status: 200, type: expect.stringMatching(/^image\/svg\+xml/) });
    await joinRoom(page, 'Fav Icon');
    await say(page, 'no errors, please');
    await page.getByText('no errors, please').waitFor();
    expect(failed).toEqual([]);
  });

  it('animates a new message only when motion is welcome', async () => {
    const calm = await newPerson({ reducedMotion: 'reduce' });
    await joinRoom(calm, 'Calm');
    await say(calm, 'still');
    const still = calm.getByRole('listitem').filter({ hasText: 'still' });
    await still.waitFor();
    expect(await still.evaluate((el) => getComputedStyle(el).animationName)).toBe('none');

    const lively = await newPerson({ reducedMotion: 'no-preference' });
    await joinRoom(lively, 'Lively');
    await say(lively, 'moving');
    const moving = lively.getByRole('listitem').filter({ hasText: 'moving' });
    await moving.waitFor();
    expect(await moving.evaluate((el) => getComputedStyle(el).animationName)).not.toBe('none');
  });
});
