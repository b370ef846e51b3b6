import {
  expectFitsPhone,
  expectNoAxeViolations,
  launchChromium,
  type ServerProcess,
  startServer,
} from '@gale/test-utils';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

// Accessibility of the production build (`pnpm build`, then `pnpm start`) in real Chromium: axe at
// a desktop and a phone width in both colour schemes, the keyboard, what screen readers are
// given, the phone layout, the favicon and reduced motion.
const appDir = new URL('../', import.meta.url);
const DESKTOP = { width: 1280, height: 800 } as const;
const PHONE = { width: 390, height: 844 } as const;

let server: ServerProcess;
let browser: Browser;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  server = await startServer(appDir);
  browser = await launchChromium();
});

afterEach(async () => {
  await Promise.all(contexts.splice(0).map((context) => context.close()));
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

interface OpenOptions {
  readonly viewport?: { readonly width: number; readonly height: number };
  readonly colorScheme?: 'light' | 'dark';
  readonly reducedMotion?: 'reduce' | 'no-preference';
}

/** A new page (in its own context, as axe needs) at `viewport`, before it loads anything. */
async function newPage(viewport: OpenOptions['viewport'] = DESKTOP): Promise<Page> {
  const context = await browser.newContext({ viewport });
  contexts.push(context);
  return context.newPage();
}

/** A fresh page on the console, connected to /websocket. */
async function open(options: OpenOptions = {}): Promise<Page> {
  const page = await newPage(options.viewport);
  // A missing element fails in seconds, not at the test's timeout.
  page.setDefaultTimeout(10_000);
  await page.emulateMedia({
    colorScheme: options.colorScheme ?? 'light',
    reducedMotion: options.reducedMotion ?? 'no-preference',
  });
  await page.goto(server.url);
  await expectConnected(page);
  return page;
}

async function expectConnected(page: Page): Promise<void> {
  await expect.poll(() => page.getByRole('status').first().textContent()).toBe('Connected');
}

const messageBox = (page: Page): Locator => page.getByRole('textbox', { name: 'Message' });
const sendButton = (page: Page): Locator => page.getByRole('button', { name: 'Send' });
const messageLog = (page: Page): Locator => page.getByRole('log', { name: 'Messages' });
const route = (page: Page, path: '/websocket' | '/echo'): Locator =>
  page.getByRole('button', { name: new RegExp(`^${path}\\b`) });

/** The log's lines, as read: "You: hi", "Server: You said: hi", "Switched to /echo". */
function logLines(page: Page): Promise<string[]> {
  return messageLog(page)
    .getByRole('listitem')
    .evaluateAll((items) => items.map((item) => item.textContent!.replace(/\s+/g, ' ').trim()));
}

async function waitForLines(page: Page, ...lines: string[]): Promise<void> {
  await expect.poll(() => logLines(page)).toEqual(expect.arrayContaining(lines));
}

async function sendByMouse(page: Page, text: string): Promise<void> {
  await messageBox(page).fill(text);
  await sendButton(page).click();
}

async function switchRoute(page: Page, path: '/websocket' | '/echo'): Promise<void> {
  await route(page, path).click();
  await expect.poll(() => route(page, path).getAttribute('aria-pressed')).toBe('true');
  await expectConnected(page);
}

/** Text to /websocket and its reply, then the exact echo of text and of binary from /echo. */
async function exchangeMessages(page: Page): Promise<void> {
  await sendByMouse(page, 'hello, gale');
  await waitForLines(page, 'You: hello, gale', 'Server: You said: hello, gale');
  await switchRoute(page, '/echo');
  await sendByMouse(page, 'exact <b>text</b>');
  await waitForLines(page, 'You: exact <b>text</b>', 'Server: exact <b>text</b>');
  await page.getByRole('checkbox', { name: 'Send as binary' }).check();
  await sendByMouse(page, 'bytes');
  await waitForLines(page, 'You: bytes (binary)', 'Server: bytes (binary)');
}

/** Whether the element is the focused one (inside its shadow root) and how its ring looks. */
function focusOf(locator: Locator): Promise<{
  focused: boolean;
  focusVisible: boolean;
  outlineStyle: string;
  outlineWidth: number;
}> {
  return locator.evaluate((el) => {
    const style = getComputedStyle(el);
    return {
      focused: el.matches(':focus'),
      focusVisible: el.matches(':focus-visible'),
      outlineStyle: style.outlineStyle,
      outlineWidth: Number.parseFloat(style.outlineWidth),
    };
  });
}

async function isFocused(locator: Locator): Promise<boolean> {
  return (await focusOf(locator)).focused;
}

/** Presses Tab (Shift+Tab with `backwards`) until `target` has the focus, at most 12 times. */
async function tabTo(page: Page, target: Locator, backwards = false): Promise<void> {
  for (let i = 0; i < 12; i++) {
    await page.keyboard.press(backwards ? 'Shift+Tab' : 'Tab');
    if (await isFocused(target)) return;
  }
  throw new Error(`${target} never got the focus from the keyboard`);
}

/** The focus ring the keyboard shows: our own 2 px (or thicker) outline, not the browser's. */
async function expectFocusRing(target: Locator): Promise<void> {
  const focus = await focusOf(target);
  expect(focus, `${target}`).toMatchObject({ focused: true, focusVisible: true });
  expect(focus.outlineStyle, `${target}'s outline`).not.toMatch(/^(none|auto)$/);
  expect(focus.outlineWidth, `${target}'s outline width`).toBeGreaterThanOrEqual(2);
}

describe('accessibility of the echo console', () => {
  describe.each([
    ['1280×800', 'light', DESKTOP],
    ['1280×800', 'dark', DESKTOP],
    ['390×844', 'light', PHONE],
    ['390×844', 'dark', PHONE],
  ] as const)('at %s, %s', (size, colorScheme, viewport) => {
    it('has no axe violations (WCAG 2.1 A/AA and best practices), empty and after messages are exchanged', async () => {
      const page = await open({ viewport, colorScheme });
      await expectNoAxeViolations(page, `empty, ${size}, ${colorScheme}`);
      await exchangeMessages(page);
      await expectNoAxeViolations(page, `after messages, ${size}, ${colorScheme}`);
      // An error on show, too.
      await messageBox(page).press('Enter');
      await page.getByRole('alert').filter({ hasText: /\S/ }).waitFor();
      await expectNoAxeViolations(page, `with an error, ${size}, ${colorScheme}`);
    });
  });

  it('follows the colour scheme: dark is dark, light is light', async () => {
    const background = (page: Page) =>
      page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const luminance = (rgb: string) => {
      const [r, g, b] = rgb.match(/\d+/g)!.map(Number);
      return (0.2126 * r! + 0.7152 * g! + 0.0722 * b!) / 255;
    };
    const light = await open({ colorScheme: 'light' });
    const dark = await open({ colorScheme: 'dark' });
    expect(luminance(await background(light))).toBeGreaterThan(0.8);
    expect(luminance(await background(dark))).toBeLessThan(0.2);
    // The card the controls sit on follows it too.
    const card = (page: Page) =>
      page
        .locator('.card')
        .first()
        .evaluate((el) => getComputedStyle(el).backgroundColor);
    expect(luminance(await card(dark))).toBeLessThan(0.25);
  });

  it('works from the keyboard alone: type, Enter to send, read the reply, focus kept in the box', async () => {
    const page = await open();
    const box = messageBox(page);
    await tabTo(page, box);
    await expectFocusRing(box);
    await page.keyboard.type('keyboard hello');
    await page.keyboard.press('Enter');
    await waitForLines(page, 'You: keyboard hello', 'Server: You said: keyboard hello');
    expect(await isFocused(box)).toBe(true);
    expect(await box.inputValue()).toBe('');

    // Tab to Send and press Enter there: the focus comes back to the box.
    await page.keyboard.type('by the button');
    await tabTo(page, sendButton(page));
    await expectFocusRing(sendButton(page));
    await page.keyboard.press('Enter');
    await waitForLines(page, 'Server: You said: by the button');
    expect(await isFocused(box)).toBe(true);

    // The log can be reached and scrolled from the keyboard.
    await tabTo(page, messageLog(page));
    await expectFocusRing(messageLog(page));
  });

  it('Escape clears the box; an empty message is an error announced as an alert, and the focus returns to the box', async () => {
    const page = await open();
    const box = messageBox(page);
    await tabTo(page, box);
    await page.keyboard.type('never mind');
    await page.keyboard.press('Escape');
    expect(await box.inputValue()).toBe('');
    expect(await isFocused(box)).toBe(true);

    // Enter on the empty box: an alert, the focus stays.
    await page.keyboard.press('Enter');
    const alert = page.getByRole('alert');
    await expect.poll(() => alert.textContent()).toMatch(/Type a message/);
    expect(await isFocused(box)).toBe(true);
    // Typing again dismisses it.
    await page.keyboard.type('x');
    await expect.poll(() => alert.textContent()).toBe('');

    // From the Send button: the alert, and the focus goes back to the box to type.
    await page.keyboard.press('Escape');
    await tabTo(page, sendButton(page));
    await page.keyboard.press('Enter');
    await expect.poll(() => alert.textContent()).toMatch(/Type a message/);
    expect(await isFocused(box)).toBe(true);
    // Escape dismisses it as well.
    await page.keyboard.press('Escape');
    await expect.poll(() => alert.textContent()).toBe('');
    expect(await logLines(page)).toEqual([]);
  });

  it('switches the route from the keyboard (Shift+Tab, Enter) and gets the exact echo, as text and binary', async () => {
    const page = await open();
    await tabTo(page, messageBox(page));
    const echo = route(page, '/echo');
    await tabTo(page, echo, true);
    await expectFocusRing(echo);
    expect(await echo.getAttribute('aria-pressed')).toBe('false');
    await page.keyboard.press('Enter');
    await expect.poll(() => echo.getAttribute('aria-pressed')).toBe('true');
    expect(await route(page, '/websocket').getAttribute('aria-pressed')).toBe('false');
    await expectConnected(page);
    await waitForLines(page, 'Switched to /echo');

    await tabTo(page, messageBox(page));
    await page.keyboard.type('exactly this');
    await page.keyboard.press('Enter');
    await waitForLines(page, 'You: exactly this', 'Server: exactly this');

    // "Send as binary" is a checkbox: Space toggles it, as everywhere.
    const binary = page.getByRole('checkbox', { name: 'Send as binary' });
    await tabTo(page, binary, true);
    await expectFocusRing(binary);
    await page.keyboard.press('Space');
    expect(await binary.isChecked()).toBe(true);
    await tabTo(page, messageBox(page));
    await page.keyboard.type('as bytes');
    await page.keyboard.press('Enter');
    await waitForLines(page, 'You: as bytes (binary)', 'Server: as bytes (binary)');
  });

  it('gives screen readers landmarks, headings, named controls and live regions for replies and errors', async () => {
    const page = await open();
    expect(await page.getByRole('banner').count()).toBe(1);
    expect(await page.getByRole('main').count()).toBe(1);
    expect(await page.getByRole('contentinfo').count()).toBe(1);
    expect(await page.getByRole('heading', { level: 1 }).allTextContents()).toEqual(['Echo']);
    expect(await page.getByRole('heading', { level: 2 }).allTextContents()).toEqual([
      'Send a message',
      'Messages',
    ]);
    expect(await page.getByRole('group', { name: 'Route' }).count()).toBe(1);

    // Every control has a name.
    for (const role of ['button', 'textbox', 'checkbox'] as const) {
      const all = await page.getByRole(role).count();
      expect(all, `${role}s`).toBeGreaterThan(0);
      expect(await page.getByRole(role, { name: /\S/ }).count(), `named ${role}s`).toBe(all);
    }
    // The box's label is on screen, not only in the accessibility tree.
    expect(await page.getByText('Message', { exact: true }).isVisible()).toBe(true);

    // The log is a live region (role="log", polite) from the start, with an empty state in it.
    const log = messageLog(page);
    expect(await log.getAttribute('aria-live')).toBe('polite');
    expect(await log.textContent()).toMatch(/No messages yet/);
    // Errors go to an alert that is in the page before they happen, so that it is announced.
    expect(await page.getByRole('alert').count()).toBe(1);

    // A reply is added inside the live region, and says who said it.
    await sendByMouse(page, 'announce me');
    await log.getByRole('listitem').filter({ hasText: 'You said: announce me' }).waitFor();
    expect(await log.textContent()).not.toMatch(/No messages yet/);
    await waitForLines(page, 'Server: You said: announce me');
  });

  it('fits a 390×844 phone: message box and Send in the first screen, no sideways scroll, 44 px tap targets', async () => {
    const page = await open({ viewport: PHONE });
    const tapTargets = [
      route(page, '/websocket'),
      route(page, '/echo'),
      page.locator('label').filter({ has: page.getByRole('checkbox') }),
      messageBox(page),
      sendButton(page),
    ];
    await expectFitsPhone(page, {
      aboveTheFold: [messageBox(page), sendButton(page)],
      tapTargets,
    });
    // Long words and many lines do not widen the page or push the box away.
    await switchRoute(page, '/echo');
    for (let i = 0; i < 8; i++) await sendByMouse(page, `line ${i} ${'x'.repeat(120)}`);
    await waitForLines(page, `Server: line 7 ${'x'.repeat(120)}`);
    await page.evaluate(() => window.scrollTo(0, 0));
    await expectFitsPhone(page, {
      aboveTheFold: [messageBox(page), sendButton(page)],
      tapTargets,
    });
  });

  it('has a favicon: no 404 and no console error on load', async () => {
    const page = await newPage();
    const problems: string[] = [];
    page.on('response', (response) => {
      if (response.status() >= 400) problems.push(`${response.status()} ${response.url()}`);
    });
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    await page.goto(server.url);
    await expectConnected(page);
    await sendByMouse(page, 'no errors');
    await page.getByText('You said: no errors').waitFor();
    // Chromium looks for the icon after the page has loaded, at a moment no event tells: fetch
    // what it fetches (the icon link's href, or /favicon.ico without one) to know it is there.
    const icon = await page.evaluate(
      () =>
        document.querySelector<HTMLLinkElement>('link[rel~="icon"]')?.href ??
        new URL('/favicon.ico', location.href).href,
    );
    const status = await page.evaluate(async (href) => (await fetch(href)).status, icon);
    await expect.poll(() => problems).toEqual([]);
    expect(status, icon).toBe(200);
    expect(await page.locator('link[rel~="icon"]').count()).toBe(1);
    // It is an image the browser can draw.
    const width = await page.evaluate(async (href) => {
      const image = new Image();
      image.src = href;
      await image.decode();
      return image.naturalWidth;
    }, icon);
    expect(width).toBeGreaterThan(0);
  });

  it('animates new log lines only when motion is welcome (prefers-reduced-motion)', async () => {
    const lastLineAnimation = async (page: Page) => {
      await sendByMouse(page, 'move?');
      await waitForLines(page, 'Server: You said: move?');
      return messageLog(page)
        .getByRole('listitem')
        .last()
        .evaluate((el) => getComputedStyle(el).animationName);
    };
    const moving = await open({ reducedMotion: 'no-preference' });
    expect(await lastLineAnimation(moving)).not.toBe('none');
    const still = await open({ reducedMotion: 'reduce' });
    expect(await lastLineAnimation(still)).toBe('none');
    const sendTransition = await sendButton(still).evaluate(
      (el) => getComputedStyle(el).transitionDuration,
    );
    expect(sendTransition.split(',').every((d) => Number.parseFloat(d) === 0)).toBe(true);
  });
});
