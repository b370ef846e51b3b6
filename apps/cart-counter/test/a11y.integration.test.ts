import {
  expectNoAxeViolations,
  launchChromium,
  type ServerProcess,
  startServer,
} from '@gale/test-utils';
import type { Browser, BrowserContext, BrowserContextOptions, Page, Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Accessibility of the production build (`pnpm build`, then `pnpm start`) in real Chromium: axe in
// both colour schemes at 1280 and 390 px through the main states, the keyboard-only path, what
// screen readers hear (live regions, names, headings, landmarks), the phone layout, and the
// finish (favicon, no failed requests, a dark palette, no motion when reduced motion is asked).
// Each describe runs its own server with one copy on the shelf, so a second shopper can sell out.
const appDir = new URL('../', import.meta.url);
let browser: Browser;

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
/** What is left of 844 px below and above Safari's toolbars on a 390 × 844 iPhone. */
const BROWSER_TOOLBARS_LEAVE = 664;
const PHONE_CONTEXT: BrowserContextOptions = { viewport: PHONE, isMobile: true, hasTouch: true };
const UNAVAILABLE = "The shop can't reach its stock right now; try again in a moment";

const VIEWS = [
  { name: '1280 px, light', viewport: DESKTOP, colorScheme: 'light' },
  { name: '1280 px, dark', viewport: DESKTOP, colorScheme: 'dark' },
  { name: '390 px, light', viewport: PHONE, colorScheme: 'light' },
  { name: '390 px, dark', viewport: PHONE, colorScheme: 'dark' },
] as const;

/** axe in each of VIEWS (the page's viewport and colour scheme are changed in place). */
async function expectNoAxeViolationsInEveryView(page: Page, state: string): Promise<void> {
  const failures: string[] = [];
  for (const view of VIEWS) {
    await page.setViewportSize(view.viewport);
    await page.emulateMedia({ colorScheme: view.colorScheme });
    await expectNoAxeViolations(page, `${state}, ${view.name}`).catch((error: Error) =>
      failures.push(error.message),
    );
  }
  await page.emulateMedia({ colorScheme: null });
  if (failures.length > 0) throw new Error(failures.join('\n'));
}

/** A server with `INITIAL_STOCK=1` for the enclosing describe, and shoppers in their own contexts. */
function useShop(): { url(): string; shopper(options?: BrowserContextOptions): Promise<Page> } {
  let server: ServerProcess;
  const contexts: BrowserContext[] = [];
  beforeAll(async () => {
    server = await startServer(appDir, {
      INITIAL_STOCK: '1',
      COOKIE_SECRET: 'a11y-secret-0123456789',
    });
  });
  afterAll(async () => {
    for (const context of contexts.splice(0)) await context.close().catch(() => {});
    await server?.stop();
  });
  return {
    url: () => server.url,
    async shopper(options = {}) {
      const context = await browser.newContext({ viewport: DESKTOP, ...options });
      contexts.push(context);
      const page = await context.newPage();
      await page.goto(server.url);
      await page.getByText('Live', { exact: true }).waitFor();
      await page
        .getByText(/left in stock|Sold out|in your cart/)
        .first()
        .waitFor();
      return page;
    },
  };
}

function stockLine(page: Page, count: number) {
  return page.getByText(`Only ${count} left in stock! Order now!`, { exact: true });
}

function button(page: Page, name: 'Add to Cart' | 'Remove from Cart') {
  return page.getByRole('button', { name, exact: true });
}

/** Makes every `POST /cart` of this page answer 503, as when Redis is down; returns the undo. */
async function failPosts(page: Page): Promise<() => Promise<void>> {
  const handler = (route: Route) =>
    route.request().method() === 'POST'
      ? route.fulfill({
          status: 503,
          contentType: 'application/json',
          headers: { 'Retry-After': '1' },
          body: JSON.stringify({ status: 503, message: UNAVAILABLE }),
        })
      : route.continue();
  await page.route('**/cart', handler);
  return () => page.unroute('**/cart', handler);
}

/** The focused element, through shadow roots: `button "Add to Cart"`, or `(nothing)`. */
function focused(page: Page): Promise<string> {
  return page.evaluate(() => {
    let element = document.activeElement;
    while (element?.shadowRoot?.activeElement) element = element.shadowRoot.activeElement;
    if (element === null || element === document.body) return '(nothing)';
    return `${element.localName} "${(element.textContent ?? '').replace(/\s+/g, ' ').trim()}"`;
  });
}

/** How the focused element shows its focus. */
function focusRing(page: Page) {
  return page.evaluate(() => {
    let element = document.activeElement;
    while (element?.shadowRoot?.activeElement) element = element.shadowRoot.activeElement;
    if (element === null) return null;
    const style = getComputedStyle(element);
    return {
      focusVisible: element.matches(':focus-visible'),
      outlineStyle: style.outlineStyle,
      outlineWidth: Number.parseFloat(style.outlineWidth),
    };
  });
}

interface LiveRegion {
  readonly role: string | null;
  readonly live: string | null;
  readonly text: string;
  /** Whether it was on the page at the last `markLiveRegions` (a region must exist before it speaks). */
  readonly marked: boolean;
}

/** Every live region of the page, through shadow roots. */
function liveRegions(page: Page): Promise<LiveRegion[]> {
  return page.evaluate(() => {
    const found: LiveRegion[] = [];
    const visit = (root: Document | ShadowRoot) => {
      for (const element of root.querySelectorAll('*')) {
        const role = element.getAttribute('role');
        const live = element.getAttribute('aria-live');
        if ((live !== null && live !== 'off') || ['status', 'alert', 'log'].includes(role ?? '')) {
          found.push({
            role,
            live,
            text: (element.textContent ?? '').replace(/\s+/g, ' ').trim(),
            marked: element.hasAttribute('data-test-seen'),
          });
        }
        if (element.shadowRoot) visit(element.shadowRoot);
      }
    };
    visit(document);
    return found;
  });
}

/** Marks the live regions on the page now, so `liveRegions` can tell which existed before. */
async function markLiveRegions(page: Page): Promise<void> {
  await page.evaluate(() => {
    const visit = (root: Document | ShadowRoot) => {
      for (const element of root.querySelectorAll('*')) {
        const live = element.getAttribute('aria-live');
        const role = element.getAttribute('role') ?? '';
        if ((live !== null && live !== 'off') || ['status', 'alert', 'log'].includes(role)) {
          element.setAttribute('data-test-seen', '');
        }
        if (element.shadowRoot) visit(element.shadowRoot);
      }
    };
    visit(document);
  });
}

/** Waits until `text` is in a live region, then expects it in exactly one, there since the mark. */
async function expectAnnouncedOnce(
  page: Page,
  text: string,
  politeness: 'polite' | 'assertive',
): Promise<void> {
  await expect
    .poll(async () => (await liveRegions(page)).filter((region) => region.text.includes(text)))
    .not.toEqual([]);
  const regions = (await liveRegions(page)).filter((region) => region.text.includes(text));
  expect(regions, `live regions saying "${text}"`).toHaveLength(1);
  const [region] = regions;
  expect(region!.marked, `the region saying "${text}" was on the page before it spoke`).toBe(true);
  const implied = region!.role === 'alert' ? 'assertive' : 'polite';
  expect(region!.live ?? implied).toBe(politeness);
}

beforeAll(async () => {
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
});

describe('axe: no violations at 1280 and 390 px, light and dark', () => {
  const shop = useShop();
  let alice: Page;
  let bob: Page;

  it('on arrival', async () => {
    alice = await shop.shopper();
    await stockLine(alice, 1).waitFor();
    await expectNoAxeViolationsInEveryView(alice, 'on arrival');
  });

  it('with a copy in the cart', async () => {
    await button(alice, 'Add to Cart').click();
    await alice.getByText('One copy is in your cart.').waitFor();
    await expectNoAxeViolationsInEveryView(alice, 'a copy in the cart');
  });

  it('after removing it', async () => {
    await button(alice, 'Remove from Cart').click();
    await stockLine(alice, 1).waitFor();
    await expectNoAxeViolationsInEveryView(alice, 'removed');
  });

  it('sold out: another shopper took the last copy', async () => {
    bob = await shop.shopper();
    await button(bob, 'Add to Cart').click();
    await bob.getByText('One copy is in your cart.').waitFor();
    try {
      await alice.getByText('Sold out', { exact: true }).waitFor();
      await expectNoAxeViolationsInEveryView(alice, 'sold out');
    } finally {
      await button(bob, 'Remove from Cart').click();
      await stockLine(alice, 1).waitFor();
    }
  });

  it('with an error shown', async () => {
    const undo = await failPosts(alice);
    try {
      await button(alice, 'Add to Cart').click();
      await alice.getByText(UNAVAILABLE).waitFor();
      await expectNoAxeViolationsInEveryView(alice, 'an error shown');
    } finally {
      await undo();
    }
  });
});

describe('keyboard only', () => {
  const shop = useShop();

  it('Tab reaches Add to Cart with a visible focus ring; Enter and Space add and remove, and focus stays on the button; after an error it is still there', async () => {
    const page = await shop.shopper();
    const stops: string[] = [];
    for (let tab = 0; tab < 10 && !stops.includes('button "Add to Cart"'); tab++) {
      await page.keyboard.press('Tab');
      stops.push(await focused(page));
    }
    expect(stops.at(-1), `Tab went through ${stops.join(', ')}`).toBe('button "Add to Cart"');
    const ring = await focusRing(page);
    expect(ring).toMatchObject({ focusVisible: true });
    expect(ring!.outlineStyle).not.toBe('none');
    expect(ring!.outlineWidth).toBeGreaterThanOrEqual(2);

    await page.keyboard.press('Enter');
    await page.getByText('One copy is in your cart.').waitFor();
    await expect.poll(() => focused(page)).toBe('button "Remove from Cart"');
    expect(await focusRing(page)).toMatchObject({ focusVisible: true });

    await page.keyboard.press('Space');
    await stockLine(page, 1).waitFor();
    await expect.poll(() => focused(page)).toBe('button "Add to Cart"');

    const undo = await failPosts(page);
    await page.keyboard.press('Enter');
    await page.getByText(UNAVAILABLE).waitFor();
    await expect.poll(() => focused(page)).toBe('button "Add to Cart"');
    await undo();
    // Enter works again once the shop answers.
    await page.keyboard.press('Enter');
    await page.getByText('One copy is in your cart.').waitFor();
    await expect.poll(() => focused(page)).toBe('button "Remove from Cart"');
    await page.keyboard.press('Enter');
    await stockLine(page, 1).waitFor();
  });
});

describe('keyboard only, while another shopper sells the book out', () => {
  const shop = useShop();

  it('the focus stays on Add to Cart, which says why it is unavailable', async () => {
    const page = await shop.shopper();
    const other = await shop.shopper();
    await button(page, 'Add to Cart').focus();
    await button(other, 'Add to Cart').click();
    try {
      await page.getByText('Sold out', { exact: true }).waitFor();
      await expect.poll(() => focused(page)).toBe('button "Add to Cart"');
      const description = await button(page, 'Add to Cart').evaluate((element) => {
        const id = element.getAttribute('aria-describedby');
        const root = element.getRootNode() as Document | ShadowRoot;
        return id === null ? null : root.getElementById(id)?.textContent;
      });
      expect(description).toMatch(/Every copy is in someone's cart/);
    } finally {
      await button(other, 'Remove from Cart').click();
    }
    await stockLine(page, 1).waitFor();
    await expect.poll(() => focused(page)).toBe('button "Add to Cart"');
  });
});

describe('screen readers', () => {
  const shop = useShop();
  let alice: Page;
  let bob: Page;

  it('one h1 named "Burt\'s Books", the book as an h2, a banner and a main; every button named', async () => {
    alice = await shop.shopper();
    const h1 = alice.getByRole('heading', { level: 1 });
    await expect.poll(() => h1.count()).toBe(1);
    expect(
      await alice.getByRole('heading', { level: 1, name: "Burt's Books", exact: true }).count(),
    ).toBe(1);
    expect(
      await alice
        .getByRole('heading', { level: 2, name: 'The Definitive Guide to the Internet' })
        .count(),
    ).toBe(1);
    expect(await alice.getByRole('banner').count()).toBe(1);
    expect(await alice.getByRole('main').count()).toBe(1);
    for (const each of await alice.getByRole('button').all()) {
      expect(
        (await each.textContent())?.trim() || (await each.getAttribute('aria-label')),
      ).toBeTruthy();
    }
  });

  it("another shopper's change of the stock is announced once, through a region that was already there", async () => {
    await markLiveRegions(alice);
    bob = await shop.shopper();
    await button(bob, 'Add to Cart').click();
    try {
      await expectAnnouncedOnce(alice, 'Sold out', 'polite');
      await markLiveRegions(alice);
    } finally {
      await button(bob, 'Remove from Cart').click();
    }
    await expectAnnouncedOnce(alice, 'Only 1 left in stock', 'polite');
  });

  it('the cart result is announced once', async () => {
    await markLiveRegions(alice);
    await button(alice, 'Add to Cart').click();
    try {
      await expectAnnouncedOnce(alice, 'Added to your cart', 'polite');
      await markLiveRegions(alice);
    } finally {
      await button(alice, 'Remove from Cart').click();
    }
    await expectAnnouncedOnce(alice, 'Removed from your cart', 'polite');
  });

  it('an error is announced once, assertively, through a region that was already there', async () => {
    await markLiveRegions(alice);
    const undo = await failPosts(alice);
    try {
      await button(alice, 'Add to Cart').click();
      await expectAnnouncedOnce(alice, UNAVAILABLE, 'assertive');
    } finally {
      await undo();
    }
  });
});

describe('phone, 390 × 844', () => {
  const shop = useShop();
  let phone: Page;
  let other: Page;

  /** Fails unless the page is as wide as the viewport or narrower. */
  async function expectNoHorizontalScroll(page: Page, state: string): Promise<void> {
    const widths = await page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      innerWidth: window.innerWidth,
    }));
    expect(widths.scrollWidth, `${state}: ${JSON.stringify(widths)}`).toBeLessThanOrEqual(
      widths.innerWidth,
    );
  }

  /** Fails listing every visible control smaller than 44 × 44 CSS px. */
  async function expectTapTargets(page: Page, state: string): Promise<void> {
    const controls = page.locator(
      'button, a[href], input, select, textarea, [role="button"], [tabindex]:not([tabindex="-1"])',
    );
    await expect.poll(() => controls.count()).toBeGreaterThan(0);
    const small: string[] = [];
    for (const control of await controls.all()) {
      if (!(await control.isVisible())) continue;
      const box = (await control.boundingBox())!;
      if (box.width < 44 || box.height < 44) {
        small.push(`"${(await control.textContent())?.trim()}" ${box.width} × ${box.height}`);
      }
    }
    expect(small, `${state}: tap targets under 44 × 44 px`).toEqual([]);
  }

  // 844 px is the whole screen; a phone browser's toolbars leave about 664 of it to the page
  // (Safari on a 390 × 844 iPhone), so the button must fit there too.
  it("Add to Cart is in the first viewport, nothing scrolled, even below a browser's toolbars", async () => {
    phone = await shop.shopper(PHONE_CONTEXT);
    const add = button(phone, 'Add to Cart');
    await expect.poll(() => add.isEnabled()).toBe(true);
    for (const height of [PHONE.height, BROWSER_TOOLBARS_LEAVE]) {
      await phone.setViewportSize({ width: PHONE.width, height });
      expect(await phone.evaluate(() => window.scrollY)).toBe(0);
      const box = (await add.boundingBox())!;
      expect(box.y, `top of Add to Cart, ${height} px high`).toBeGreaterThanOrEqual(0);
      expect(box.y + box.height, `bottom of Add to Cart, ${height} px high`).toBeLessThanOrEqual(
        height,
      );
    }
    await phone.setViewportSize(PHONE);
  });

  it('no horizontal scroll and tap targets of at least 44 × 44 px, on the shelf, in the cart and sold out', async () => {
    await expectNoHorizontalScroll(phone, 'on the shelf');
    await expectTapTargets(phone, 'on the shelf');

    await button(phone, 'Add to Cart').click();
    await phone.getByText('One copy is in your cart.').waitFor();
    await expectNoHorizontalScroll(phone, 'in the cart');
    await expectTapTargets(phone, 'in the cart');
    const remove = (await button(phone, 'Remove from Cart').boundingBox())!;
    expect(remove.y + remove.height, 'bottom of Remove from Cart').toBeLessThanOrEqual(
      PHONE.height,
    );
    await button(phone, 'Remove from Cart').click();
    await stockLine(phone, 1).waitFor();

    other = await shop.shopper();
    await button(other, 'Add to Cart').click();
    await phone.getByText('Sold out', { exact: true }).waitFor();
    await expectNoHorizontalScroll(phone, 'sold out');
    await button(other, 'Remove from Cart').click();
    await stockLine(phone, 1).waitFor();
  });

  it('the tagline stays whole, on one line, inside the viewport', async () => {
    for (const viewport of [PHONE, DESKTOP]) {
      await phone.setViewportSize(viewport);
      const tagline = phone.getByText('Independent booksellers', { exact: true });
      const box = (await tagline.boundingBox())!;
      const lineHeight = await tagline.evaluate((element) => {
        const style = getComputedStyle(element);
        const height = Number.parseFloat(style.lineHeight);
        return Number.isNaN(height) ? Number.parseFloat(style.fontSize) * 1.3 : height;
      });
      expect(box.height, `tagline at ${viewport.width} px`).toBeLessThan(lineHeight * 1.5);
      expect(box.x).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width).toBeLessThanOrEqual(viewport.width);
    }
    await phone.setViewportSize(PHONE);
  });
});

