import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { buildRejection, HandshakeError, validateRequest } from '@gale/frame';
import { type Clock, type ConnectionSettings, systemClock } from '@gale/io';
import type { ConnectionHost } from './connection.js';
import { InvalidArgumentError, InvalidSettingError } from './errors.js';
import type { Handler, RouteOptions } from './handler.js';
import { HeadReader } from './head-reader.js';
import { ProxyTrust } from './http/forwarded.js';
import { Request, type UpgradeHead } from './http/request.js';
import { RequestHandler } from './http/request-handler.js';
import { createStaticHandler } from './http/static-files.js';
import { logAccess } from './log.js';
import { type ResolvedSettings, resolveSettings, type Settings } from './settings.js';
import { type Broker, MemoryBroker, type Position, type TopicMessage } from './topics.js';
import { abortHandshake, handleUpgrade, type UpgradeContext } from './upgrade.js';
import { connectionOf, subscriptionsOf, WebSocketHandler } from './websocket-handler.js';

/**
 * @internal What a runtime adapter (`@gale/server/bun`) needs of an application: the connections'
 * host, the routes, and a place in its bookkeeping (open handlers, servers `close()` stops).
 */
export interface ApplicationRuntime {
  readonly host: ConnectionHost<WebSocketHandler>;
  readonly proxies: ProxyTrust;
  /** The route `url` matches (a WebSocket route if `webSocket`), with a factory for its handler. */
  route(
    url: string,
    webSocket: boolean,
  ): { readonly args: string[]; create(request: Request): Handler } | undefined;
  /**
   * Whether a WebSocket route's handler may ask for compression (its class overrides
   * `getCompressionOptions`); otherwise no connection of the application ever compresses.
   */
  readonly mayCompress: boolean;
  /** The handler's connection is open: counted, and closed by `close()`. */
  opened(handler: WebSocketHandler): void;
  /**
   * A server `close()` stops (it calls back once its connections are gone); its
   * `closeAllConnections()`, when it has one, ends what is left once the WebSockets have closed.
   */
  addServer(server: { close(callback: () => void): unknown; closeAllConnections?(): void }): void;
}

let runtime: (application: Application) => ApplicationRuntime;

/** @internal The application's {@link ApplicationRuntime}, for a runtime adapter. */
export function runtimeOf(application: Application): ApplicationRuntime {
  return runtime(application);
}

/** A handler class a route can name. */
export type HandlerClass =
  | (new (
      application: Application,
      request: Request,
      options?: RouteOptions,
    ) => RequestHandler)
  | (new (
      application: Application,
      request: Request,
      options?: RouteOptions,
    ) => WebSocketHandler);

/**
 * A route: a path pattern, the handler class, and options given to every instance. A string
 * pattern is a regular expression matched against the whole path, as Tornado's (`'/chat/(\\w+)'`);
 * its groups are passed, URL-decoded, to `open()` or the HTTP method.
 */
export type Route = readonly [
  pattern: string | RegExp,
  handler: HandlerClass,
  options?: RouteOptions,
];

/** Settings plus the topic broker (in-memory by default) and the clock. */
export interface ApplicationOptions extends Settings {
  readonly broker?: Broker;
  /**
   * Where the connections' timers (close, ping, drain) and the shutdown timer come from. The
   * system clock by default; tests pass one they step by hand.
   */
  readonly clock?: Clock;
}

/** Options of `Application.close()`. */
export interface ApplicationCloseOptions {
  /** How long to wait for the closing handshakes. Default `websocketCloseTimeout`. */
  readonly timeoutMs?: number;
  /** 1001 Going Away (default), or 1012 Service Restart for a deploy. */
  readonly code?: 1001 | 1012;
  /** The close reason. Default "going away" for 1001, "service restart" for 1012. */
  readonly reason?: string;
}

/** A route that matched a path, and its groups (URL-decoded). */
interface RouteMatch {
  readonly route: CompiledRoute;
  readonly args: string[];
}

interface CompiledRoute {
  readonly regex: RegExp;
  readonly handler: HandlerClass;
  readonly options: RouteOptions;
  readonly isWebSocket: boolean;
}

/**
 * Routes requests and WebSocket upgrades to handlers, as Tornado's `Application`. Serve it with
 * `listen()`, or attach it to an existing server with `attach()` (upgrades it does not route are
 * left to other listeners, such as Vite's HMR socket) and use `handleRequest` as middleware.
 */
