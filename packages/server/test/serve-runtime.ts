// How the behaviour tests start an application, on the runtime they run under: `app.listen()`
// (through @gale/test-utils' serve) on Node, `serve()` from @gale/server/bun on Bun (`pnpm
// test:bun`). The same tests then check Gale on both. test-utils cannot do this itself: it must
// not depend on @gale/server.
import type { Server } from 'node:http';
import { serve as listen, type Served } from '@gale/test-utils';
import type { BunServer } from '../src/bun.js';
import type { Application } from '../src/index.js';

/**
 * Whether the tests run under Bun. A test of what only `listen()` on Node does (node:http's
 * `Server`, its events and sockets, the upgrade path of `src/head-reader.ts`) is skipped there:
 * `const onNode = it.skipIf(isBun)`, with the reason beside each use. A test of what Gale does on
 * Bun instead (a difference in the README's "Running on Bun") runs there: `it.runIf(isBun)`.
 */
export const isBun = (process.versions as { bun?: string }).bun !== undefined;

/** An application served on the test's runtime: `@gale/test-utils`' `Served`, on Bun too. */
export interface RuntimeServed<App> extends Omit<Served<App>, 'server'> {
  /** node:http's server on Node; undefined on Bun (a test that needs it is Node-only). */
  readonly server: Server | undefined;
  /** Bun's server on Bun; undefined on Node. */
  readonly bunServer: BunServer | undefined;
}

/**
 * Serves `app` on 127.0.0.1 on a free port: `app.listen()` on Node, `serve()` of
 * @gale/server/bun on Bun. `app.close()` stops either.
 */
export async function serve<App extends Application>(app: App): Promise<RuntimeServed<App>> {
  if (!isBun) return { ...(await listen(app)), bunServer: undefined };
  const { serve: serveOnBun } = await import('../src/bun.js');
  const bunServer = serveOnBun(app, { port: 0, hostname: '127.0.0.1' });
  const { port } = bunServer;
  const origin = `http://127.0.0.1:${port}`;
  return {
    app,
    server: undefined,
    bunServer,
    port,
    origin,
    http: (path = '') => `${origin}${path}`,
    ws: (path = '') => `ws://127.0.0.1:${port}${path}`,
  };
}
