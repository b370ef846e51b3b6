import { ClientConnection } from './connection.js';
import type { ConnectionState, ConnectOptions } from './options.js';
import type { Connector } from './transport.js';

/**
 * The part of Lit's `ReactiveControllerHost` a `ConnectionController` uses. Declared here,
 * structurally, so that @gale/client does not depend on Lit: any `LitElement` is one.
 */
export interface ControllerHost {
  addController(controller: { hostConnected?(): void; hostDisconnected?(): void }): void;
  requestUpdate(): void;
}

/**
 * A Lit reactive controller that owns one connection for a component: it connects when the
 * element is added to the document, closes when it is removed, and re-renders the host on every
 * state change, so templates can show `controller.state`. Components never touch sockets: they
 * call `controller.connection?.writeMessage(...)` and receive through the `onMessage` option.
 */
export class ConnectionController {
  readonly #host: ControllerHost;
  readonly #options: ConnectOptions;
  readonly #connector: Connector;
  #url: string | URL | null;
  #connection: ClientConnection | null = null;
  #isConnected = false;

  /** @internal Use the `ConnectionController` of the package's entry point. */
  constructor(
    host: ControllerHost,
    url: string | URL | null,
    options: ConnectOptions,
    connector: Connector,
  ) {
    this.#host = host;
    this.#url = url;
    this.#options = options;
    this.#connector = connector;
    host.addController(this);
  }

  /** The current connection (null while the host is not in the document). */
  get connection(): ClientConnection | null {
    return this.#connection;
  }

  /** The connection's state; `closed` while the host is not in the document or `url` is null. */
  get state(): ConnectionState {
    return this.#connection?.state ?? 'closed';
  }

  /**
   * The URL connected to, or null for none. Setting another closes the connection and opens one
   * to it; setting null closes it and leaves the controller idle (for a page that must log in
   * before it may connect).
   */
  get url(): string | URL | null {
    return this.#url;
  }

  set url(url: string | URL | null) {
    if (String(url) === String(this.#url)) return;
    this.#url = url;
    if (!this.#isConnected) return;
    this.#closeConnection();
    this.#openConnection();
  }

  hostConnected(): void {
    this.#isConnected = true;
    if (this.#connection === null) this.#openConnection();
  }

  hostDisconnected(): void {
    this.#isConnected = false;
    this.#closeConnection();
  }

  #openConnection(): void {
    if (this.#url === null) return;
    const connection = new ClientConnection(this.#url, this.#options, this.#connector);
    this.#connection = connection;
    connection.addEventListener('statechange', this.#onStateChange);
    this.#host.requestUpdate();
  }

  #closeConnection(): void {
    const connection = this.#connection;
    if (connection === null) return;
    this.#connection = null;
    connection.removeEventListener('statechange', this.#onStateChange);
    void connection.close(1000, 'page left');
    this.#host.requestUpdate();
  }

  readonly #onStateChange = (): void => {
    this.#host.requestUpdate();
  };
}