export class Application {
  readonly settings: ResolvedSettings;
  readonly broker: Broker;
  readonly #routes: CompiledRoute[];
  readonly #servers = new Set<Server | HttpsServer>();
  readonly #handlers = new Set<WebSocketHandler>();
  readonly #upgrading = new Set<Duplex>();
  readonly #readers = new Set<HeadReader<RouteMatch>>();
  readonly #static: ReturnType<typeof createStaticHandler> | undefined;
  readonly #host: ConnectionHost<WebSocketHandler>;
  readonly #clock: Clock;
  readonly #upgradeContext: UpgradeContext;
  readonly #proxies: ProxyTrust;

  static {
    runtime = (app) => ({
      host: app.#host,
      proxies: app.#proxies,
      route: (url, webSocket) => {
        const match = app.#match(url, webSocket);
        if (match === undefined) return undefined;
        const { handler, options } = match.route;
        return {
          args: match.args,
          create: (request) =>
            new (handler as new (a: Application, r: Request, o: RouteOptions) => Handler)(
              app,
              request,
              options,
            ),
        };
      },
      mayCompress: app.#routes.some(
        ({ handler, isWebSocket }) =>
          isWebSocket &&
          handler.prototype.getCompressionOptions !==
            WebSocketHandler.prototype.getCompressionOptions,
      ),
      opened: (handler) => app.#handlers.add(handler),
      // Only close() is called on another runtime's server (the node:http extras are probed).
      addServer: (server) => app.#servers.add(server as Server),
    });
  }

  constructor(routes: readonly Route[], options: ApplicationOptions = {}) {
    const { broker, clock = systemClock, ...settings } = options;
    this.settings = resolveSettings(settings);
    this.#proxies = new ProxyTrust(this.settings.xheaders, this.settings.trustedProxies);
    this.#clock = clock;
    this.#host = {
      settings: this.settings,
      connectionSettings: connectionSettings(this.settings, clock),
      connectionClosed: (handler) => this.#connectionClosed(handler),
      logException: (handler, error, where) =>
        this.settings.logger.error(
          `Uncaught exception in ${handler.constructor.name}.${where} (${handler.request.path})`,
          error,
        ),
    };
    this.broker = broker ?? new MemoryBroker();
    this.#routes = routes.map(compileRoute);
    this.#static = this.settings.staticPath
      ? createStaticHandler(this.settings.staticPath)
      : undefined;
    this.#upgradeContext = {
      settings: this.settings,
      host: this.#host,
      upgrading: this.#upgrading,
      opened: (handler) => this.#handlers.add(handler),
      log: (status, req, startedAt) => this.#log(status, req, startedAt),
    };
  }

  /** WebSocket connections currently open. */
  get connectionCount(): number {
    return this.#handlers.size;
  }

  /**
   * Creates a `node:http` server for this application and listens on `port` and `host`. Resolves
   * with the server once it listens (port 0 picks a free port: read `server.address()`).
   *
   * Gale reads each new connection's request head itself (@gale/frame's strict parser, within
   * `handshakeTimeout` and `maxHeaderSize`): a WebSocket upgrade to a WebSocket route goes
   * straight to the handshake, without node:http's parser or an `IncomingMessage` (so the
   * handler's `request.raw` throws `InvalidStateError`); everything else is handed to node:http,
   * which serves it as before: HTTP routes, static files, keep-alive, other `'upgrade'` listeners.
   */
  listen(port = 0, host?: string): Promise<Server> {
    const server = createServer({
      maxHeaderSize: this.settings.maxHeaderSize,
      // Clients that never finish their request (or upgrade) head are dropped.
      headersTimeout: this.settings.handshakeTimeout * 1000,
      requestTimeout: Math.max(this.settings.handshakeTimeout * 1000, 30_000),
      connectionsCheckingInterval: Math.min(1000, this.settings.handshakeTimeout * 1000),
    });
    this.#readers.add(
      new HeadReader<RouteMatch>(
        server,
        {
          route: (target) => this.#match(target, true),
          upgrade: (head, rest, match) => this.#upgrade(head, head.socket, rest, match),
        },
        {
          clock: this.#clock,
          timeoutMs: this.settings.handshakeTimeout * 1000,
          maxHeaderSize: this.settings.maxHeaderSize,
        },
      ),
    );
    server.on('request', (req, res) => this.handleRequest(req, res));
    server.on('upgrade', (req, socket, head) => {
      if (!this.handleUpgrade(req, socket, head)) {
        abortHandshake(socket, 404, 'Not Found');
        this.#log(404, req, process.hrtime.bigint());
      }
    });
    server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
      // A client that never finished its request head (handshakeTimeout) is dropped without a
      // response: node:http has stopped reading it, and a write before destroy() was seen to
      // leave such sockets open. An oversized head is 431, a malformed one 400.
      if (!socket.writable || error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
        socket.destroy();
        return;
      }
      const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
      socket.write(
        buildRejection(status, status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'),
      );
      socket.destroy();
    });
    this.#servers.add(server);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve(server);
      });
    });
  }

  /**
   * Serves this application's WebSocket routes on an existing `node:http`/`https` server. Upgrade
   * requests that match no WebSocket route are left untouched for the server's other listeners.
   * For the HTTP routes, call `handleRequest` from the server's request handling.
   */
  attach(server: Server | HttpsServer): void {
    this.#servers.add(server);
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.handleUpgrade(req, socket, head);
    });
  }

  /**
   * Handles an upgrade request if a WebSocket route matches its path; returns false (touching
   * nothing) otherwise. For use from other frameworks' upgrade handling.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const match = this.#match(req.url ?? '/', true);
    if (match === undefined) return false;
    this.#upgrade(req, socket, head, match);
    return true;
  }

  // An upgrade to a WebSocket route, from node:http's 'upgrade' event or Gale's own reading.
  #upgrade(
    req: IncomingMessage | UpgradeHead,
    socket: Duplex,
    head: Buffer,
    match: RouteMatch,
  ): void {
    const handler = new (
      match.route.handler as new (
        a: Application,
        r: Request,
        o: RouteOptions,
      ) => WebSocketHandler
    )(this, new Request(req, this.#proxies), match.route.options);
    void handleUpgrade(this.#upgradeContext, handler, req, socket, head, match.args);
  }

  /**
   * Handles an HTTP request: a matching `RequestHandler` route, else static files (the
   * `staticPath` setting), else `next()` if given (middleware use), else 404.
   */
  handleRequest(req: IncomingMessage, res: ServerResponse, next?: () => void): void {
    const startedAt = process.hrtime.bigint();
    const match = this.#match(req.url ?? '/', false);
    if (match !== undefined) {
      const request = new Request(req, this.#proxies);
      const handler = new (
        match.route.handler as new (
          a: Application,
          r: Request,
          o: RouteOptions,
        ) => RequestHandler
      )(this, request, match.route.options);
      void handler.execute(res, match.args);
      return;
    }
    if (this.#matchesWebSocketRoute(req.url ?? '/')) {
      // A plain request to a WebSocket route: Tornado's answers (405 for other methods, else 400).
      let status = 400;
      let message = 'Can "Upgrade" only to "WebSocket".';
      try {
        validateRequest({ method: req.method ?? 'GET', headers: req.headers });
      } catch (error) {
        if (error instanceof HandshakeError) {
          status = error.status;
          message = error.message;
        }
      }
      sendPlain(res, status, message);
      this.#log(status, req, startedAt);
      return;
    }
    const notFound = (): void => {
      if (next) {
        next();
        return;
      }
      sendPlain(res, 404, 'Not Found');
      this.#log(404, req, startedAt);
    };
    if (this.#static && (req.method === 'GET' || req.method === 'HEAD')) {
      this.#static(req, res, notFound);
      return;
    }
    notFound();
  }

  /**
   * Publishes `message` to every subscriber of `topic` (through the broker), except `exclude`.
   * The message is framed once; every local subscriber gets the same bytes.
   */
  publish(
    topic: string,
    message: TopicMessage,
    options: { exclude?: WebSocketHandler } = {},
  ): Position | Promise<Position> {
    const exclude = options.exclude ? connectionOf(options.exclude) : undefined;
    return this.broker.publish(topic, message, { exclude });
  }

  /**
   * Graceful shutdown: stops accepting, sends 1001 "going away" to every WebSocket, waits for the
   * closing handshakes up to `timeoutMs` (default `websocketCloseTimeout`), then destroys what is
   * left, and closes the broker.
   *
   * For a deploy, pass `{ code: 1012 }` (Service Restart, reason "service restart" unless given):
   * gale clients reconnect at once (within 1 s of jitter) rather than after their backoff, and
   * resume their topics on the new instance. Only 1001 and 1012 are accepted.
   */
  async close(options?: number | ApplicationCloseOptions): Promise<void> {
    const {
      timeoutMs = this.settings.websocketCloseTimeout * 1000,
      code = 1001,
      reason = code === 1012 ? 'service restart' : 'going away',
    } = typeof options === 'number' ? { timeoutMs: options } : (options ?? {});
    if (code !== 1001 && code !== 1012) {
      throw new InvalidArgumentError('close() sends 1001 (going away) or 1012 (service restart)');
    }
    const serversClosed = [...this.#servers].map(
      (server) => new Promise<void>((resolve) => server.close(() => resolve())),
    );
    for (const server of this.#servers) {
      if ('closeIdleConnections' in server) server.closeIdleConnections();
    }
    // Connections whose request head is still being read, and upgrades still in prepare(), are
    // refused by the socket's end: the app is going away.
    for (const reader of this.#readers) reader.destroyAll();
    for (const socket of this.#upgrading) socket.destroy();
    const handlers = [...this.#handlers];
    const closed = handlers.map(
      (handler) =>
        new Promise<void>((resolve) => {
          const connection = connectionOf(handler);
          if (!connection || connection.socket.destroyed) return resolve();
          connection.socket.once('close', () => resolve());
          connection.close(code, reason);
        }),
    );
    let timer: unknown;
    await Promise.race([
      Promise.all(closed),
      new Promise<void>((resolve) => {
        timer = this.#clock.setTimeout(resolve, timeoutMs);
      }),
    ]);
    this.#clock.clearTimeout(timer);
    for (const handler of handlers) connectionOf(handler)?.abort();
    for (const server of this.#servers) {
      if ('closeAllConnections' in server) server.closeAllConnections();
    }
    await Promise.all(serversClosed);
    this.#servers.clear();
    this.#readers.clear();
    await this.broker.close?.();
  }

  // A connection ended, however: forget it, release its topics, then tell the handler.
  #connectionClosed(handler: WebSocketHandler): void {
    this.#handlers.delete(handler);
    for (const [topic, subscribers] of subscriptionsOf(handler)) {
      for (const subscriber of subscribers) void this.broker.unsubscribe(topic, subscriber);
    }
    // A gale.v1 connection that closed before its hello never ran open(): no onClose either.
    if (connectionOf(handler)?.handlerOpened === false) return;
    handler.onClose();
  }

  #match(url: string, webSocket: boolean): RouteMatch | undefined {
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    for (const route of this.#routes) {
      if (route.isWebSocket !== webSocket) continue;
      const m = route.regex.exec(path);
      if (m === null) continue;
      try {
        return {
          route,
          args: m.slice(1).map((g) => (g === undefined ? '' : decodeURIComponent(g))),
        };
      } catch {
        return undefined; // malformed percent-encoding: no route
      }
    }
    return undefined;
  }

  #matchesWebSocketRoute(url: string): boolean {
    return this.#match(url, true) !== undefined;
  }

  #log(status: number, req: IncomingMessage | UpgradeHead, startedAt: bigint): void {
    if (!this.settings.accessLog) return;
    const request = new Request(req, this.#proxies);
    logAccess(
      this.settings.logger,
      status,
      request.method,
      request.path,
      request.remoteAddress,
      startedAt,
    );
  }
}

