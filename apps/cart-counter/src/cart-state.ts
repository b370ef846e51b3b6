import type { CartMessage, StockMessage } from '../server/messages.js';

/** What the page knows about the stock and this session's cart. */
export interface CartState {
  /** Copies left; null until the server said. */
  readonly inventoryCount: number | null;
  /** Whether this session holds a copy. */
  readonly inCart: boolean;
  /** When this session's reservation ends (ISO 8601), or null. */
  readonly expiresAt: string | null;
  /** The version of the newest stock applied (-1: none yet). */
  readonly stockVersion: number;
  /** The version of the newest cart state applied (-1: none yet). */
  readonly cartVersion: number;
}

/** Nothing known yet. */
export const UNKNOWN_CART: CartState = {
  inventoryCount: null,
  inCart: false,
  expiresAt: null,
  stockVersion: -1,
  cartVersion: -1,
};

/**
 * Applies what the server said: a `StockMessage` (a push to every viewer) or a `CartMessage` (an
 * HTTP answer, the socket's first message, a push to this session's tabs). The same change can
 * arrive by several paths and in any order, so anything older than what was applied is ignored.
 */
export function applyMessage(state: CartState, message: StockMessage | CartMessage): CartState {
  let next = state;
  if (message.version >= state.stockVersion) {
    next = { ...next, inventoryCount: message.inventoryCount, stockVersion: message.version };
  }
  if ('inCart' in message && message.version >= state.cartVersion) {
    next = {
      ...next,
      inCart: message.inCart,
      expiresAt: message.expiresAt,
      cartVersion: message.version,
    };
  }
  return next;
}

/**
 * Keeps what is shown but accepts any version next for one part of it, after the server said
 * (a `gap`) that messages of its topic were lost: the server may have restarted (an in-memory one
 * counts versions from 0 again), and the snapshot it sends then, like the messages of the topic
 * that follow, must be believed. `stock` for the stock's topic, `cart` for the session's.
 */
export function forgetVersion(state: CartState, part: 'stock' | 'cart'): CartState {
  return part === 'stock' ? { ...state, stockVersion: -1 } : { ...state, cartVersion: -1 };
}

/** Parses a message from the server; null for anything that is not one. */
export function parseMessage(data: unknown): StockMessage | CartMessage | null {
  let value: unknown = data;
  if (typeof data === 'string') {
    try {
      value = JSON.parse(data);
    } catch {
      return null;
    }
  }
  if (typeof value !== 'object' || value === null) return null;
  const message = value as Record<string, unknown>;
  if (!isCount(message['inventoryCount']) || !isCount(message['version'])) return null;
  if (!('inCart' in message)) return message as unknown as StockMessage;
  const expiresAt = message['expiresAt'];
  if (typeof message['inCart'] !== 'boolean') return null;
  if (expiresAt !== null && typeof expiresAt !== 'string') return null;
  return message as unknown as CartMessage;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
