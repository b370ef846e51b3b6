import { css, html, LitElement, nothing, type PropertyValues } from 'lit';
import { repeat } from 'lit/directives/repeat.js';

/** One line of the log. */
export interface LogEntry {
  readonly id: number;
  readonly direction: 'sent' | 'received' | 'info';
  readonly text: string;
}

/** Who each line is from, as shown and as read out. */
const WHO: Record<LogEntry['direction'], string | null> = {
  sent: 'You',
  received: 'Server',
  info: null,
};

/**
 * The log of what was sent and what came back, newest last, rendered as text. It is a live region
 * (`role="log"`), so screen readers read each new line, "Server: You said: hi", as it arrives;
 * it can be focused to scroll it from the keyboard, and stays scrolled to the newest line unless
 * the reader scrolled up.
 */
export class EchoLog extends LitElement {
  static override properties = { entries: { attribute: false } };

  static override styles = css`
    :host {
      display: block;
    }
    .log {
      max-height: min(28rem, 55vh);
      overflow-y: auto;
      overscroll-behavior: contain;
      border-radius: 6px;
    }
    .log:focus-visible {
      outline: 3px solid var(--echo-focus, #3b5bdb);
      outline-offset: 2px;
    }
    .empty {
      margin: 0;
      padding: 1.5rem 0.5rem;
      text-align: center;
      color: var(--echo-muted, #4a5263);
    }
    ol {
      list-style: none;
      margin: 0;
      padding: 0;
      font-family: ui-monospace, monospace;
      font-size: 0.9rem;
    }
    li {
      display: grid;
      grid-template-columns: 4.5rem 1fr;
      gap: 0.5rem;
      padding: 0.45rem 0.5rem;
      border-bottom: 1px solid var(--echo-rule, #e3e6ec);
    }
    li:last-child {
      border-bottom: none;
    }
    .who {
      font-family: system-ui, sans-serif;
      font-weight: 600;
    }
    .sent .who {
      color: var(--echo-sent, #2b5cb0);
    }
    .received .who {
      color: var(--echo-received, #1f7a46);
    }
    .text {
      white-space: pre-wrap;
      overflow-wrap: anywhere;
      min-width: 0;
    }
    .info .text {
      grid-column: 1 / -1;
      color: var(--echo-muted, #4a5263);
      font-style: italic;
    }
    .visually-hidden {
      position: absolute;
      width: 1px;
      height: 1px;
      margin: -1px;
      padding: 0;
      overflow: hidden;
      clip-path: inset(50%);
      white-space: nowrap;
      border: 0;
    }
    @media (prefers-reduced-motion: no-preference) {
      li {
        animation: arrive 180ms ease-out;
      }
    }
    /* Movement only: a fading line would be read at a lower contrast while it fades. */
    @keyframes arrive {
      from {
        transform: translateY(0.5rem);
      }
    }
  `;

  /** The lines to show. */
  declare entries: readonly LogEntry[];

  #isAtBottom = true;

  constructor() {
    super();
    this.entries = [];
  }

  override render() {
    // The live region is there from the start, so that the first line is announced too.
    return html`<div class="log" role="log" aria-label="Messages" aria-live="polite" tabindex="0"
      @scroll=${this._onScroll}>${
        this.entries.length === 0
          ? html`<p class="empty">No messages yet. Send one, and what comes back appears here.</p>`
          : html`<ol>${repeat(
              this.entries,
              (entry) => entry.id,
              (entry) => this.#renderEntry(entry),
            )}</ol>`
      }</div>`;
  }

  protected override updated(changed: PropertyValues<this>): void {
    if (!changed.has('entries') || !this.#isAtBottom) return;
    // At once, not smoothly: a smooth scroll's own scroll events would look like the reader's.
    const log = this.renderRoot.querySelector('.log')!;
    log.scrollTop = log.scrollHeight;
  }

  // One line, no whitespace between the parts: read as "You: hi", "Server: You said: hi".
  #renderEntry(entry: LogEntry) {
    const who = WHO[entry.direction];
    return html`<li class=${entry.direction}>${
      who === null
        ? nothing
        : html`<span class="who">${who}</span><span class="visually-hidden">: </span>`
    }<span class="text">${entry.text}</span></li>`;
  }

  private _onScroll(event: Event): void {
    const log = event.target as HTMLElement;
    this.#isAtBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 24;
  }
}

customElements.define('echo-log', EchoLog);

declare global {
  interface HTMLElementTagNameMap {
    'echo-log': EchoLog;
  }
}
