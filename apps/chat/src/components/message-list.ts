import { css, html, LitElement, type PropertyValues } from 'lit';
import { repeat } from 'lit/directives/repeat.js';
import { theme } from './theme.js';

/** One line of the room: a message, or a notice that someone joined or left. */
export type ChatEntry =
  | {
      readonly id: number;
      readonly kind: 'message';
      /** The server's id of the message, if it has one: the page shows each id once. */
      readonly messageId?: string | undefined;
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
 *
 * It is a live region (`role="log"`, `aria-live="polite"`, named "Messages") that screen readers
 * read out as lines are added; a history (`historyVersion` changed: the entries were replaced by
 * what was said before) is shown with the region silent, so it is not read out line by line. The
 * region can take the keyboard focus, to scroll it with the arrow keys.
 */
export class MessageList extends LitElement {
  static override properties = {
    entries: { attribute: false },
    me: {},
    historyVersion: { attribute: false },
    _isQuiet: { state: true },
  };

  static override styles = [
    theme,
    css`
      :host {
        display: flex;
        flex-direction: column;
        min-height: 0;
      }
      .log {
        flex: 1;
        min-height: 0;
        overflow-y: auto;
        overscroll-behavior: contain;
      }
      .log:focus-visible {
        outline-offset: -3px;
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
        color: var(--chat-faint);
        margin: 0 0.3rem 0.15rem;
      }
      .from {
        font-weight: 600;
        color: var(--chat-text);
      }
      .bubble {
        display: inline-block;
        text-align: left;
        padding: 0.45rem 0.7rem;
        border-radius: 12px;
        color: var(--chat-text);
        background: var(--chat-bubble);
        white-space: pre-wrap;
        overflow-wrap: anywhere;
      }
      .mine .bubble {
        background: var(--chat-accent);
        color: var(--chat-on-accent);
      }
      .notice {
        align-self: center;
        font-size: 0.8rem;
        color: var(--chat-faint);
        overflow-wrap: anywhere;
      }
      .empty {
        color: var(--chat-faint);
        text-align: center;
        margin: 0;
        padding: 2rem 1rem;
      }
      /* A new line slides in (no fading: its text is readable at once), unless motion is unwelcome. */
      @media (prefers-reduced-motion: no-preference) {
        li {
          animation: slide-in 160ms ease-out;
        }
      }
      @keyframes slide-in {
        from {
          transform: translateY(0.4rem);
        }
      }
    `,
  ];

  /** The lines to show, oldest first. */
  declare entries: readonly ChatEntry[];
  /** The user's own nickname: their messages are shown as "You". */
  declare me: string;
  /**
   * Bumped by the page each time `entries` were replaced by a history: those lines are shown
   * without being read out (they were not said just now).
   */
  declare historyVersion: number;
  declare private _isQuiet: boolean;

  #isAtBottom = true;
  #quietToken = 0;

  constructor() {
    super();
    this.entries = [];
    this.me = '';
    this.historyVersion = 0;
    this._isQuiet = false;
  }

  override render() {
    return html`<div
      class="log"
      role="log"
      aria-label="Messages"
      aria-live=${this._isQuiet ? 'off' : 'polite'}
      tabindex="0"
      @scroll=${this._onScroll}
    >
      ${
        this.entries.length === 0
          ? html`<p class="empty">No messages yet. Say hello!</p>`
          : html`<ol>
              ${repeat(
                this.entries,
                (entry) => entry.id,
                (entry) => this.#renderEntry(entry),
              )}
            </ol>`
      }
    </div>`;
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('historyVersion') && this.historyVersion !== 0) this._isQuiet = true;
  }

  protected override updated(changed: PropertyValues<this>): void {
    const log = this.renderRoot.querySelector<HTMLElement>('.log')!;
    if (changed.has('entries') && this.#isAtBottom) log.scrollTop = log.scrollHeight;
    if (changed.has('historyVersion') && this._isQuiet) {
      // Live again once the browser has drawn (and told screen readers about) the history: two
      // frames later, so the history's lines are not announced.
      const token = ++this.#quietToken;
      requestAnimationFrame(() =>
        requestAnimationFrame(() => {
          if (token === this.#quietToken) this._isQuiet = false;
        }),
      );
    }
  }

  private _onScroll(event: Event): void {
    const log = event.currentTarget as HTMLElement;
    this.#isAtBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 24;
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
