import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { type Clock, systemClock, unref } from '@gale/io/clock';
import { RedisBroker, redisHosts } from '@gale/redis';
import {
  Application,
  type ApplicationOptions,
  type Broker,
  type HistoryPolicy,
  MemoryBroker,
} from '@gale/server';
import { CartHandler } from './server/cart-handler.js';
import { CartStatusSocket } from './server/cart-status-socket.js';
import { type Inventory, InventoryUnavailableError } from './server/inventory.js';
import { MemoryInventory } from './server/memory-inventory.js';
import { cartMessage, STOCK_TOPIC, sessionTopic, stockMessage } from './server/messages.js';
import { RedisInventory } from './server/redis-inventory.js';
import { SessionViewers } from './server/session-viewers.js';

// ─── Settings ────────────────────────────────────────────────────────────────────────────────

/** The copies on the shelf when nothing else says (the `INITIAL_STOCK` variable does). */
export const DEFAULT_STOCK = 10;
/** How long a copy stays in a cart when nothing else says (`RESERVATION_TTL_MS`): 15 minutes. */
export const DEFAULT_RESERVATION_TTL_MS = 15 * 60 * 1000;

/** The application settings (`clock` included) plus the shop's own. */
export interface CartApplicationOptions extends ApplicationOptions {
  /** Copies on the shelf at start. Default: the `INITIAL_STOCK` variable, else 10. */
  readonly initialStock?: number;
  /** How long a reservation lasts, in ms. Default: `RESERVATION_TTL_MS`, else 15 minutes. */
  readonly reservationTtlMs?: number;
  /**
   * Where the stock lives. Default: a `RedisInventory` when `redisUrl` is set, else a
   * `MemoryInventory`, built from the two options above.
   */
  readonly inventory?: Inventory;
  /**
   * A Redis server (`redis://host:port`) or Redis Cluster (`redis+cluster://host:port,…`, some of
   * its nodes) shared by several instances of the shop: the stock and carts live there (`RedisInventory`) and the pushes to viewers go through it (`RedisBroker`,
   * unless `broker` is given). `pnpm start` passes the `REDIS_URL` variable. Default: none, and
   * everything stays in this process's memory.
   */
  readonly redisUrl?: string | undefined;
  /** Prefix of the Redis keys and pub/sub channels: one per shop sharing a Redis. Default `burts:`. */
  readonly redisPrefix?: string;
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
// survive a restart and are not shared between processes, which is why `pnpm start` refuses to
// run without COOKIE_SECRET unless NODE_ENV=development.
function devCookieSecret(): string {
  const key = Symbol.for('cart-counter.devCookieSecret');
  const store = globalThis as { [key]?: string };
  store[key] ??= randomBytes(32).toString('hex');
  return store[key];
}

// ─── Stores: in memory, or in Redis ──────────────────────────────────────────────────────────

/**
 * What the topics keep for viewers that resume after a disconnect (gale.v1). The stock is a value,
 * not a log: its topic keeps only the latest count, so a viewer that comes back gets that one
 * message however many changes it missed. Every other topic (each session's cart) keeps the
 * broker's default history, and a viewer gets the cart messages it missed, in order.
 */
export const CART_HISTORY: HistoryPolicy = (topic) =>
  topic === STOCK_TOPIC ? { latest: true } : {};

/** Where the stock lives; and the broker that carries its changes to the viewers. */
interface CartStores {
  readonly inventory: Inventory;
  readonly broker: Broker;
  /** Resolves once the inventory and the broker are connected. */
  readonly ready: Promise<void>;
}

interface StockSettings {
  readonly stock: number;
  readonly reservationTtlMs: number;
  readonly clock: Clock | undefined;
}

function memoryStores(options: CartApplicationOptions, settings: StockSettings): CartStores {
  return {
    inventory: options.inventory ?? new MemoryInventory(settings),
    broker: options.broker ?? new MemoryBroker({ history: CART_HISTORY }),
    ready: Promise.resolve(),
  };
}

function redisStores(
  redisUrl: string,
  options: CartApplicationOptions,
  settings: StockSettings,
): CartStores {
  const { redisPrefix: prefix = 'burts:', logger = console } = options;
  const inventory =
    options.inventory ?? new RedisInventory({ url: redisUrl, prefix, logger, ...settings });
  // The topics `cart/stock` and `cart/session/<id>` under `burts:`, kept as in memory.
  const broker =
    options.broker ?? new RedisBroker({ url: redisUrl, prefix, logger, history: CART_HISTORY });
  const ready = [
    inventory instanceof RedisInventory ? inventory.ready : undefined,
    broker instanceof RedisBroker ? broker.ready : undefined,
  ];
  return { inventory, broker, ready: Promise.all(ready).then(() => {}) };
}

// ─── The application ─────────────────────────────────────────────────────────────────────────

/** A broker that tells when it got its connection back (as `RedisBroker` does). */
interface ReconnectingBroker extends Broker {
  onReconnect(listener: () => void): () => void;
}

function isReconnecting(broker: Broker): broker is ReconnectingBroker {
  return typeof (broker as Partial<ReconnectingBroker>).onReconnect === 'function';
}

/**
 * The Burt's Books application: its routes over one `Inventory`, which it closes with itself.
 * `ready` resolves once Redis (if any) is connected.
 */
export class CartApplication extends Application {
  readonly inventory: Inventory;
  readonly ready: Promise<void>;
  readonly #viewers: SessionViewers;
  readonly #clock: Clock;
  readonly #stopResending: () => void;
  #resends = 0;
  #closed = false;

