import { type Handler, HTTPError, RequestHandler } from '@gale/server';
import { type Inventory, InventoryUnavailableError } from './inventory.js';
import { type CartAction, cartMessage } from './messages.js';
import { ensureSession } from './session.js';

/** The route option every cart handler reads its `Inventory` from. */
export function inventoryOf(handler: Handler): Inventory {
  return handler.options['inventory'] as Inventory;
}

/**
 * `/cart`: the caller's cart, for the session in its signed cookie (created here when missing).
 *
 * - `GET` → 200 `CartMessage` (the stock, and whether this session holds a copy); also sets the
 *   `_xsrf` cookie when missing, whose token the page sends back with every POST.
 * - `POST` without that token or from another origin → 403 before anything else runs (the
 *   application's `xsrfCookies` setting): nothing changes and no cookie is set.
 * - `POST` with JSON or a form `{action: "add" | "remove"}` → 200 `CartMessage`; 409 when `add`
 *   finds no copy left; 400 for anything else (bad JSON, another action, another content type).
 *   Both actions are idempotent: `add` while holding a copy and `remove` while holding none
 *   succeed and change nothing, so a double click or a retried request is harmless.
 * - 503 (with `Retry-After`) from either when the stock cannot be reached (Redis down).
 */
export class CartHandler extends RequestHandler {
  override async get(): Promise<void> {
    const session = ensureSession(this);
    // Read for its effect: sets the _xsrf cookie if the browser has none (the page reads it).
    void this.xsrfToken;
    this.setHeader('Cache-Control', 'no-store');
    this.write(cartMessage(await unlessUnavailable(inventoryOf(this).status(session))));
  }

  override async post(): Promise<void> {
    const action = await this.#readAction();
    const session = ensureSession(this);
    const inventory = inventoryOf(this);
    this.setHeader('Cache-Control', 'no-store');
    if (action === 'remove') {
      this.write(cartMessage(await unlessUnavailable(inventory.release(session))));
      return;
    }
    const result = await unlessUnavailable(inventory.reserve(session));
    if (!result.ok) throw new HTTPError(409, "Sold out: every copy is in someone's cart");
    this.write(cartMessage(result));
  }

  async #readAction(): Promise<CartAction> {
    const type = (this.request.headers['content-type'] ?? '').split(';', 1)[0]!.trim();
    let action: unknown;
    if (type.toLowerCase() === 'application/json') {
      const body = await this.json();
      action = typeof body === 'object' && body !== null ? Reflect.get(body, 'action') : undefined;
    } else if (type.toLowerCase() === 'application/x-www-form-urlencoded') {
      action = (await this.form()).get('action');
    } else {
      // The contract is "400 bad input", so the wrong content type is one too (not 415).
      throw new HTTPError(400, 'Send {"action": "add" | "remove"} as application/json or a form');
    }
    if (action !== 'add' && action !== 'remove') {
      throw new HTTPError(400, 'action must be "add" or "remove"');
    }
    return action;
  }
}

/** The inventory's answer, or a 503 when its store cannot be reached. */
async function unlessUnavailable<T>(answer: Promise<T>): Promise<T> {
  try {
    return await answer;
  } catch (error) {
    if (!(error instanceof InventoryUnavailableError)) throw error;
    throw new HTTPError(503, "The shop can't reach its stock right now; try again in a moment", {
      cause: error,
      headers: { 'Retry-After': '1' },
    });
  }
}
