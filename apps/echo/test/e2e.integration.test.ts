import { mkdirSync } from 'node:fs';
import { launchChromium, type ServerProcess, startServer } from '@gale/test-utils';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The production build (`pnpm build`, then `pnpm start`) driven by real Chromium, as a user would;
// the same flow on Node (`pnpm start`) and on Bun (`pnpm start:bun`: @gale/server/bun's serve()).
const appDir = new URL('../', import.meta.url);
let browser: Browser;

beforeAll(async () => {
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
});

describe.each(['node', 'bun'] as const)('the echo console on %s', (runtime) => {
  let server: ServerProcess;
  let page: Page;

  beforeAll(async () => {
    server = await startServer(appDir, {}, { runtime });
    page = await browser.newPage({ viewport: { width: 900, height: 640 } });
  });

  afterAll(async () => {
    await page?.close();
    await server?.stop();
  });

  it('connects, and /websocket answers "You said: …"', async () => {
    await page.goto(server.url);
    await expect.poll(() => page.getByRole('status').textContent()).toBe('Connected');
    await page.getByRole('textbox', { name: 'Message' }).fill('hello, gale');
    await page.getByRole('button', { name: 'Send' }).click();
    await page.getByText('You said: hello, gale').waitFor();
    // The box is cleared for the next message.
    expect(await page.getByRole('textbox', { name: 'Message' }).inputValue()).toBe('');
  });

  it('switches to /echo and gets the exact message back, as text and as binary', async () => {
    await page.getByRole('button', { name: /^\/echo/ }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toBe('Connected');
    await page.getByRole('textbox', { name: 'Message' }).fill('exact <b>text</b>');
    await page.getByRole('button', { name: 'Send' }).click();
    const log = page.getByRole('log', { name: 'Messages' });
    await expect
      .poll(() => log.getByRole('listitem').allTextContents())
      .toContain('Server: exact <b>text</b>');
    await page.getByRole('checkbox', { name: 'Send as binary' }).check();
    await page.getByRole('textbox', { name: 'Message' }).fill('bytes');
    await page.getByRole('button', { name: 'Send' }).click();
    await expect
      .poll(async () =>
        (await log.getByRole('listitem').allTextContents()).filter((t) =>
          t.endsWith(': bytes (binary)'),
        ),
      )
      .toEqual(['You: bytes (binary)', 'Server: bytes (binary)']);
  });

  // Rewrites docs/screenshot.png and docs/screenshot-phone.png, tracked files: only when asked
  // (`pnpm screenshots`).
  it.runIf(runtime === 'node' && process.env['UPDATE_SCREENSHOTS'] === '1')(
    'saves a screenshot for the README, and one at a phone width (390×844)',
    async () => {
      mkdirSync(new URL('docs/', appDir), { recursive: true });
      // Finished animations: the newest log line has slid into place.
      await page.screenshot({
        path: new URL('docs/screenshot.png', appDir).pathname,
        animations: 'disabled',
      });
      const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
      const phone = await context.newPage();
      await phone.goto(server.url);
      await expect.poll(() => phone.getByRole('status').textContent()).toBe('Connected');
      await phone.getByRole('textbox', { name: 'Message' }).fill('hello from a phone');
      await phone.getByRole('button', { name: 'Send' }).click();
      await phone.getByText('You said: hello from a phone').waitFor();
      await phone.screenshot({
        path: new URL('docs/screenshot-phone.png', appDir).pathname,
        animations: 'disabled',
      });
      await context.close();
    },
  );

  it('reconnects by itself when the server restarts, and delivers what was sent meanwhile', async () => {
    const { port } = server;
    await server.stop();
    await expect.poll(() => page.getByRole('status').textContent()).not.toBe('Connected');
    await page.getByRole('textbox', { name: 'Message' }).fill('sent while down');
    await page.getByRole('checkbox', { name: 'Send as binary' }).uncheck();
    await page.getByRole('button', { name: 'Send' }).click();
    server = await startServer(appDir, { PORT: String(port) }, { runtime });
    await expect
      .poll(() => page.getByRole('status').textContent(), { timeout: 15_000 })
      .toBe('Connected');
    const log = page.getByRole('log', { name: 'Messages' });
    await expect
      .poll(async () =>
        (await log.getByRole('listitem').allTextContents()).filter((t) =>
          t.endsWith(': sent while down'),
        ),
      )
      .toEqual(['You: sent while down', 'Server: sent while down']); // echoed once, after the reconnection
  });
});
