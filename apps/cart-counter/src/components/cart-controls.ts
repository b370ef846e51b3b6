import { css, html, LitElement, nothing } from 'lit';
import type { CartAction } from '../../server/messages.js';
import { palette } from './theme.js';

/** The detail of a `cart-action` event. */
export interface CartActionDetail {
  readonly action: CartAction;
}

const SOLD_OUT_REASON =
  "Every copy is in someone's cart. A copy goes back on the shelf when its reservation runs out, so check back soon.";

/**
 * What a shopper can do with the book: "Only N left in stock! Order now!" and Add to Cart, or
 * "One copy is in your cart." and Remove from Cart. Sold out, Add to Cart is disabled
 * (`aria-disabled`, still focusable) and says why. The button does nothing while a request is on
 * its way (`aria-busy`).
 *
 * @fires cart-action - `{ action: 'add' | 'remove' }`, what the shopper asked for
 */
export class CartControls extends LitElement {
  static override properties = {
    inventoryCount: { attribute: false },
    inCart: { type: Boolean, attribute: 'in-cart' },
    expiresAt: { attribute: false },
    pending: { attribute: false },
  };

  static override styles = [
    palette,
    css`
      :host {
        display: block;
      }
      p {
        margin: 0 0 0.8rem;
      }
      .stock {
        color: var(--bb-urgent);
        font-weight: 600;
      }
      .stock.sold-out {
        color: var(--bb-muted);
      }
      .in-cart {
        color: var(--bb-success);
        font-weight: 600;
      }
      .hint {
        color: var(--bb-muted);
        font-size: 0.9rem;
        max-width: 28rem;
      }
      button {
        font: inherit;
        font-weight: 600;
        /* A tap target of at least 44 × 44 px. */
        min-height: 2.75rem;
        min-width: 2.75rem;
        padding: 0.6rem 1.4rem;
        border-radius: 6px;
        border: 1px solid transparent;
        cursor: pointer;
        margin-bottom: 0.8rem;
      }
      .add {
        background: var(--bb-accent);
        color: var(--bb-on-accent);
      }
      .add:hover:not([aria-disabled='true']) {
        background: var(--bb-accent-hover);
      }
      .remove {
        background: var(--bb-card);
        color: var(--bb-ink);
        border-color: var(--bb-border);
      }
      .remove:hover:not([aria-disabled='true']) {
        background: var(--bb-hover);
      }
      /* Unavailable (sold out, stock unknown) but still focusable: grey, readable, described. */
      button[aria-disabled='true']:not([aria-busy='true']) {
        cursor: not-allowed;
        background: var(--bb-unavailable);
        color: var(--bb-on-unavailable);
        border-color: transparent;
      }
      /* On its way: the same look (no flash), a busy cursor. */
      button[aria-busy='true'] {
        cursor: progress;
      }
      button:focus-visible {
        outline: 3px solid var(--bb-focus);
        outline-offset: 2px;
      }
      /* A phone: the primary action across the card, easy to reach with a thumb. */
      @media (max-width: 34rem) {
        button {
          width: 100%;
        }
      }
    `,
  ];

  /** Copies left; null while unknown. */
  declare inventoryCount: number | null;
  /** Whether this shopper holds a copy. */
  declare inCart: boolean;
  /** When this shopper's reservation ends (ISO 8601), or null. */
  declare expiresAt: string | null;
  /** The action on its way to the server, if any. */
  declare pending: CartAction | null;

  constructor() {
    super();
    this.inventoryCount = null;
    this.inCart = false;
    this.expiresAt = null;
    this.pending = null;
  }

  // One button, kept across states (its name, class and aria-disabled change): focus stays on it
  // when a shopper adds or removes, when the request is on its way and when the stock sells out
  // under it. Unavailable, it is aria-disabled rather than disabled, so it keeps the focus and
  // screen readers still find it and its reason. The text here is not a live region: the page
  // announces changes once, through its own status region.
  override render() {
    const count = this.inventoryCount;
    const soldOut = !this.inCart && count === 0;
    const action: CartAction = this.inCart ? 'remove' : 'add';
    return html`
      ${this.inCart ? this.#renderInCart() : this.#renderOnShelf()}
      <button
        class=${action}
        aria-disabled=${this.#available() ? nothing : 'true'}
        aria-busy=${this.pending === null ? nothing : 'true'}
        aria-describedby=${soldOut ? 'reason' : nothing}
        @click=${() => this.#fire(action)}
      >${this.inCart ? 'Remove from Cart' : 'Add to Cart'}</button>
      ${soldOut ? html`<p class="hint" id="reason">${SOLD_OUT_REASON}</p>` : nothing}
      ${this.inCart && count !== null ? html`<p class="hint">${othersLeft(count)}</p>` : nothing}
    `;
  }

  #renderInCart() {
    return html`
      <p class="in-cart">One copy is in your cart.</p>
      ${
        this.expiresAt === null
          ? nothing
          : html`<p class="hint">We're holding it for you until ${formatTime(this.expiresAt)}.</p>`
      }
    `;
  }

  #renderOnShelf() {
    const count = this.inventoryCount;
    if (count === 0) return html`<p class="stock sold-out">Sold out</p>`;
    return html`<p class="stock">${
      count === null ? 'Checking stock…' : `Only ${count} left in stock! Order now!`
    }</p>`;
  }

  /** Whether the button does something now: nothing on its way, and a copy to add if adding. */
  #available(): boolean {
    if (this.pending !== null) return false;
    return this.inCart || (this.inventoryCount !== null && this.inventoryCount > 0);
  }

  #fire(action: CartAction): void {
    if (!this.#available()) return;
    this.dispatchEvent(
      new CustomEvent<CartActionDetail>('cart-action', {
        detail: { action },
        bubbles: true,
        composed: true,
      }),
    );
  }
}

/** "3 other copies left.": the stock, said to a shopper who holds a copy. */
export function othersLeft(count: number): string {
  if (count === 0) return 'No other copies left.';
  return count === 1 ? '1 other copy left.' : `${count} other copies left.`;
}

function formatTime(iso: string): string {
  return new Date(iso).toLocaleTimeString([], { hour: 'numeric', minute: '2-digit' });
}

customElements.define('cart-controls', CartControls);

declare global {
  interface HTMLElementTagNameMap {
    'cart-controls': CartControls;
  }
  interface HTMLElementEventMap {
    'cart-action': CustomEvent<CartActionDetail>;
  }
}
