import { type Clock, systemClock } from '@gale/io/clock';
import { WebSocketHandler } from '@gale/server';
import { inventoryOf } from './cart-handler.js';
import { InventoryUnavailableError } from './inventory.js';
import { cartMessage, STOCK_TOPIC, sessionTopic } from './messages.js';
import { readSession } from './session.js';
import type { SessionViewers } from './session-viewers.js';

/** RFC 6455's "Try Again Later": the stock cannot be read now (Redis down); the page retries. */
export const TRY_AGAIN_LATER = 1013;

// How long a subscription may take before the socket is told to try again later. A broker over
// Redis confirms a new channel only when Redis answers; while Redis is down it never does.
const SUBSCRIBE_TIMEOUT_MS = 2000;

/**
 * WS `/cart/status`: the live stock. On connect it sends the caller a `CartMessage` (the stock and
 * its own cart) as a snapshot; after that every viewer receives `{inventoryCount, version}` on
 * every change (the topic `STOCK_TOPIC`), and the tabs of a session whose cart changed (another
 * tab, or an expired reservation) receive that session's `CartMessage` (its session topic).
 * Clients send nothing; whatever they send is ignored. When the stock cannot be read (Redis
 * down), the socket is closed with 1013 "Try Again Later".
 *
 * A gale.v1 client that reconnects resumes both topics. The stock topic keeps only its latest
 * value (see `CART_HISTORY`), so a viewer that missed changes gets one message, the current count,
 * and no snapshot; the session topic replays the cart messages it missed. Only when a topic could
 * not be resumed without loss (a first connection, a plain client, a gap: the broker restarted
 * empty or forgot the topic) is the snapshot sent: messages cannot rebuild what was lost.
 */
export class CartStatusSocket extends WebSocketHandler {
  #session: string | null = null;

  override async open(): Promise<void> {
    const session = readSession(this);
    try {
      // Subscribe before reading the stock, so a change in between is pushed rather than
      // missed; the version tells the page which of the two is newer.
      const topics = session === null ? [STOCK_TOPIC] : [STOCK_TOPIC, sessionTopic(session)];
      const subscribed = topics.map((topic) => this.subscribe(topic));
      await withTimeout(Promise.all(subscribed), SUBSCRIBE_TIMEOUT_MS, clockOf(this));
      // Resumed without loss: the broker has sent what was missed (the latest count, the cart
      // messages), and a snapshot would only repeat it.
      if (!topics.every((topic) => this.resumed(topic))) {
        const status = await inventoryOf(this).status(session);
        await this.writeMessage(cartMessage(status));
      }
    } catch (error) {
      if (!(error instanceof InventoryUnavailableError)) throw error;
      this.settings.logger.warn(`/cart/status: ${error.message}; closing with 1013`);
      this.close(TRY_AGAIN_LATER, 'The stock is unavailable; try again');
      return;
    }
    if (session !== null) {
      this.#session = session;
      viewersOf(this).add(session);
    }
  }

  override onClose(): void {
    if (this.#session !== null) viewersOf(this).delete(this.#session);
    this.#session = null;
  }
}

function viewersOf(handler: CartStatusSocket): SessionViewers {
  return handler.options['viewers'] as SessionViewers;
}

// The application's clock, given in the route's options (tests step it).
function clockOf(handler: CartStatusSocket): Clock {
  return (handler.options['clock'] as Clock | undefined) ?? systemClock;
}

function withTimeout(promise: Promise<unknown>, ms: number, clock: Clock): Promise<void> {
  let timer: unknown;
  const timeout = new Promise<never>((_, reject) => {
    timer = clock.setTimeout(
      () => reject(new InventoryUnavailableError('the broker could not subscribe in time')),
      ms,
    );
  });
  return Promise.race([promise, timeout])
    .catch((error: unknown) => {
      // A broker that failed to subscribe (Redis down) is the same "try again later".
      if (error instanceof InventoryUnavailableError) throw error;
      throw new InventoryUnavailableError('the broker could not subscribe', { cause: error });
    })
    .then(() => undefined)
    .finally(() => clock.clearTimeout(timer));
}
