import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * What {@link serve} needs of an application: @gale/server's `Application` (and the demo apps'
 * subclasses) fit. Structural, so that this package never depends on @gale/server, whose own
 * tests depend on this package.
 */
export interface Listenable {
  listen(port: number, host: string): Promise<Server>;
}

/** An application listening on 127.0.0.1, on a port the system picked. */
export interface Served<App> {
  readonly app: App;
  /** The `node:http` server it listens with (to add an `upgrade` listener, say). */
  readonly server: Server;
  readonly port: number;
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  readonly origin: string;
  /** `http://127.0.0.1:<port><path>`. */
  http(path?: string): string;
  /** `ws://127.0.0.1:<port><path>`. */
  ws(path?: string): string;
}

/**
 * Makes `app` listen on 127.0.0.1 on a free port and resolves once it does, with the URLs to
 * reach it. Closing it is the caller's: keep the app in the test file's list of apps closed in
 * `afterEach` or `afterAll`.
 */
export async function serve<App extends Listenable>(app: App): Promise<Served<App>> {
  const server = await app.listen(0, '127.0.0.1');
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    app,
    server,
    port,
    origin,
    http: (path = '') => `${origin}${path}`,
    ws: (path = '') => `ws://127.0.0.1:${port}${path}`,
  };
}
