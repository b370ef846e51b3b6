// The browser build: the same API over the native WebSocket.
import { ClientConnection } from './connection.js';
import { ConnectionController as BaseController, type ControllerHost } from './controller.js';
import type { ConnectOptions } from './options.js';
import { connectBrowser as connector } from './transport-browser.js';

export * from './exports.js';

/**
 * Creates a connection and starts connecting at once; it is returned in the `connecting` state
 * (writes are queued until it opens). Await `connection.opened`, or listen for `statechange`.
 * Throws `InvalidArgumentError` for a malformed URL or options.
 */
export function createConnection(
  url: string | URL,
  options: ConnectOptions = {},
): ClientConnection {
  return new ClientConnection(url, options, connector);
}

/**
 * Tornado's `websocket_connect`: resolves with an open connection, or rejects with a
 * `HandshakeError` (with the HTTP `status`), `ConnectionError`, `ConnectTimeoutError` or
 * `AbortError`. With `reconnect`, failed attempts are retried first.
 */
export async function websocketConnect(
  url: string | URL,
  options: ConnectOptions = {},
): Promise<ClientConnection> {
  const connection = new ClientConnection(url, options, connector);
  await connection.opened;
  return connection;
}

/**
 * A Lit reactive controller owning one connection to `url` for its host element: connects when
 * the host is added to the document, closes when it is removed, and re-renders it on every
 * state change. Pass `reconnect: true` for a page that should recover by itself; a null `url`
 * keeps it idle until one is assigned.
 */
export class ConnectionController extends BaseController {
  constructor(host: ControllerHost, url: string | URL | null, options: ConnectOptions = {}) {
    super(host, url, options, connector);
  }
}
