import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchChromium } from '@gale/test-utils';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The built site (`pnpm build` in docs/) served as a static host serves it, opened in real
// Chromium: every internal link on every page reachable from the index must resolve, and every
// #fragment must name an element of its page.
const dist = fileURLToPath(new URL('../.vitepress/dist/', import.meta.url));

const types: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

/** A static file server, as a plain host (no rewrites): `/x/` is `/x/index.html`, else 404. */
function serveStatic(): Promise<{ server: Server; origin: string }> {
  const server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname);
    let file = normalize(join(dist, path));
    if (!file.startsWith(dist)) file = dist;
    if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.html');
    if (!existsSync(file) || !statSync(file).isFile()) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    response.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' });
    response.end(readFileSync(file));
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ server, origin: `http://127.0.0.1:${port}` });
    });
  });
}

let server: Server;
let origin: string;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  if (!existsSync(join(dist, 'index.html'))) {
    throw new Error('docs/.vitepress/dist is missing: run `pnpm build` in docs/ first');
  }
  ({ server, origin } = await serveStatic());
  browser = await launchChromium();
  page = await browser.newPage();
});

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
});

describe('the documentation site', () => {
  it('has no broken internal link, from the index through every page', async () => {
    const queue = [`${origin}/`];
    const seen = new Set(queue);
    const referrer = new Map<string, string>();
    /** The fragments links point at, by page: checked against the ids each page has. */
    const fragments = new Map<string, Set<string>>();
    const idsByPage = new Map<string, Set<string>>();
    const broken: string[] = [];

    // The links are in the pre-rendered HTML that a host serves and a search engine reads: the
    // crawl reads it with scripts off (hydrating 170 pages one by one would take minutes), in a
    // few tabs side by side.
    const context = await browser.newContext({ javaScriptEnabled: false });
    // Only the pages themselves: styles, fonts and images are not what is checked here.
    await context.route('**/*', (route) =>
      route.request().resourceType() === 'document' ? route.continue() : route.abort(),
    );
    const visit = async (tab: Page, url: string): Promise<void> => {
      const response = await tab.goto(url, { waitUntil: 'domcontentloaded' });
      const status = response?.status() ?? 0;
      if (status !== 200) {
        broken.push(`${url} (${status}), linked from ${referrer.get(url) ?? 'nowhere'}`);
        return;
      }
      const { hrefs, ids } = await tab.evaluate(() => ({
        hrefs: [...document.querySelectorAll('a[href]')].map((a) => (a as HTMLAnchorElement).href),
        ids: [...document.querySelectorAll('[id]')].map((element) => element.id),
      }));
      idsByPage.set(url, new Set(ids));
      for (const href of hrefs) {
        const target = new URL(href);
        if (target.origin !== origin) continue;
        const fragment = decodeURIComponent(target.hash.slice(1));
        target.hash = '';
        if (fragment !== '') {
          const wanted = fragments.get(target.href) ?? new Set();
          wanted.add(fragment);
          fragments.set(target.href, wanted);
        }
        if (!seen.has(target.href)) {
          seen.add(target.href);
          referrer.set(target.href, url);
          queue.push(target.href);
        }
      }
    };
    const crawl = async (tab: Page): Promise<void> => {
      for (let url = queue.shift(); url !== undefined; url = queue.shift()) await visit(tab, url);
    };
    const tabs = await Promise.all([1, 2, 3].map(() => context.newPage()));
    // The index alone first: it fills the queue the tabs then share.
    await visit(tabs[0] as Page, queue.shift() as string);
    await Promise.all(tabs.map(crawl));
    await context.close();

    for (const [url, wanted] of fragments) {
      const ids = idsByPage.get(url);
      if (ids === undefined) continue; // a broken page, reported above
      for (const fragment of wanted) {
        if (!ids.has(fragment)) broken.push(`${url}#${fragment}: no such anchor`);
      }
    }

    expect(broken).toEqual([]);
    // The crawl reached the guides, the pages kept from before the site, and the API reference.
    const paths = [...seen].map((url) => new URL(url).pathname);
    for (const path of [
      '/guide/getting-started.html',
      '/guide/coming-from-tornado.html',
      '/architecture.html',
      '/resume-protocol.html',
      '/benchmarks.html',
      '/api/@gale/server/classes/WebSocketHandler.html',
    ]) {
      expect(paths).toContain(path);
    }
    expect(seen.size).toBeGreaterThan(100);
  });

  it('shows the benchmarks chart', async () => {
    await page.goto(`${origin}/benchmarks.html`);
    const chart = page.locator('img[src$="bench-server.svg"]');
    await chart.waitFor();
    expect(await chart.evaluate((img) => (img as HTMLImageElement).naturalWidth)).toBeGreaterThan(
      0,
    );
  });
});
