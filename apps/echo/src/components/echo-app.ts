import { ConnectionController, type Message } from '@gale/client';
import { css, html, LitElement } from 'lit';
import type { LogEntry } from './echo-log.js';
import type { MessageForm, MessageSubmitDetail } from './message-form.js';
import './connection-status.js';
import './echo-log.js';
import './message-form.js';

/** The two WebSocket routes of the echo server. */
export type Endpoint = '/websocket' | '/echo';

const MAX_LOG = 200;

/** The route buttons: each route and what it answers. */
const ROUTES: readonly { readonly path: Endpoint; readonly hint: string }[] = [
  { path: '/websocket', hint: '"You said: …"' },
  { path: '/echo', hint: 'exact copy' },
];
const decoder = new TextDecoder();

/**
 * The echo console: pick a route, send messages, read what comes back. It owns the page's
 * connection through a `ConnectionController`, which reconnects by itself. The page is a banner
 * (title and connection status), a main landmark (the form, then the log) and a footer; the
 * route is a pair of toggle buttons, so that Tab and Enter are all it takes.
 */
export class EchoApp extends LitElement {
  static override properties = {
    endpoint: { reflect: true },
    _entries: { state: true },
    _binary: { state: true },
  };

  static override styles = css`
    /* The page's colours, light then dark; the components inside inherit them. */
    :host {
      --echo-text: #1d2330;
      --echo-muted: #4a5263;
      --echo-surface: #fff;
      --echo-control-border: #858ea1;
      --echo-rule: #e3e6ec;
      --echo-accent: #3b5bdb;
      --echo-accent-hover: #364fc7;
      --echo-on-accent: #fff;
      --echo-pressed: #edf2ff;
      --echo-focus: #3b5bdb;
      --echo-sent: #2b5cb0;
      --echo-received: #1f7a46;
      --echo-error-text: #8a1f1f;
      --echo-error-bg: #fdecec;
      display: block;
      max-width: 44rem;
      margin: 0 auto;
      padding: 1.5rem 1rem;
      box-sizing: border-box;
      color: var(--echo-text);
    }
    @media (prefers-color-scheme: dark) {
      :host {
        --echo-text: #e6e9ef;
        --echo-muted: #aab2c0;
        --echo-surface: #1f2430;
        --echo-control-border: #6b7590;
        --echo-rule: #333a48;
        --echo-accent-hover: #4263eb;
        --echo-pressed: #27305a;
        --echo-focus: #91a7ff;
        --echo-sent: #8fb8ff;
        --echo-received: #7ad69a;
        --echo-error-text: #ffc9c9;
        --echo-error-bg: #4a1f24;
      }
    }
    header {
      display: flex;
      align-items: center;
      justify-content: space-between;
      flex-wrap: wrap;
      gap: 0.5rem 1rem;
      margin-bottom: 1rem;
    }
    h1 {
      font-size: 1.5rem;
      margin: 0;
    }
    h2 {
      font-size: 1.1rem;
      margin: 0 0 0.75rem;
    }
    main {
      display: flex;
      flex-direction: column;
      gap: 1rem;
    }
    .card {
      background: var(--echo-surface);
      border-radius: 8px;
      box-shadow: 0 1px 3px rgb(0 0 0 / 0.1);
      padding: 1rem;
    }
    .options {
      display: flex;
      flex-wrap: wrap;
      align-items: flex-end;
      gap: 0.25rem 1.5rem;
      margin-bottom: 0.75rem;
    }
    .option-label {
      display: block;
      font-weight: 600;
      margin: 0 0 0.35rem;
    }
    .routes {
      flex: 1 1 18rem;
    }
    .segments {
      display: flex;
      gap: 0.5rem;
    }
    .route {
      flex: 1;
      display: grid;
      grid-template-columns: auto 1fr;
      align-items: center;
      column-gap: 0.5rem;
      min-height: 2.75rem;
      padding: 0.45rem 0.7rem;
      font: inherit;
      text-align: left;
      color: inherit;
      background: var(--echo-surface);
      border: 1px solid var(--echo-control-border);
      border-radius: 6px;
      cursor: pointer;
    }
    /* The chosen route shows a filled dot, not only another colour. */
    .route::before {
      content: '';
      grid-row: 1 / 3;
      width: 0.75rem;
      height: 0.75rem;
      border-radius: 50%;
      border: 2px solid var(--echo-control-border);
      box-sizing: border-box;
    }
    .route[aria-pressed='true'] {
      background: var(--echo-pressed);
      border-color: var(--echo-accent);
      box-shadow: inset 0 0 0 1px var(--echo-accent);
    }
    .route[aria-pressed='true']::before {
      border-color: var(--echo-focus);
      background: var(--echo-focus);
    }
    .path {
      font-family: ui-monospace, monospace;
      font-weight: 600;
    }
    .hint {
      font-size: 0.8rem;
      color: var(--echo-muted);
    }
    .binary {
      display: inline-flex;
      align-items: center;
      gap: 0.5rem;
      min-height: 2.75rem;
      cursor: pointer;
    }
    .binary input {
      width: 1.25rem;
      height: 1.25rem;
      margin: 0;
      accent-color: var(--echo-accent);
    }
    .binary input:disabled {
      cursor: not-allowed;
    }
    .route:focus-visible,
    .binary input:focus-visible {
      outline: 3px solid var(--echo-focus);
      outline-offset: 2px;
    }
    @media (prefers-reduced-motion: no-preference) {
      .route {
        transition: background-color 120ms ease-out, border-color 120ms ease-out;
      }
    }
    footer {
      margin-top: 1.5rem;
      font-size: 0.85rem;
      color: var(--echo-muted);
    }
    footer p {
      margin: 0;
    }
    code {
      font-family: ui-monospace, monospace;
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
      <main>
        <section class="card">
          <h2>Send a message</h2>
          <div class="options">
            <div class="routes" role="group" aria-labelledby="route-label">
              <span class="option-label" id="route-label">Route</span>
              <div class="segments">
                ${ROUTES.map(
                  (route) => html`<button type="button" class="route"
                    aria-pressed=${this.endpoint === route.path ? 'true' : 'false'}
                    @click=${() => this.#choose(route.path)}>
                    <span class="path">${route.path}</span>
                    <span class="hint">${route.hint}</span>
                  </button>`,
                )}
              </div>
            </div>
            <label class="binary">
              <input type="checkbox" .checked=${this._binary} @change=${this._onBinary}
                ?disabled=${this.endpoint !== '/echo'} />
              Send as binary
            </label>
          </div>
          <message-form @message-submit=${this._onSend}></message-form>
        </section>
        <section class="card">
          <h2>Messages</h2>
          <echo-log .entries=${this._entries}></echo-log>
        </section>
      </main>
      <footer>
        <p>
          <code>/websocket</code> answers like the Tornado documentation's example;
          <code>/echo</code> sends back exactly what it gets. Built with Gale.
        </p>
      </footer>
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

  #choose(endpoint: Endpoint): void {
    if (endpoint === this.endpoint) return;
    this.endpoint = endpoint;
    this.#log('info', `Switched to ${endpoint}`);
  }

  private _onBinary(event: Event): void {
    this._binary = (event.target as HTMLInputElement).checked;
  }

  private _onSend(event: CustomEvent<MessageSubmitDetail>): void {
    const form = event.target as MessageForm;
    const { text } = event.detail;
    const connection = this._socket.connection;
    if (connection === null) {
      this.#notSent(form, text, 'not connected');
      return;
    }
    const binary = this._binary && this.endpoint === '/echo';
    // Queued while reconnecting; a message that can never be sent is said so, not lost: in an
    // alert, with the focus back in the box to try again.
    let written: Promise<void>;
    try {
      written = connection.writeMessage(text, { binary });
    } catch (error) {
      this.#notSent(form, text, (error as Error).message);
      return;
    }
    this.#log('sent', binary ? `${text} (binary)` : text);
    written.catch((error: unknown) => this.#notSent(form, text, (error as Error).message));
  }

  #notSent(form: MessageForm, text: string, why: string): void {
    form.refuse(text, `Not sent (${why}). Your message is back in the box: try again.`);
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
