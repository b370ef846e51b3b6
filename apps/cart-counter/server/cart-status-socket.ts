import { WebSocketHandler } from '@gale/server';
import { inventoryOf } from './cart-handler.js';
import { cartMessage, STOCK_TOPIC, sessionTopic } from './messages.js';
import { readSession } from './session.js';

/**
 * WS `/cart/status`: the live stock. On connect it sends the caller a `CartMessage` (the stock and
 * its own cart); after that every viewer receives `{inventoryCount, version}` on every change,
 * and the tabs of a session whose cart changed (another tab, or an expired reservation) receive
 * that session's `CartMessage`. Clients send nothing; whatever they send is ignored.
 */
export class CartStatusSocket extends WebSocketHandler {
  override async open(): Promise<void> {
    const session = readSession(this);
    // Subscribe before reading the stock, so a change in between is pushed rather than missed;
    // the version tells the page which of the two is newer.
    await this.subscribe(STOCK_TOPIC);
    if (session !== null) await this.subscribe(sessionTopic(session));
    const status = await inventoryOf(this).status(session);
    await this.writeMessage(cartMessage(status));
  }
}