describe('finish', () => {
  const shop = useShop();

  it('has a favicon, and nothing fails to load or logs an error', async () => {
    const context = await browser.newContext({ viewport: DESKTOP });
    try {
      const page = await context.newPage();
      const failed: string[] = [];
      page.on('response', (response) => {
        if (response.status() >= 400) failed.push(`${response.status()} ${response.url()}`);
      });
      page.on('requestfailed', (request) => failed.push(`failed ${request.url()}`));
      page.on('console', (message) => {
        if (message.type() === 'error') failed.push(`console: ${message.text()}`);
      });
      await page.goto(shop.url());
      await page.getByText('Live', { exact: true }).waitFor();
      await stockLine(page, 1).waitFor();
      const icon = page.locator('link[rel~="icon"]');
      expect(await icon.count()).toBe(1);
      const href = (await icon.getAttribute('href'))!;
      const loaded = await page.evaluate(async (url) => {
        const response = await fetch(url);
        return { ok: response.ok, type: response.headers.get('content-type') };
      }, href);
      expect(loaded.ok).toBe(true);
      expect(loaded.type).toMatch(/^image\//);
      expect(failed).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('has a dark palette for prefers-color-scheme: dark', async () => {
    const page = await shop.shopper();
    const title = page.getByRole('heading', { level: 2 });
    const colours = () =>
      title.evaluate((element) => {
        const luminance = (colour: string) => {
          const [r, g, b] = colour
            .match(/[\d.]+/g)!
            .map(Number)
            .map((value) => value / 255);
          const linear = (c: number) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
          return 0.2126 * linear(r!) + 0.7152 * linear(g!) + 0.0722 * linear(b!);
        };
        // The background behind the title: the first opaque one up the flat tree.
        let node: Element | null = element;
        let background = 'rgb(255, 255, 255)';
        while (node !== null) {
          const colour = getComputedStyle(node).backgroundColor;
          if (colour !== 'transparent' && !/rgba\(.*, 0\)$/.test(colour)) {
            background = colour;
            break;
          }
          node = node.parentElement ?? ((node.getRootNode() as ShadowRoot).host || null);
        }
        const page = getComputedStyle(document.body).backgroundColor;
        return {
          text: luminance(getComputedStyle(element).color),
          background: luminance(background),
          page: luminance(page),
        };
      });
    await page.emulateMedia({ colorScheme: 'light' });
    const light = await colours();
    expect(light.background).toBeGreaterThan(0.5);
    await page.emulateMedia({ colorScheme: 'dark' });
    const dark = await colours();
    expect(dark.background, 'the card behind the title, dark').toBeLessThan(0.1);
    expect(dark.page, 'the page, dark').toBeLessThan(0.1);
    expect(dark.text, 'the title, dark').toBeGreaterThan(0.5);
  });

  it('nothing moves with prefers-reduced-motion: reduce', async () => {
    const page = await shop.shopper();
    await page.emulateMedia({ reducedMotion: 'reduce' });
    await button(page, 'Add to Cart').hover();
    const moving = await page.evaluate(() => {
      const found: string[] = [];
      const seconds = (list: string) =>
        Math.max(...list.split(',').map((s) => Number.parseFloat(s)));
      const visit = (root: Document | ShadowRoot) => {
        for (const element of root.querySelectorAll('*')) {
          for (const pseudo of [null, '::before', '::after']) {
            const style = getComputedStyle(element, pseudo);
            const moves =
              (style.animationName !== 'none' && seconds(style.animationDuration) > 0.01) ||
              (seconds(style.transitionDuration) > 0.01 && style.transitionProperty !== 'none');
            if (moves) found.push(`${element.localName}${pseudo ?? ''}`);
          }
          if (element.shadowRoot) visit(element.shadowRoot);
        }
      };
      visit(document);
      return found.concat(document.getAnimations().map((animation) => `animation ${animation.id}`));
    });
    expect(moving).toEqual([]);
  });
});
