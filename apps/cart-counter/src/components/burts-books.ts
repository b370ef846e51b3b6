import { ConnectionController, type Message } from '@gale/client';
import { css, html, LitElement, nothing } from 'lit';
import type { CartAction } from '../../server/messages.js';
import {
  applyMessage,
  type CartState,
  forgetVersions,
  parseMessage,
  UNKNOWN_CART,
} from '../cart-state.js';
import { XSRF_HEADER, xsrfCookie } from '../xsrf.js';
import type { CartActionDetail } from './cart-controls.js';
import './book-detail.js';
import './cart-controls.js';
import './connection-status.js';

/** The one book Burt's Books sells, as in *Introduction to Tornado*. */
export const BOOK = {
  title: 'The Definitive Guide to the Internet',
  author: 'Anonymous',
  price: '$20.00',
} as const;

/** A line under the book: a failed request, or news about this shopper's cart. */
export interface Notice {
  readonly kind: 'error' | 'info';
  readonly text: string;
}

const RETRY_MAX_MS = 5000;

/** Shown when the shop refuses a POST as a possible forgery (403), even after a fresh token. */
export const REFUSED_AS_FORGED =
  "Burt's Books could not confirm that this request came from this page, so it changed nothing. " +
  'Reload the page and try again.';

const GET_CART: RequestInit = { headers: { Accept: 'application/json' } };

/**
 * The Burt's Books page. It loads this shopper's cart (`GET /cart`, which also gives the browser
 * its session cookie and its `_xsrf` cookie), then follows the stock live over WS `/cart/status`
 * through a `ConnectionController` (which reconnects by itself), and sends Add to Cart / Remove
 * from Cart as `POST /cart`, with the `_xsrf` cookie's token in `X-XSRFToken`.
 */
export class BurtsBooks extends LitElement {
  static override properties = {
    _cart: { state: true },
    _pending: { state: true },
    _notice: { state: true },
  };

  static override styles = css`
    :host {
      display: block;
      min-height: 100vh;
    }
    header {
      background: #222831;
      color: #f4f1e8;
    }
    .bar {
      max-width: 50rem;
      margin: 0 auto;
      padding: 0.9rem 1.25rem;
      display: flex;
      align-items: center;
      justify-content: space-between;
      gap: 1rem;
    }
    h1 {
      margin: 0;
      font-family: Georgia, 'Times New Roman', serif;
      font-size: 1.5rem;
      letter-spacing: 0.01em;
    }
    .tagline {
      font-size: 0.8rem;
      color: #c7c2b6;
      margin-left: 0.75rem;
      font-weight: normal;
      font-family: system-ui, sans-serif;
    }
    header connection-status {
      color: #c7c2b6;
    }
    main {
      max-width: 50rem;
      margin: 2rem auto;
      padding: 0 1.25rem;
    }
    .card {
      background: white;
      border-radius: 10px;
      box-shadow: 0 1px 3px rgb(0 0 0 / 0.08), 0 8px 24px rgb(0 0 0 / 0.05);
      padding: 2rem;
    }
    .notice {
      margin: 1rem 0 0;
      padding: 0.7rem 1rem;
      border-radius: 6px;
      font-size: 0.95rem;
    }
    .notice.error {
      background: #fdecea;
      color: #8a1c12;
    }
    .notice.info {
      background: #eef4fb;
      color: #1f4e79;
    }
    footer {
      max-width: 50rem;
      margin: 0 auto 2rem;
      padding: 0 1.25rem;
      font-size: 0.8rem;
      color: #7a808c;
    }
  `;

  declare private _cart: CartState;
  declare private _pending: CartAction | null;
  declare private _notice: Notice | null;
  #socket: ConnectionController | null = null;
  #loading = false;

