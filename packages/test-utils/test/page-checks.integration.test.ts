import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { axeViolations, expectNoAxeViolations } from '../src/axe.js';
import { launchChromium } from '../src/chromium.js';
import { expectFitsPhone } from '../src/phone.js';

// The page checks the demo apps share, on pages written here (no server): each must pass a page
// that is right and fail, saying why, on one that is not.
let browser: Browser;

beforeAll(async () => {
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
});

async function pageWith(body: string, viewport = { width: 1280, height: 800 }): Promise<Page> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  await page.setContent(
    `<!doctype html><html lang="en"><head><meta charset="utf-8">
      <meta name="viewport" content="width=device-width, initial-scale=1"><title>Test</title>
      <style>body { margin: 0; font: 16px sans-serif }</style></head><body>${body}</body></html>`,
  );
  return page;
}

const GOOD = `<header><h1>Title</h1></header>
  <main><label for="m">Message</label> <input id="m"> <button>Send</button></main>`;

describe('expectNoAxeViolations', () => {
  it('passes a page with landmarks, a heading and labelled controls', async () => {
    const page = await pageWith(GOOD);
    await expectNoAxeViolations(page, 'good page');
    expect(await axeViolations(page)).toEqual([]);
    await page.context().close();
  });

  it('fails listing each violation: id, impact, help, its page, and the elements, across shadow roots', async () => {
    const page = await pageWith(`<h1>Title</h1><div id="host"></div>
      <script>document.getElementById('host').attachShadow({ mode: 'open' }).innerHTML = '<input>';</script>`);
    const error = await expectNoAxeViolations(page, 'bad page, 1280×800').then(
      () => null,
      (e: Error) => e,
    );
    expect(error).not.toBeNull();
    const message = error!.message;
    expect(message).toMatch(/^bad page, 1280×800: \d+ axe violation\(s\)\n/);
    expect(message).toContain('- label (critical): Form elements must have labels');
    expect(message).toContain('- landmark-one-main (moderate):');
    expect(message).toMatch(/https:\/\/dequeuniversity\.com\/rules\/axe\/[\d.]+\/label/);
    // The input inside the shadow root, named through its host.
    expect(message).toContain('  · #host >>> input');
    await page.context().close();
  });

  it('checks only what it is told to: rules and parts left out', async () => {
    const page = await pageWith(`${GOOD}<div class="widget"><input></div>`);
    expect((await axeViolations(page)).map((v) => v.id).sort()).toEqual(['label', 'region']);
    expect(await axeViolations(page, { exclude: ['.widget'] })).toEqual([]);
    expect(await axeViolations(page, { disableRules: ['label', 'region'] })).toEqual([]);
    await page.context().close();
  });

  it('says how to fix a page from browser.newPage(), where axe cannot open its own page', async () => {
    const page = await browser.newPage();
    await page.setContent(GOOD);
    await expect(expectNoAxeViolations(page, 'shared')).rejects.toThrow(
      /axe needs a page from browser\.newContext\(\)/,
    );
    await page.close();
  });
});

describe('expectFitsPhone', () => {
  const phone = { width: 390, height: 844 };

  it('passes a page that fits, with its button in view and large enough', async () => {
    const page = await pageWith(
      `<main><button style="width: 120px; height: 48px">Send</button></main>`,
      phone,
    );
    await expectFitsPhone(page, {
      aboveTheFold: [page.getByRole('button')],
      tapTargets: [page.getByRole('button')],
    });
    await page.context().close();
  });

  it('lists every problem: sideways scroll, below the fold, small targets, nothing matched', async () => {
    const page = await pageWith(
      `<main><div style="width: 600px">wide</div><div style="height: 1200px"></div>
        <button style="width: 30px; height: 30px">A</button>
        <button style="width: 100px; height: 50px">B</button></main>`,
      phone,
    );
    const error = await expectFitsPhone(page, {
      aboveTheFold: [page.getByRole('button', { name: 'B' })],
      tapTargets: [page.getByRole('button'), page.getByRole('link')],
    }).then(
      () => null,
      (e: Error) => e,
    );
    expect(error?.message.split('\n')).toEqual([
      'does not fit a 390×844 screen:',
      '- the page scrolls sideways: scrollWidth 600 > innerWidth 390',
      expect.stringMatching(
        /^- getByRole\('button', \{ name: 'B' \}\) is not in the first 390×844 screen: 100×50 at \([\d.]+, [\d.]+\)$/,
      ),
      expect.stringMatching(/is a 30×30 tap target, under 44×44$/),
      "- getByRole('link') matches no element",
    ]);
    await page.context().close();
  });
});
