import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Application, type ApplicationOptions } from '@gale/server';
import { CartHandler } from './server/cart-handler.js';
import { CartStatusSocket } from './server/cart-status-socket.js';
import type { Inventory } from './server/inventory.js';
import { MemoryInventory } from './server/memory-inventory.js';
import { cartMessage, STOCK_TOPIC, sessionTopic, stockMessage } from './server/messages.js';

/** The copies on the shelf when nothing else says (the `INITIAL_STOCK` variable does). */
export const DEFAULT_STOCK = 10;
/** How long a copy stays in a cart when nothing else says (`RESERVATION_TTL_MS`): 15 minutes. */
export const DEFAULT_RESERVATION_TTL_MS = 15 * 60 * 1000;

/** The application's settings plus the shop's own. */
export interface CartApplicationOptions extends ApplicationOptions {
  /** Copies on the shelf at start. Default: the `INITIAL_STOCK` variable, else 10. */
  readonly initialStock?: number;
  /** How long a reservation lasts, in ms. Default: `RESERVATION_TTL_MS`, else 15 minutes. */
  readonly reservationTtlMs?: number;
  /** Where the stock lives; by default a `MemoryInventory` built from the two options above. */
  readonly inventory?: Inventory;
}

/** The Burt's Books application: the routes, plus the inventory it closes with itself. */
export class CartApplication extends Application {
  readonly inventory: Inventory;

  constructor(inventory: Inventory, options: ApplicationOptions) {
    super(
      [
        ['/cart', CartHandler, { inventory }],
        ['/cart/status', CartStatusSocket, { inventory }],
      ],
      options,
    );
    this.inventory = inventory;
    // Every change reaches every viewer through topics (no socket lists here): the stock to
    // all, and the session's own cart to that session's tabs.
    inventory.onChange((change) => {
      this.#publish(STOCK_TOPIC, stockMessage(change));
      this.#publish(sessionTopic(change.session), cartMessage(change));
    });
  }

  /** Closes the WebSockets (see `Application.close`), then the inventory. */
  override async close(timeoutMs?: number): Promise<void> {
    await super.close(timeoutMs);
    await this.inventory.close();
  }

  #publish(topic: string, message: object): void {
    // A broker between processes may answer with a promise; a failed publish is logged, never
    // thrown into the inventory.
    Promise.resolve(this.publish(topic, message)).catch((error: unknown) =>
      this.settings.logger.error(`publishing to ${topic} failed`, error),
    );
  }
}

/**
 * The cart-counter application: `GET`/`POST /cart` and WS `/cart/status`. `pnpm dev` (the Vite
 * plugin calls it with no arguments) and `pnpm start` share it. Throws `RangeError` for a stock or
 * TTL (option or variable) that is not a suitable integer.
 */
export function createApplication(options: CartApplicationOptions = {}): CartApplication {
  const { initialStock, reservationTtlMs, inventory, ...settings } = options;
  const stock = initialStock ?? integerFromEnv('INITIAL_STOCK', DEFAULT_STOCK);
  const ttl = reservationTtlMs ?? integerFromEnv('RESERVATION_TTL_MS', DEFAULT_RESERVATION_TTL_MS);
  return new CartApplication(inventory ?? new MemoryInventory({ stock, reservationTtlMs: ttl }), {
    cookieSecret: process.env['COOKIE_SECRET'] || devCookieSecret(),
    // Viewers never send anything; no reason to accept big messages.
    websocketMaxMessageSize: 4096,
    ...settings,
  });
}

function integerFromEnv(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new RangeError(`${name} must be an integer, not ${text}`);
  return value;
}

// Without COOKIE_SECRET, sessions are signed with a random secret made once per process (kept
// on globalThis so that a `pnpm dev` reload of this module keeps them valid). Such sessions do not
// survive a restart and are not shared between processes: set COOKIE_SECRET in production.
function devCookieSecret(): string {
  const key = Symbol.for('cart-counter.devCookieSecret');
  const store = globalThis as { [key]?: string };
  store[key] ??= randomBytes(32).toString('hex');
  return store[key];
}

// `pnpm start`: the production build of the page (dist/client) and the routes on PORT and HOST.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = Number(process.env['PORT'] ?? 8889);
  const host = process.env['HOST'] ?? '127.0.0.1';
  const app = createApplication({
    staticPath: fileURLToPath(new URL('./client', import.meta.url)),
  });
  const server = await app.listen(port, host);
  const address = server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  console.log(`cart-counter: http://${host}:${actualPort}/`);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      void app.close().then(() => process.exit(0));
    });
  }
}