  constructor(stores: CartStores, options: ApplicationOptions) {
    const { inventory } = stores;
    const viewers = new SessionViewers();
    const clock = options.clock ?? systemClock;
    super(
      [
        ['/cart', CartHandler, { inventory }],
        ['/cart/status', CartStatusSocket, { inventory, viewers, clock }],
      ],
      options,
    );
    this.#viewers = viewers;
    this.#clock = clock;
    this.inventory = inventory;
    this.ready = stores.ready;
    // Every change reaches every viewer through topics (no socket lists here): the stock to
    // all, and the session's own cart to that session's tabs.
    inventory.onChange((change) => {
      this.#publish(STOCK_TOPIC, stockMessage(change));
      this.#publish(sessionTopic(change.session), cartMessage(change));
    });
    // When this instance's connection to Redis comes back, the broker replays what its viewers
    // missed from the topics' streams (or reports a gap: an emptied Redis also put the stock
    // back): resend the stock to every viewer and their cart to the sessions followed here, so
    // every page ends up current either way.
    this.#stopResending = isReconnecting(this.broker)
      ? this.broker.onReconnect(() => void this.#resend())
      : () => {};
  }

  /** Closes the WebSockets (see `Application.close`) and the broker, then the inventory. */
  override async close(timeoutMs?: number): Promise<void> {
    this.#closed = true;
    this.#stopResending();
    await super.close(timeoutMs);
    await this.inventory.close();
  }

  /**
   * Publishes the current stock to every viewer, and each session followed by a socket of this
   * instance its cart. Retried (with backoff, on the application's clock) while the inventory is
   * still unreachable; a newer resend replaces an older one.
   */
  async #resend(): Promise<void> {
    const generation = ++this.#resends;
    for (let attempt = 0; !this.#closed && generation === this.#resends; attempt++) {
      try {
        const sessions = this.#viewers.sessions();
        const [stock, ...carts] = await Promise.all([
          this.inventory.status(null),
          ...sessions.map((session) => this.inventory.status(session)),
        ]);
        this.#publish(STOCK_TOPIC, stockMessage(stock));
        for (const [i, session] of sessions.entries()) {
          this.#publish(sessionTopic(session), cartMessage(carts[i]!));
        }
        return;
      } catch (error) {
        if (!(error instanceof InventoryUnavailableError)) {
          this.settings.logger.error('resending the stock failed', error);
          return;
        }
      }
      await new Promise<void>((resolve) =>
        unref(this.#clock.setTimeout(resolve, Math.min(250 * 2 ** attempt, 2000))),
      );
    }
  }

  #publish(topic: string, message: object): void {
    // A broker between processes may answer with a promise; a failed publish is logged (the
    // Redis broker logs it itself), never thrown into the inventory.
    Promise.resolve(this.publish(topic, message)).catch((error: unknown) => {
      if (error instanceof Error && error.name === 'BrokerUnavailableError') return;
      this.settings.logger.error(`publishing to ${topic} failed`, error);
    });
  }
}

/**
 * The cart-counter application: `GET`/`POST /cart` and WS `/cart/status`. `pnpm dev` (the Vite
 * plugin calls it with no arguments) and `pnpm start` share it. Throws `RangeError` for a stock or
 * TTL (option or variable) that is not a suitable integer.
 */
export function createApplication(options: CartApplicationOptions = {}): CartApplication {
  // Settings, and the cookie secret.
  const { initialStock, reservationTtlMs, inventory, redisUrl, redisPrefix, ...settings } = options;
  const stock: StockSettings = {
    stock: initialStock ?? integerFromEnv('INITIAL_STOCK', DEFAULT_STOCK),
    reservationTtlMs:
      reservationTtlMs ?? integerFromEnv('RESERVATION_TTL_MS', DEFAULT_RESERVATION_TTL_MS),
    clock: settings.clock,
  };
  const cookieSecret = process.env['COOKIE_SECRET'] || devCookieSecret();
  // Stores: in this process's memory, or in Redis with the broker.
  const stores =
    redisUrl === undefined || redisUrl === ''
      ? memoryStores(options, stock)
      : redisStores(redisUrl, options, stock);
  // The application.
  return new CartApplication(stores, {
    cookieSecret,
    // POST /cart must come from this origin and carry the _xsrf cookie's token (403 otherwise):
    // the page sends it in X-XSRFToken. SameSite=Lax alone lets a page on another port post.
    xsrfCookies: true,
    // Viewers never send anything; no reason to accept big messages.
    websocketMaxMessageSize: 4096,
    ...settings,
    broker: stores.broker,
  });
}

// ─── `pnpm start` ────────────────────────────────────────────────────────────────────────────

// The production build of the page (dist/client) and the routes on PORT and HOST; REDIS_URL
// shares the stock and the pushes with every other instance on the same Redis (`redis://host:port`)
// or Redis Cluster (`redis+cluster://host:port,host:port`).
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (!process.env['COOKIE_SECRET'] && process.env['NODE_ENV'] !== 'development') {
    console.error(
      'cart-counter: set COOKIE_SECRET to a long random string (the same on every instance) to ' +
        'sign session cookies, e.g. COOKIE_SECRET=$(openssl rand -hex 32); ' +
        'or NODE_ENV=development for a throwaway secret',
    );
    process.exit(1);
  }
  const port = Number(process.env['PORT'] ?? 8889);
  const host = process.env['HOST'] ?? '127.0.0.1';
  const redisUrl = process.env['REDIS_URL'] || undefined;
  // Where Redis is, for the messages: the hosts only (the URL may hold a password).
  let where = '';
  try {
    where = redisUrl === undefined ? '' : redisHosts(redisUrl);
  } catch {
    // (Not the URL itself, which may hold a password.)
    console.error(
      'cart-counter: REDIS_URL must be redis://host:port or redis+cluster://host:port,host:port',
    );
    process.exit(1);
  }
  // TRUSTED_PROXIES (addresses or subnets, comma-separated): the reverse proxies whose
  // X-Forwarded-For and X-Forwarded-Proto are believed, for client addresses and Secure cookies.
  const trustedProxies = (process.env['TRUSTED_PROXIES'] ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  const app = createApplication({
    staticPath: fileURLToPath(new URL('./client', import.meta.url)),
    redisUrl,
    ...(trustedProxies.length > 0 ? { xheaders: true, trustedProxies } : {}),
  });
  if (redisUrl !== undefined) {
    const waiting = setTimeout(
      () => console.error(`cart-counter: waiting for Redis at ${where || 'REDIS_URL'}…`),
      2000,
    );
    await app.ready;
    clearTimeout(waiting);
  }
  let actualPort: number;
  if ('bun' in process.versions) {
    // `pnpm start:bun`: the same application on Bun's own HTTP and WebSocket server.
    const { serve } = await import('@gale/server/bun');
    actualPort = serve(app, { port, hostname: host }).port;
  } else {
    const address = (await app.listen(port, host)).address();
    actualPort = typeof address === 'object' && address ? address.port : port;
  }
  console.log(`cart-counter: http://${host}:${actualPort}/`);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      void app.close().then(() => process.exit(0));
    });
  }
}
