import { css, html, LitElement } from 'lit';
import { repeat } from 'lit/directives/repeat.js';

/** One line of the log. */
export interface LogEntry {
  readonly id: number;
  readonly direction: 'sent' | 'received' | 'info';
  readonly text: string;
}

/** The log of what was sent and what came back, newest last, rendered as text. */
export class EchoLog extends LitElement {
  static override properties = { entries: { attribute: false } };

  static override styles = css`
    :host {
      display: block;
    }
    ol {
      list-style: none;
      margin: 0;
      padding: 0;
      font-family: ui-monospace, monospace;
      font-size: 0.9rem;
    }
    li {
      padding: 0.3rem 0.5rem;
      border-bottom: 1px solid #e3e6ec;
      white-space: pre-wrap;
      overflow-wrap: anywhere;
    }
    .sent::before {
      content: '→ ';
      color: #2b6cb0;
    }
    .received::before {
      content: '← ';
      color: #1f9d55;
    }
    .info {
      color: #6b7385;
      font-style: italic;
    }
  `;

  /** The lines to show. */
  declare entries: readonly LogEntry[];

  constructor() {
    super();
    this.entries = [];
  }

  override render() {
    return html`<ol aria-label="Log" aria-live="polite">
      ${repeat(
        this.entries,
        (entry) => entry.id,
        (entry) => html`<li class=${entry.direction}>${entry.text}</li>`,
      )}
    </ol>`;
  }
}

customElements.define('echo-log', EchoLog);

declare global {
  interface HTMLElementTagNameMap {
    'echo-log': EchoLog;
  }
}
