import type { ClientConnection } from './connection.js';
import type { ConnectionState } from './options.js';

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
 * call `controller.connection.writeMessage(...)` and receive through the `onMessage` option.
 */
export class ConnectionController {
  readonly #host: ControllerHost;
  readonly #open: () => ClientConnection;
  #connection: ClientConnection | null = null;

  /** @internal Use the `ConnectionController` of the package's entry point. */
  constructor(host: ControllerHost, open: () => ClientConnection) {
    this.#host = host;
    this.#open = open;
    host.addController(this);
  }

  /** The current connection (null while the host is not in the document). */
  get connection(): ClientConnection | null {
    return this.#connection;
  }

  /** The connection's state; `closed` while the host is not in the document. */
  get state(): ConnectionState {
    return this.#connection?.state ?? 'closed';
  }

  hostConnected(): void {
    if (this.#connection !== null) return;
    const connection = this.#open();
    this.#connection = connection;
    connection.addEventListener('statechange', this.#onStateChange);
    this.#host.requestUpdate();
  }

  hostDisconnected(): void {
    const connection = this.#connection;
    if (connection === null) return;
    this.#connection = null;
    connection.removeEventListener('statechange', this.#onStateChange);
    void connection.close(1000, 'page left');
  }

  readonly #onStateChange = (): void => {
    this.#host.requestUpdate();
  };
}
