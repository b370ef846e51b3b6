import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Plugin, ViteDevServer } from 'vite';
import type { Application } from './application.js';
import { InvalidSettingError, InvalidStateError } from './errors.js';

/** Options of the `gale()` Vite plugin. */
export interface GaleViteOptions {
  /** The server module, relative to Vite's root. Default `./server.ts`. */
  readonly entry?: string;
  /** Its export that creates the application (called with no arguments). Default `createApplication`. */
  readonly export?: string;
}

type CreateApplication = () => Application | Promise<Application>;

// How long a reload waits for clients to finish their closing handshakes.
const CLOSE_GRACE_MS = 1000;

/**
 * A Vite plugin for `vite dev`: one process and one URL for the page and its gale server. It
 * loads the server module through Vite (TypeScript, no build step), serves the application's
 * HTTP routes before Vite's own middlewares and its WebSocket routes on Vite's HTTP server,
 * leaving every other upgrade (Vite's HMR socket) alone. When a file the server module imports
 * changes, the application is closed (1001 "going away", so clients reconnect) and loaded again.
 *
 * ```ts
 * // vite.config.ts
 * import { gale } from '@gale/server/vite';
 * export default { plugins: [gale({ entry: './server.ts' })] };
 * ```
 */
export function gale(options: GaleViteOptions = {}): Plugin {
  const entry = options.entry ?? './server.ts';
  const exportName = options.export ?? 'createApplication';
  let current: Promise<Application> | null = null;

  async function load(vite: ViteDevServer): Promise<Application> {
    const module = (await vite.ssrLoadModule(entry)) as Record<string, unknown>;
    const create = module[exportName];
    if (typeof create !== 'function') {
      throw new InvalidSettingError(`gale(): ${entry} must export a function named ${exportName}`);
    }
    return (create as CreateApplication)();
  }

  return {
    name: 'gale',
    apply: 'serve',
    configureServer(vite) {
      current = load(vite);
      current.catch((error: unknown) => vite.config.logger.error(`gale: ${String(error)}`));
      const application = async (): Promise<Application> => {
        if (current === null) throw new InvalidStateError('gale: the server module is not loaded');
        return current;
      };

      vite.middlewares.use((req: IncomingMessage, res: ServerResponse, next: () => void) => {
        application().then(
          (app) => app.handleRequest(req, res, next),
          () => next(),
        );
      });

      vite.httpServer?.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        // Vite's HMR socket is Vite's: never touch it, even while the application reloads.
        if (req.headers['sec-websocket-protocol']?.includes('vite-hmr')) return;
        // An upgrade the application does not route is left to the other listeners.
        application().then(
          (app) => app.handleUpgrade(req, socket, head),
          () => socket.destroy(),
        );
      });

      vite.watcher.on('change', (file: string) => {
        const graph = vite.environments['ssr']?.moduleGraph;
        if (graph === undefined || (graph.getModulesByFile(file)?.size ?? 0) === 0) return;
        graph.invalidateAll();
        const previous = current;
        current = (async () => {
          await (await previous?.catch(() => null))?.close(CLOSE_GRACE_MS);
          return load(vite);
        })();
        current.then(
          () => vite.config.logger.info('gale: server reloaded', { timestamp: true }),
          (error: unknown) => vite.config.logger.error(`gale: ${String(error)}`),
        );
      });

      vite.httpServer?.once('close', () => {
        void current?.then((app) => app.close(CLOSE_GRACE_MS)).catch(() => {});
      });
    },
  };
}
