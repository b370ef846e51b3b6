import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type ClientConnection, websocketConnect } from '@gale/client';
import { readmeShellBlock, requirePorts, runShellRecipe, useHeldPorts } from '@gale/test-utils';
import { describe, expect, it } from 'vitest';
import { applyMessage, type CartState, parseMessage, UNKNOWN_CART } from '../src/cart-state.js';

const run = promisify(execFile);

// The README's "Scale it out" recipe as a user pastes it in this folder after `pnpm build` (the
// test task's own build): Redis on 6379 and two `pnpm start` on 8889 and 8890, the ports it
// prints. Those ports may be a developer's (Redis, the demos): when one is taken the test says so
// and is skipped; on CI, a fresh machine, it must run.
const appDir = fileURLToPath(new URL('../', import.meta.url));
const readme = fileURLToPath(new URL('../README.md', import.meta.url));
const PORTS = [6379, 8889, 8890];

/** One browser's cookies (`name=value` pairs) and the headers its requests send. */
class Browser {
  readonly #cookies = new Map<string, string>();

  async cart(origin: string, init: RequestInit = {}): Promise<Record<string, unknown>> {
    const headers: Record<string, string> = { Cookie: this.header };
    if (init.method === 'POST') {
      headers['Content-Type'] = 'application/json';
      headers['X-XSRFToken'] = this.#cookies.get('_xsrf') ?? '';
    }
    const response = await fetch(`${origin}cart`, { ...init, headers });
    for (const cookie of response.headers.getSetCookie()) {
      const [pair] = cookie.split(';', 1);
      const at = pair!.indexOf('=');
      this.#cookies.set(pair!.slice(0, at), pair!.slice(at + 1));
    }
    expect(response.status, `${init.method ?? 'GET'} ${origin}cart`).toBe(200);
    return (await response.json()) as Record<string, unknown>;
  }

  get header(): string {
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

describe('the README\'s "Scale it out" recipe', () => {
  // The ports held, and the recipe's servers stopped in afterAll (useHeldPorts).
  const ports = useHeldPorts(PORTS);

  it('runs as printed: an add on :8889 moves the count a tab on :8890 shows', async ({ skip }) => {
    const script = await readmeShellBlock(readme, (block) => block.includes('pnpm start &'));
    await requirePorts(PORTS, { skip }, 'the scale-out recipe');
    // A user's shell: none of what the recipe sets, nor Vitest's NODE_ENV.
    const recipe = runShellRecipe(script, {
      cwd: appDir,
      env: {
        REDIS_URL: undefined,
        COOKIE_SECRET: undefined,
        PORT: undefined,
        HOST: undefined,
        INITIAL_STOCK: undefined,
        NODE_ENV: undefined,
      },
    });
    let tab: ClientConnection | undefined;
    ports.cleanUp(async () => {
      await tab?.close().catch(() => {});
      await run('redis-cli', ['-p', '6379', 'shutdown', 'nosave']).catch(() => {});
      await recipe.stop();
    });

    // Each instance prints its URL once it is connected to Redis and listening.
    const [a, b] = ['http://127.0.0.1:8889/', 'http://127.0.0.1:8890/'];
    await recipe.waitForOutput([`cart-counter: ${a}`, `cart-counter: ${b}`]);

    // A tab on b, showing what the page would (its own logic, applied to every message).
    let shown: CartState = UNKNOWN_CART;
    tab = await websocketConnect(`${b.replace('http', 'ws')}cart/status`, {
      onMessage: (data) => {
        const message = parseMessage(data);
        if (message !== null) shown = applyMessage(shown, message);
      },
    });
    await expect.poll(() => shown.inventoryCount, { timeout: 20_000 }).not.toBeNull();
    const before = shown.inventoryCount!;
    expect(before).toBeGreaterThan(0);

    // A browser adds to its cart on a, as the page does (GET /cart for the cookies, then POST).
    const browser = new Browser();
    await browser.cart(a);
    const added = await browser.cart(a, { method: 'POST', body: '{"action":"add"}' });
    expect(added).toMatchObject({ inventoryCount: before - 1, inCart: true });

    await expect.poll(() => shown.inventoryCount, { timeout: 20_000 }).toBe(before - 1);
    // And b knows that browser: its session, signed on a with the shared COOKIE_SECRET, holds it.
    expect(await browser.cart(b)).toMatchObject({ inventoryCount: before - 1, inCart: true });
  }, 120_000);
});
