import { ConnectionController, type Message } from '@gale/client';
import { css, html, LitElement } from 'lit';
import type { LogEntry } from './echo-log.js';
import type { MessageSubmitDetail } from './message-form.js';
import './connection-status.js';
import './echo-log.js';
import './message-form.js';

/** The two WebSocket routes of the echo server. */
export type Endpoint = '/websocket' | '/echo';

const MAX_LOG = 200;
const decoder = new TextDecoder();

/**
 * The echo console: pick an endpoint, send messages, watch what comes back. It owns the page's
 * connection through a `ConnectionController`, which reconnects by itself.
 */
export class EchoApp extends LitElement {
  static override properties = {
    endpoint: { reflect: true },
    _entries: { state: true },
    _binary: { state: true },
  };

  static override styles = css`
    :host {
      display: block;
      max-width: 44rem;
      margin: 2rem auto;
      padding: 0 1rem;
    }
    header {
      display: flex;
      align-items: baseline;
      justify-content: space-between;
      gap: 1rem;
    }
    h1 {
      font-size: 1.5rem;
      margin: 0 0 1rem;
    }
    fieldset {
      border: none;
      padding: 0;
      margin: 0 0 1rem;
      display: flex;
      gap: 1rem;
      flex-wrap: wrap;
    }
    .card {
      background: white;
      border-radius: 8px;
      box-shadow: 0 1px 3px rgb(0 0 0 / 0.1);
      padding: 1rem;
      margin-bottom: 1rem;
    }
  `;

  /** Which route to talk to. */
  declare endpoint: Endpoint;
  declare private _entries: readonly LogEntry[];
  declare private _binary: boolean;
  #nextId = 0;

  private _socket = new ConnectionController(this, this.#urlFor('/websocket'), {
    reconnect: { minDelay: 250, maxDelay: 5000 },
    onMessage: (message) => this.#log('received', describe(message)),
  });

  constructor() {
    super();
    this.endpoint = '/websocket';
    this._entries = [];
    this._binary = false;
  }

  override willUpdate(changed: Map<PropertyKey, unknown>): void {
    if (changed.has('endpoint')) this._socket.url = this.#urlFor(this.endpoint);
  }

  override render() {
    return html`
      <header>
        <h1>Echo</h1>
        <connection-status .state=${this._socket.state}></connection-status>
      </header>
      <div class="card">
        <fieldset>
          <legend hidden>Endpoint</legend>
          <label>
            <input type="radio" name="endpoint" value="/websocket"
              .checked=${this.endpoint === '/websocket'} @change=${this._onEndpoint} />
            /websocket ("You said: …")
          </label>
          <label>
            <input type="radio" name="endpoint" value="/echo"
              .checked=${this.endpoint === '/echo'} @change=${this._onEndpoint} />
            /echo (exact)
          </label>
          <label>
            <input type="checkbox" .checked=${this._binary} @change=${this._onBinary}
              ?disabled=${this.endpoint !== '/echo'} />
            Send as binary
          </label>
        </fieldset>
        <message-form @message-submit=${this._onSend}></message-form>
      </div>
      <div class="card">
        <echo-log .entries=${this._entries}></echo-log>
      </div>
    `;
  }

  #urlFor(endpoint: Endpoint): string {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${scheme}//${location.host}${endpoint}`;
  }

  #log(direction: LogEntry['direction'], text: string): void {
    const entries = [...this._entries, { id: this.#nextId++, direction, text }];
    this._entries = entries.slice(-MAX_LOG);
  }

  private _onEndpoint(event: Event): void {
    this.endpoint = (event.target as HTMLInputElement).value as Endpoint;
    this.#log('info', `switched to ${this.endpoint}`);
  }

  private _onBinary(event: Event): void {
    this._binary = (event.target as HTMLInputElement).checked;
  }

  private _onSend(event: CustomEvent<MessageSubmitDetail>): void {
    const connection = this._socket.connection;
    if (connection === null) return;
    const binary = this._binary && this.endpoint === '/echo';
    this.#log('sent', binary ? `${event.detail.text} (binary)` : event.detail.text);
    // Queued while reconnecting; a message that can never be sent is shown, not lost.
    connection
      .writeMessage(event.detail.text, { binary })
      .catch((error: unknown) => this.#log('info', `not sent: ${(error as Error).message}`));
  }
}

function describe(message: Message): string {
  return typeof message === 'string' ? message : `${decoder.decode(message)} (binary)`;
}

customElements.define('echo-app', EchoApp);

declare global {
  interface HTMLElementTagNameMap {
    'echo-app': EchoApp;
  }
}
