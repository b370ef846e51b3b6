import { ConnectionController, type GapEvent, type Message } from '@gale/client';
import { css, html, LitElement, nothing } from 'lit';
import { keyed } from 'lit/directives/keyed.js';
import { type CartAction, STOCK_TOPIC } from '../../server/messages.js';
import {
  applyMessage,
  type CartState,
  forgetVersion,
  parseMessage,
  UNKNOWN_CART,
} from '../cart-state.js';
import { XSRF_HEADER, xsrfCookie } from '../xsrf.js';
import { type CartActionDetail, othersLeft } from './cart-controls.js';
import './book-detail.js';
import './cart-controls.js';
import './connection-status.js';
import { palette, visuallyHidden } from './theme.js';

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

/** What the status region says (for screen readers); a new `id` says it again. */
interface Announcement {
  readonly id: number;
  readonly text: string;
}

const RESERVATION_RAN_OUT = 'Your reservation ran out, so the copy went back on the shelf.';

/** The stock, in words: for a shopper holding a copy, how many others are left. */
function stockNews(cart: CartState): string {
  const count = cart.inventoryCount ?? 0;
  if (cart.inCart) return othersLeft(count);
  return count === 0
    ? "Sold out: every copy is in someone's cart."
    : `Only ${count} left in stock.`;
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
 * through a `ConnectionController` (which reconnects by itself, and resumes: after a cut it gets
 * the latest count, and its cart's changes, rather than a new snapshot), and sends Add to Cart /
 * Remove from Cart as `POST /cart`, with the `_xsrf` cookie's token in `X-XSRFToken`.
 */
export class BurtsBooks extends LitElement {
  static override properties = {
    _cart: { state: true },
    _pending: { state: true },
    _notice: { state: true },
    _announcement: { state: true },
  };

  static override styles = [
    palette,
    visuallyHidden,
    css`
      :host {
        display: block;
        min-height: 100vh;
        background: var(--bb-page);
        color: var(--bb-ink);
      }
      header {
        background: var(--bb-header);
        color: var(--bb-header-ink);
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
      /* The name and the tagline side by side; when the bar is too narrow, the tagline goes whole
         to the line below. */
      .brand {
        display: flex;
        flex-wrap: wrap;
        align-items: baseline;
        column-gap: 0.75rem;
        row-gap: 0.1rem;
      }
      h1 {
        margin: 0;
        font-family: Georgia, 'Times New Roman', serif;
        font-size: 1.5rem;
        letter-spacing: 0.01em;
      }
      .tagline {
        margin: 0;
        font-size: 0.8rem;
        color: var(--bb-header-muted);
        white-space: nowrap;
      }
      header connection-status {
        color: var(--bb-header-muted);
      }
      main {
        max-width: 50rem;
        margin: 2rem auto;
        padding: 0 1.25rem;
      }
      .card {
        background: var(--bb-card);
        border-radius: 10px;
        box-shadow: 0 1px 3px var(--bb-shadow), 0 8px 24px var(--bb-shadow);
        padding: 2rem;
      }
      .notice {
        margin: 1rem 0 0;
        padding: 0.7rem 1rem;
        border-radius: 6px;
        font-size: 0.95rem;
      }
      .notice.error {
        background: var(--bb-error);
        color: var(--bb-on-error);
      }
      .notice.info {
        background: var(--bb-info);
        color: var(--bb-on-info);
      }
      footer {
        max-width: 50rem;
        margin: 0 auto 2rem;
        padding: 0 1.25rem;
        font-size: 0.8rem;
        color: var(--bb-muted);
      }
      @media (max-width: 34rem) {
        .bar {
          padding: 0.75rem 1rem;
        }
        main {
          margin: 1rem auto;
          padding: 0 1rem;
        }
        .card {
          padding: 1.25rem;
        }
        footer {
          padding: 0 1rem;
        }
      }
    `,
  ];

  declare private _cart: CartState;
  declare private _pending: CartAction | null;
  declare private _notice: Notice | null;
  /** What the status region says now; `id` grows, so that the same words are said again. */
  declare private _announcement: Announcement;
  #socket: ConnectionController | null = null;
  #loading = false;

  constructor() {
    super();
    this._cart = UNKNOWN_CART;
    this._pending = null;
    this._notice = null;
    this._announcement = { id: 0, text: '' };
  }

  override connectedCallback(): void {
    super.connectedCallback();
    if (this.#socket === null && !this.#loading) void this.#load();
  }

  // Screen readers hear changes through two regions that are always on the page (a region added
  // with its text is often not read): the status region (polite), for the stock pushed by other
  // shoppers, the result of Add to Cart / Remove from Cart and the reservation running out; and
  // the alert region, for errors. The stock line and the cart line are not live regions
  // themselves, so nothing is said twice.
  override render() {
    const notice = this._notice;
    return html`
      <header>
        <div class="bar">
          <div class="brand">
            <h1>Burt's Books</h1>
            <p class="tagline">Independent booksellers</p>
          </div>
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
        <div class="alerts" role="alert">${
          notice?.kind === 'error' ? html`<p class="notice error">${notice.text}</p>` : nothing
        }</div>
        ${notice?.kind === 'info' ? html`<p class="notice info">${notice.text}</p>` : nothing}
        <div class="visually-hidden" role="status" aria-live="polite" aria-atomic="true">${keyed(
          this._announcement.id,
          html`<span>${this._announcement.text}</span>`,
        )}</div>
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
    // With `resume` (gale.v1, which the shop speaks), a reconnection picks up where the last
    // socket stopped: the server sends what was missed, the latest count and the cart's changes,
    // and no snapshot. Versions go on from where they were.
    this.#socket = new ConnectionController(this, `${scheme}//${location.host}/cart/status`, {
      reconnect: { minDelay: 250, maxDelay: 5000 },
      resume: true,
      onMessage: (message) => this.#onMessage(message),
      // A gap can only follow a reconnection (the first socket resumes nothing): listen from
      // there, on each connection the controller opens (adding the same listener twice is one).
      onReconnect: (connection) => connection.addEventListener('gap', this.#onGap),
    });
  }

  /**
   * Messages of a topic were lost: the server restarted (a new history, and an in-memory server
   * counts versions from 0 again) or no longer keeps them. It sends a snapshot right after (its
   * `/cart/status` does whenever a topic did not resume), which must replace what is shown
   * whatever its version: forget the version of that part (the stock, or this session's cart).
   */
  readonly #onGap = (event: GapEvent): void => {
    this._cart = forgetVersion(this._cart, event.topic === STOCK_TOPIC ? 'stock' : 'cart');
  };

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

  /**
   * Applies what the server said. Unless one of this page's requests is on its way (its result is
   * said when it ends), a change is announced: the stock moved (another shopper), the cart changed
   * (another tab of this shopper), or the reservation ran out.
   */
  #apply(data: unknown): void {
    const message = parseMessage(data);
    if (message === null) return;
    const before = this._cart;
    this._cart = applyMessage(before, message);
    if ('expired' in message && message.expired && before.inCart && !this._cart.inCart) {
      this._notice = { kind: 'info', text: RESERVATION_RAN_OUT };
      this.#announce(`${RESERVATION_RAN_OUT} ${stockNews(this._cart)}`);
      return;
    }
    if (this._pending === null) this.#announceChange(before, this._cart, false);
  }

  /** Says what changed between two states, if anything did (nothing when the stock was unknown). */
  #announceChange(before: CartState, after: CartState, mine: boolean): void {
    if (before.inventoryCount === null) return;
    if (after.inCart !== before.inCart) {
      const news = after.inCart ? 'Added to your cart' : 'Removed from your cart';
      this.#announce(`${news}${mine ? '' : ' in another tab'}. ${stockNews(after)}`);
    } else if (after.inventoryCount !== before.inventoryCount) {
      this.#announce(stockNews(after));
    }
  }

  #announce(text: string): void {
    this._announcement = { id: this._announcement.id + 1, text };
  }

  #onMessage(message: Message): void {
    if (typeof message === 'string') this.#apply(message);
  }

  // The button keeps the focus through all this (see <cart-controls>): after the result or an
  // error, a keyboard user is still on it.
  private async _onCartAction(event: CustomEvent<CartActionDetail>): Promise<void> {
    if (this._pending !== null) return;
    const { action } = event.detail;
    const before = this._cart;
    this._pending = action;
    if (this._notice?.kind === 'info') this._notice = null;
    try {
      const status = await this.#post(action);
      if (status !== null) {
        this.#apply(status);
        this.#announceChange(before, this._cart, true);
      }
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
