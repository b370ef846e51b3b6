import type { CartStatus, InventoryChange } from './inventory.js';

/** What `POST /cart` may ask for. */
export type CartAction = 'add' | 'remove';

/** Pushed on WS /cart/status to every viewer after every change (the topic `STOCK_TOPIC`). */
export interface StockMessage {
  /** Copies left: never below 0. */
  readonly inventoryCount: number;
  /** Grows with every change: keep the message with the highest version. */
  readonly version: number;
}

/**
 * One session's cart with the stock: the body of `GET /cart` and `POST /cart`, the first message
 * on WS /cart/status, and what that session's own tabs are pushed when its cart changes.
 */
export interface CartMessage extends StockMessage {
  /** Whether the caller holds a copy. */
  readonly inCart: boolean;
  /** When the caller's reservation ends (ISO 8601), or null. */
  readonly expiresAt: string | null;
  /** Present (true) when the caller's copy went back to the shelf because its time ran out. */
  readonly expired?: true;
}

/** The topic every viewer subscribes to. */
export const STOCK_TOPIC = 'cart/stock';

/** The topic of one session's tabs: their cart changed (in another tab, or by expiry). */
export function sessionTopic(session: string): string {
  return `cart/session/${session}`;
}

/** The stock part of a status, as pushed to everyone. */
export function stockMessage(status: CartStatus): StockMessage {
  return { inventoryCount: status.inventoryCount, version: status.version };
}

/** A status as the caller sees it (JSON-ready: `expiresAt` as ISO 8601). */
export function cartMessage(status: CartStatus | InventoryChange): CartMessage {
  const message: CartMessage = {
    inventoryCount: status.inventoryCount,
    version: status.version,
    inCart: status.inCart,
    expiresAt: status.expiresAt === null ? null : new Date(status.expiresAt).toISOString(),
  };
  return 'cause' in status && status.cause === 'expired' ? { ...message, expired: true } : message;
}
