import { css, html, LitElement, type PropertyValues } from 'lit';
import { repeat } from 'lit/directives/repeat.js';

/** One line of the room: a message, or a notice that someone joined or left. */
export type ChatEntry =
  | {
      readonly id: number;
      readonly kind: 'message';
      readonly from: string;
      readonly text: string;
      readonly at: string;
    }
  | { readonly id: number; readonly kind: 'joined' | 'left'; readonly nickname: string };

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

/**
 * The room's messages, newest last: the user's own on the right as "You", others' with their
 * nickname and time, and join/leave notices between them. Everything users wrote is rendered as
 * text. Stays scrolled to the newest message unless the reader scrolled up.
 */
export class MessageList extends LitElement {
  static override properties = { entries: { attribute: false }, me: {} };

  static override styles = css`
    :host {
      display: block;
      overflow-y: auto;
      overscroll-behavior: contain;
    }
    ol {
      list-style: none;
      margin: 0;
      padding: 0.75rem;
      display: flex;
      flex-direction: column;
      gap: 0.5rem;
    }
    .message {
      max-width: 75%;
      align-self: flex-start;
    }
    .message.mine {
      align-self: flex-end;
      text-align: right;
    }
    .meta {
      font-size: 0.75rem;
      color: #6b7385;
      margin: 0 0.3rem 0.15rem;
    }
    .from {
      font-weight: 600;
      color: #1d2330;
    }
    .bubble {
      display: inline-block;
      text-align: left;
      padding: 0.45rem 0.7rem;
      border-radius: 12px;
      background: #eef0f4;
      white-space: pre-wrap;
      overflow-wrap: anywhere;
    }
    .mine .bubble {
      background: #4c6ef5;
      color: white;
    }
    .notice {
      align-self: center;
      font-size: 0.8rem;
      color: #6b7385;
    }
    .empty {
      color: #6b7385;
      text-align: center;
      padding: 2rem 0;
    }
  `;

  /** The lines to show, oldest first. */
  declare entries: readonly ChatEntry[];
  /** The user's own nickname: their messages are shown as "You". */
  declare me: string;

  #isAtBottom = true;

  constructor() {
    super();
    this.entries = [];
    this.me = '';
    this.addEventListener('scroll', () => {
      this.#isAtBottom = this.scrollHeight - this.scrollTop - this.clientHeight < 24;
    });
  }

  override render() {
    if (this.entries.length === 0) {
      return html`<p class="empty">No messages yet. Say hello!</p>`;
    }
    return html`<ol aria-label="Messages" aria-live="polite">
      ${repeat(
        this.entries,
        (entry) => entry.id,
        (entry) => this.#renderEntry(entry),
      )}
    </ol>`;
  }

  protected override updated(changed: PropertyValues<this>): void {
    if (changed.has('entries') && this.#isAtBottom) this.scrollTop = this.scrollHeight;
  }

  #renderEntry(entry: ChatEntry) {
    if (entry.kind !== 'message') {
      const who = entry.nickname === this.me ? 'You' : entry.nickname;
      return html`<li class="notice">${who} ${entry.kind}</li>`;
    }
    const mine = entry.from === this.me;
    const at = new Date(entry.at);
    return html`<li class="message ${mine ? 'mine' : 'theirs'}">
      <div class="meta">
        <span class="from">${mine ? 'You' : entry.from}</span>
        <time datetime=${entry.at}>${Number.isNaN(at.getTime()) ? '' : timeFormat.format(at)}</time>
      </div>
      <div class="bubble">${entry.text}</div>
    </li>`;
  }
}

customElements.define('message-list', MessageList);

declare global {
  interface HTMLElementTagNameMap {
    'message-list': MessageList;
  }
}