function compileRoute([pattern, handler, options = {}]: Route): CompiledRoute {
  const isWebSocket = handler.prototype instanceof WebSocketHandler;
  if (!isWebSocket && !(handler.prototype instanceof RequestHandler)) {
    throw new InvalidSettingError(
      `${handler.name} is neither a RequestHandler nor a WebSocketHandler`,
    );
  }
  let regex: RegExp;
  try {
    // A global or sticky RegExp keeps its position between exec() calls and would match only
    // every other time: those flags are dropped.
    regex =
      typeof pattern === 'string'
        ? new RegExp(`^(?:${pattern})$`)
        : new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''));
  } catch (error) {
    throw new InvalidSettingError(`invalid route pattern ${String(pattern)}`, { cause: error });
  }
  return { regex, handler, options, isWebSocket };
}

function sendPlain(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(message);
}

// The I/O layer's view of the settings: one object for every connection of the application.
function connectionSettings(settings: ResolvedSettings, clock: Clock): ConnectionSettings {
  return Object.freeze({
    clock,
    closeTimeout: settings.websocketCloseTimeout * 1000,
    pingInterval: settings.websocketPingInterval * 1000,
    pingTimeout: settings.websocketPingTimeout * 1000,
    // Replies to every socket read in one turn leave together, after the turn's reads.
    writePolicy: 'turn',
    maxBufferedAmount: settings.websocketMaxBufferedAmount,
    drainTimeout: settings.websocketDrainTimeout * 1000,
  });
}
