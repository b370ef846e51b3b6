import { css, html, LitElement, nothing } from 'lit';
import type { CartAction } from '../../server/messages.js';

/** The detail of a `cart-action` event. */
export interface CartActionDetail {
  readonly action: CartAction;
}

const SOLD_OUT_REASON =
  "Every copy is in someone's cart. A copy goes back on the shelf when its reservation runs out, so check back soon.";

/**
 * What a shopper can do with the book: "Only N left in stock! Order now!" and Add to Cart, or
 * "One copy is in your cart." and Remove from Cart. Sold out, Add to Cart is disabled and says
 * why. Buttons are disabled while a request is on its way.
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

  static override styles = css`
    :host {
      display: block;
    }
    p {
      margin: 0 0 0.8rem;
    }
    .stock {
      color: #b42318;
      font-weight: 600;
    }
    .sold-out {
      color: #5b6270;
    }
    .in-cart {
      color: #1f7a46;
      font-weight: 600;
    }
    .hint {
      color: #5b6270;
      font-size: 0.9rem;
      max-width: 28rem;
    }
    button {
      font: inherit;
      font-weight: 600;
      padding: 0.65rem 1.4rem;
      border-radius: 6px;
      border: 1px solid transparent;
      cursor: pointer;
      margin-bottom: 0.8rem;
    }
    .add {
      background: #1f4e79;
      color: white;
    }
    .add:hover:not(:disabled) {
      background: #163a5c;
    }
    .remove {
      background: white;
      color: #222831;
      border-color: #c9ced8;
    }
    .remove:hover:not(:disabled) {
      background: #f1f3f6;
    }
    button:disabled {
      cursor: not-allowed;
      opacity: 0.55;
    }
    button:focus-visible {
      outline: 3px solid #f0b429;
      outline-offset: 2px;
    }
  `;

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

  override render() {
    return this.inCart ? this.#renderInCart() : this.#renderOnShelf();
  }

  #renderInCart() {
    return html`
      <p class="in-cart" aria-live="polite">One copy is in your cart.</p>
      ${
        this.expiresAt === null
          ? nothing
          : html`<p class="hint">We're holding it for you until ${formatTime(this.expiresAt)}.</p>`
      }
      <button class="remove" ?disabled=${this.pending !== null} aria-busy=${this.pending === 'remove'}
        @click=${() => this.#fire('remove')}>Remove from Cart</button>
      ${this.inventoryCount === null ? nothing : html`<p class="hint">${othersLeft(this.inventoryCount)}</p>`}
    `;
  }

  #renderOnShelf() {
    const count = this.inventoryCount;
    if (count === 0) {
      return html`
        <p class="stock sold-out" aria-live="polite">Sold out</p>
        <button class="add" disabled aria-describedby="reason">Add to Cart</button>
        <p class="hint" id="reason">${SOLD_OUT_REASON}</p>
      `;
    }
    return html`
      <p class="stock" aria-live="polite">${
        count === null ? 'Checking stock…' : `Only ${count} left in stock! Order now!`
      }</p>
      <button class="add" ?disabled=${count === null || this.pending !== null}
        aria-busy=${this.pending === 'add'} @click=${() => this.#fire('add')}>Add to Cart</button>
    `;
  }

  #fire(action: CartAction): void {
    if (this.pending !== null) return;
    this.dispatchEvent(
      new CustomEvent<CartActionDetail>('cart-action', {
        detail: { action },
        bubbles: true,
        composed: true,
      }),
    );
  }
}

function othersLeft(count: number): string {
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
