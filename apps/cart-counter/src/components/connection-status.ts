import type { ConnectionState } from '@gale/client';
import { css, html, LitElement } from 'lit';
import { palette } from './theme.js';

const LABELS: Record<ConnectionState, string> = {
  connecting: 'Connecting…',
  open: 'Live',
  closing: 'Closing…',
  reconnecting: 'Reconnecting…',
  closed: 'Offline',
};

/**
 * Shows whether the stock on screen is live: the state of the page's connection, as a labelled
 * status (a live region, so screen readers hear it).
 *
 * @csspart dot - the coloured state indicator
 */
export class ConnectionStatus extends LitElement {
  static override properties = { state: { reflect: true } };

  static override styles = [
    palette,
    css`
      :host {
        display: inline-flex;
        align-items: center;
        gap: 0.4em;
        font-size: 0.85rem;
        color: var(--bb-muted);
        white-space: nowrap;
      }
      .dot {
        width: 0.6em;
        height: 0.6em;
        border-radius: 50%;
        background: #b0b6c3;
      }
      :host([state='open']) .dot {
        background: #1f9d55;
        box-shadow: 0 0 0 3px rgb(31 157 85 / 0.18);
      }
      :host([state='reconnecting']) .dot,
      :host([state='connecting']) .dot {
        background: #d69e2e;
      }
  `,
  ];

  /** The state to show. */
  declare state: ConnectionState;

  constructor() {
    super();
    this.state = 'connecting';
  }

  override render() {
    return html`<span class="dot" part="dot"></span><span role="status">${LABELS[this.state]}</span>`;
  }
}

customElements.define('connection-status', ConnectionStatus);

declare global {
  interface HTMLElementTagNameMap {
    'connection-status': ConnectionStatus;
  }
}
