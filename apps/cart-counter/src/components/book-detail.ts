import { css, html, LitElement } from 'lit';
import { palette, visuallyHidden } from './theme.js';

/**
 * A book's page: its cover, title, author and price, with whatever is slotted (the cart
 * controls) below the price. On a narrow screen the cover shrinks beside the title and the
 * slotted controls go across below, within the first screen.
 *
 * @slot - the purchase controls
 * @csspart cover - the drawn cover
 */
export class BookDetail extends LitElement {
  static override properties = {
    bookTitle: { attribute: 'book-title' },
    author: {},
    price: {},
  };

  static override styles = [
    palette,
    visuallyHidden,
    css`
      :host {
        display: block;
      }
      /* Wide: the cover on the left, the title and the purchase controls beside it. */
      article {
        display: grid;
        grid-template-columns: 11rem 1fr;
        grid-template-rows: auto 1fr;
        grid-template-areas:
          'cover info'
          'cover buy';
        column-gap: 2rem;
        align-items: start;
      }
      .cover {
        grid-area: cover;
      }
      .info {
        grid-area: info;
      }
      .buy {
        grid-area: buy;
      }
      .cover {
        aspect-ratio: 2 / 3;
        border-radius: 3px 8px 8px 3px;
        padding: 1.1rem 1rem 1rem 1.3rem;
        box-sizing: border-box;
        display: flex;
        flex-direction: column;
        justify-content: space-between;
        color: #f4f1e8;
        background:
          radial-gradient(circle at 58% 64%, rgb(255 255 255 / 0.22) 0 18%, transparent 19%),
          radial-gradient(circle at 58% 64%, transparent 0 26%, rgb(255 255 255 / 0.12) 27% 28%, transparent 29%),
          linear-gradient(90deg, rgb(0 0 0 / 0.25) 0 6px, transparent 6px),
          linear-gradient(160deg, #1f4e79, #163a5c 55%, #0f2a44);
        box-shadow:
          0 10px 24px rgb(15 42 68 / 0.28),
          0 2px 4px rgb(0 0 0 / 0.2);
        font-family: Georgia, 'Times New Roman', serif;
      }
      .cover-title {
        font-size: 1.05rem;
        line-height: 1.25;
        font-weight: bold;
      }
      .cover-author {
        font-size: 0.75rem;
        letter-spacing: 0.12em;
        text-transform: uppercase;
        opacity: 0.85;
      }
      h2 {
        font-family: Georgia, 'Times New Roman', serif;
        font-size: 1.7rem;
        line-height: 1.2;
        margin: 0 0 0.35rem;
      }
      .author {
        margin: 0 0 1rem;
        color: var(--bb-muted);
        font-style: italic;
      }
      .price {
        font-size: 1.4rem;
        font-weight: 600;
        margin: 0 0 1.2rem;
      }
      /* A phone: a small cover beside the title, the controls across the card below, so that
         Add to Cart is on the first screen. */
      @media (max-width: 34rem) {
        article {
          grid-template-columns: 5.5rem 1fr;
          grid-template-rows: auto auto;
          grid-template-areas:
            'cover info'
            'buy buy';
          column-gap: 1rem;
          row-gap: 1rem;
        }
        .cover {
          padding: 0.5rem 0.4rem 0.45rem 0.65rem;
          overflow: hidden;
        }
        .cover-title {
          font-size: 0.62rem;
        }
        .cover-author {
          font-size: 0.45rem;
          letter-spacing: 0.06em;
        }
        h2 {
          font-size: 1.3rem;
        }
        .author,
        .price {
          margin-bottom: 0.4rem;
        }
      }
    `,
  ];

  /** The book's title. */
  declare bookTitle: string;
  /** Who wrote it. */
  declare author: string;
  /** Its price, formatted for display ("$20.00"). */
  declare price: string;

  constructor() {
    super();
    this.bookTitle = '';
    this.author = '';
    this.price = '';
  }

  override render() {
    return html`
      <article aria-labelledby="title">
        <div class="cover" part="cover" role="img" aria-label=${`Cover of ${this.bookTitle}`}>
          <span class="cover-title" aria-hidden="true">${this.bookTitle}</span>
          <span class="cover-author" aria-hidden="true">${this.author}</span>
        </div>
        <div class="info">
          <h2 id="title">${this.bookTitle}</h2>
          <p class="author">by ${this.author}</p>
          <p class="price"><span class="visually-hidden">Price: </span>${this.price}</p>
        </div>
        <div class="buy"><slot></slot></div>
      </article>
    `;
  }
}

customElements.define('book-detail', BookDetail);

declare global {
  interface HTMLElementTagNameMap {
    'book-detail': BookDetail;
  }
}
