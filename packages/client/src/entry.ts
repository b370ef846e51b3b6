// What each build's entry point exports, over the connector of that build (index.node.ts,
// index.browser.ts): written once, so that the two builds cannot drift apart.
import { ClientConnection } from './connection.js';
import { ConnectionController as BaseController, type ControllerHost } from './controller.js';
import type { ConnectOptions } from './options.js';
import type { Connector } from './transport.js';

/** `ConnectionController` as each build exports it: the class, bound to the build's connector. */
export interface ConnectionControllerClass {
  /**
   * A Lit reactive controller owning one connection to `url` for its host element: connects when
   * the host is added to the document, closes when it is removed, and re-renders it on every
   * state change. Pass `reconnect: true` for a page that should recover by itself; a null `url`
   * keeps it idle until one is assigned.
   */
  new (host: ControllerHost, url: string | URL | null, options?: ConnectOptions): BaseController;
}

/** The functions and the class each build's entry point exports. */
export interface ClientEntry {
  /**
   * Creates a connection and starts connecting at once; it is returned in the `connecting` state
   * (writes are queued until it opens). Await `connection.opened`, or listen for `statechange`.
   * Throws `InvalidArgumentError` for a malformed URL or options.
   */
  createConnection(url: string | URL, options?: ConnectOptions): ClientConnection;
  /**
   * Tornado's `websocket_connect`: resolves with an open connection, or rejects with a
   * `HandshakeError` (with the HTTP `status`), `ConnectionError`, `ConnectTimeoutError` or
   * `AbortError`. With `reconnect`, failed attempts are retried first.
   */
  websocketConnect(url: string | URL, options?: ConnectOptions): Promise<ClientConnection>;
  /** The Lit reactive controller class (see its constructor). */
  readonly ConnectionController: ConnectionControllerClass;
}

/** Builds a build's exports over its `connector`; the entry point exports each of them. */
export function clientEntry(connector: Connector): ClientEntry {
  const createConnection = (url: string | URL, options: ConnectOptions = {}): ClientConnection =>
    new ClientConnection(url, options, connector);
  return {
    createConnection,
    websocketConnect: async (url, options = {}) => {
      const connection = createConnection(url, options);
      await connection.opened;
      return connection;
    },
    ConnectionController: class ConnectionController extends BaseController {
      constructor(host: ControllerHost, url: string | URL | null, options: ConnectOptions = {}) {
        super(host, url, options, connector);
      }
    },
  };
}
