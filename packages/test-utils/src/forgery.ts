import type { BrowserContext, Request } from 'playwright-core';
import { serveHtml } from './html-server.js';

/** Where the attacker's page of {@link forgePost} is served from. */
export interface ForgeryOptions {
  /** The URL the form posts to (`http://127.0.0.1:PORT/cart`). */
  readonly target: string;
  /** The form's fields, sent as `application/x-www-form-urlencoded`. */
  readonly fields: Readonly<Record<string, string>>;
  /**
   * The attacker's host, on a port of its own: `127.0.0.1` is another port of the app's host,
   * the same site (SameSite=Lax cookies go along, and the page can read the app's cookies, which
   * ignore ports); `localhost` is another site.
   */
  readonly from: '127.0.0.1' | 'localhost';
}

/** What became of a forged POST. */
export interface ForgedPost {
  readonly status: number;
  /** The form's body as the browser sent it. */
  readonly body: string;
  /** The answer's `Set-Cookie` header (all of them, one per line), or null. */
  readonly setCookie: string | null;
}

/**
 * A cross-site request forgery as a browser carries it out: opens, in a new tab of `context` (the
 * victim's browser, with its cookies), an attacker's page that posts a form to `target` as soon
 * as it loads, adding the `_xsrf` cookie's value as an `_xsrf` field when it can read one. Resolves
 * once the answer arrived in full, then closes the tab and the page's server. Check the app's
 * state and `context.cookies()` afterwards.
 */
export async function forgePost(
  context: BrowserContext,
  options: ForgeryOptions,
): Promise<ForgedPost> {
  const inputs = Object.entries(options.fields)
    .map(
      ([name, value]) =>
        `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`,
    )
    .join('');
  const attacker = await serveHtml(`<!doctype html>
<title>You won a prize</title>
<form method="post" action="${escapeHtml(options.target)}" enctype="application/x-www-form-urlencoded">${inputs}</form>
<script>
  const form = document.forms[0];
  const stolen = document.cookie.split('; ').find((cookie) => cookie.startsWith('_xsrf='));
  if (stolen) {
    const input = document.createElement('input');
    input.type = 'hidden';
    input.name = '_xsrf';
    input.value = stolen.slice('_xsrf='.length);
    form.append(input);
  }
  form.submit();
</script>`);
  const tab = await context.newPage();
  try {
    const isForged = (request: Request): boolean =>
      request.url() === options.target && request.method() === 'POST';
    const answered = tab.waitForResponse((response) => isForged(response.request()));
    // Finished, or failed: a 204 leaves the tab where it was, which Chromium reports as aborted.
    const settled = new Promise<void>((resolve) => {
      const settle = (request: Request): void => {
        if (isForged(request)) resolve();
      };
      tab.on('requestfinished', settle);
      tab.on('requestfailed', settle);
    });
    await tab.goto(attacker.url(options.from), { waitUntil: 'commit' });
    const response = await answered;
    await settled;
    return {
      status: response.status(),
      body: response.request().postData() ?? '',
      setCookie: await response.headerValue('set-cookie'),
    };
  } finally {
    await tab.close();
    await attacker.close();
  }
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}