  constructor() {
    super();
    this._cart = UNKNOWN_CART;
    this._pending = null;
    this._notice = null;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    if (this.#socket === null && !this.#loading) void this.#load();
  }

  override render() {
    return html`
      <header>
        <div class="bar">
          <h1>Burt's Books<span class="tagline">Independent booksellers</span></h1>
          <connection-status .state=${this.#socket?.state ?? 'connecting'}></connection-status>
        </div>
      </header>
      <main>
        <div class="card">
          <book-detail book-title=${BOOK.title} author=${BOOK.author} price=${BOOK.price}>
            <cart-controls
              .inventoryCount=${this._cart.inventoryCount}
              .inCart=${this._cart.inCart}
              .expiresAt=${this._cart.expiresAt}
              .pending=${this._pending}
              @cart-action=${this._onCartAction}
            ></cart-controls>
          </book-detail>
        </div>
        ${
          this._notice === null
            ? nothing
            : html`<p class="notice ${this._notice.kind}"
                role=${this._notice.kind === 'error' ? 'alert' : 'status'}>${this._notice.text}</p>`
        }
      </main>
      <footer>One copy per customer. The stock updates live in every open tab.</footer>
    `;
  }

  // The session cookie must exist before the socket opens, so that the socket follows this
  // session's cart too: load the cart first (retrying while the shop is unreachable), then connect.
  async #load(): Promise<void> {
    this.#loading = true;
    try {
      for (let attempt = 0; this.isConnected; attempt++) {
        const status = await this.#request('/cart', GET_CART);
        if (status !== null) {
          this.#apply(status);
          break;
        }
        await new Promise((resolve) =>
          setTimeout(resolve, Math.min(RETRY_MAX_MS, 500 * 2 ** attempt)),
        );
      }
    } finally {
      this.#loading = false;
    }
    if (!this.isConnected || this.#socket !== null) return;
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    // Added while connected, the controller connects at once (and closes when the page goes).
    this.#socket = new ConnectionController(this, `${scheme}//${location.host}/cart/status`, {
      reconnect: { minDelay: 250, maxDelay: 5000 },
      onMessage: (message) => this.#onMessage(message),
      // The server may have restarted (an in-memory one counts versions from 0 again): what the
      // new socket says wins.
      onReconnect: () => {
        this._cart = forgetVersions(this._cart);
      },
    });
  }

  /** Sends a request; returns its JSON body, or null after showing why it failed. */
  async #request(url: string, init: RequestInit): Promise<unknown> {
    const response = await this.#fetch(url, init);
    return response === null ? null : this.#read(response);
  }

  /** The response, or null after showing that the shop cannot be reached. */
  async #fetch(url: string, init: RequestInit): Promise<Response | null> {
    try {
      return await fetch(url, init);
    } catch {
      this._notice = { kind: 'error', text: "Can't reach Burt's Books. Check your connection." };
      return null;
    }
  }

  /** The response's JSON body, or null after showing why the shop refused. */
  async #read(response: Response): Promise<unknown> {
    const body: unknown = await response.json().catch(() => null);
    if (!response.ok) {
      const message = (body as { message?: unknown } | null)?.message;
      let text = typeof message === 'string' ? message : `The shop answered ${response.status}.`;
      // The server's reason names cookies and headers; say what it means for the shopper.
      if (response.status === 403) text = REFUSED_AS_FORGED;
      this._notice = { kind: 'error', text };
      return null;
    }
    if (this._notice?.kind === 'error') this._notice = null;
    return body;
  }

  /**
   * `POST /cart` with the `_xsrf` cookie's token in `X-XSRFToken`: the shop refuses (403, and
   * changes nothing) a POST without it. The load's `GET /cart` set the cookie; when it is gone
   * (cleared since), a `GET /cart` sets it again first. A 403 gets one more try after a fresh
   * `GET /cart`, since the cookie may have changed since it was read; a second 403 is shown.
   */
  async #post(action: CartAction): Promise<unknown> {
    for (let attempt = 1; ; attempt++) {
      if (attempt > 1 || xsrfCookie() === null) {
        const status = await this.#request('/cart', GET_CART);
        if (status === null) return null;
        this.#apply(status);
      }
      const token = xsrfCookie();
      const response = await this.#fetch('/cart', {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          Accept: 'application/json',
          ...(token === null ? {} : { [XSRF_HEADER]: token }),
        },
        body: JSON.stringify({ action }),
      });
      if (response === null) return null;
      if (response.status !== 403 || attempt > 1) return this.#read(response);
      await response.body?.cancel();
    }
  }

  #apply(data: unknown): void {
    const message = parseMessage(data);
    if (message === null) return;
    const wasInCart = this._cart.inCart;
    this._cart = applyMessage(this._cart, message);
    if ('expired' in message && message.expired && wasInCart && !this._cart.inCart) {
      this._notice = {
        kind: 'info',
        text: 'Your reservation ran out, so the copy went back on the shelf.',
      };
    }
  }

  #onMessage(message: Message): void {
    if (typeof message === 'string') this.#apply(message);
  }

  private async _onCartAction(event: CustomEvent<CartActionDetail>): Promise<void> {
    if (this._pending !== null) return;
    const { action } = event.detail;
    this._pending = action;
    if (this._notice?.kind === 'info') this._notice = null;
    try {
      const status = await this.#post(action);
      if (status !== null) this.#apply(status);
    } finally {
      this._pending = null;
    }
  }
}

customElements.define('burts-books', BurtsBooks);

declare global {
  interface HTMLElementTagNameMap {
    'burts-books': BurtsBooks;
  }
}
