import type { IncomingMessage } from 'node:http';
import { HandshakeError, validateRequest } from '@gale/frame';
import { type Application, type ApplicationRuntime, runtimeOf } from '../application.js';
import { HTTPError, InvalidStateError } from '../errors.js';
import { Request } from '../http/request.js';
import { logAccess } from '../log.js';
import { agreeOnProtocols } from '../upgrade.js';
import { bindConnection, type WebSocketHandler } from '../websocket-handler.js';
import type { BunGlobal, BunServer } from './bun-api.js';
import { BunConnection, type BunServerState, type BunSocketData } from './bun-connection.js';
import { serveHttp } from './bun-http.js';

/** Options of {@link serve}. */
export interface ServeOptions {
  /** The port; 0 (the default) picks a free one: read `server.port`. */
  readonly port?: number;
  /** The address to listen on. Bun's default (all interfaces) when omitted. */
  readonly hostname?: string;
  /**
   * Whether Bun negotiates permessage-deflate with clients that offer it. Default: when a
   * WebSocket route's handler class overrides `getCompressionOptions()` (the default returns null,
   * so no connection could compress, and the server declines an offer nothing would use).
   * With it, a handler whose `getCompressionOptions()` returns options compresses what it sends
   * (messages of at least `threshold` bytes); one that returns null sends uncompressed. Bun answers
   * the offer for the whole server (no context takeover either way, whatever the options say).
   */
  readonly perMessageDeflate?: boolean;
}

/** Bun's server as {@link serve} returns it (Bun's own `Server`, typed for what Gale uses). */
export type { BunServer };

// Bun's backpressure limit sits above Gale's policy (its maximum buffered amount plus one message),
// so that Gale's 1008 comes first for what handlers write. Topic messages Bun publishes natively
// reach only this limit, where Bun would drop them: it closes the connection instead
// (closeOnBackpressureLimit), so that a slow subscriber is never left open with messages missing.
const BACKPRESSURE_SLACK = 1024 * 1024;
const UINT32_MAX = 2 ** 32 - 1;

/**
 * Serves `application` on Bun's native WebSocket server (`Bun.serve`): `app.listen()` for Bun.
 * The same routes and `WebSocketHandler` subclasses run unchanged, with the same handshake answers
 * (`prepare()`'s `HTTPError`, 400/405/426 for a bad request, 403 from `checkOrigin`, 500 for an
 * unoffered subprotocol), `open`/`onMessage` in strict order, `onClose` once, `writeMessage`
 * promises that settle as Bun's send buffer drains, topics published natively by Bun (each
 * message framed once per server) and resumable topics (gale.v1). Every other request goes to
 * `application.handleRequest`, as on Node: `RequestHandler` routes, static files (`staticPath`),
 * the 400/404/405 answers and the access log. `application.close()` stops the server too.
 *
 * Run by Bun only: on Node it throws `InvalidStateError`.
 */
export function serve(application: Application, options: ServeOptions = {}): BunServer {
  const bun = (globalThis as { Bun?: BunGlobal }).Bun;
  if (bun === undefined) {
    throw new InvalidStateError('@gale/server/bun runs on Bun: use app.listen() on Node');
  }
  const runtime = runtimeOf(application);
  const { settings } = runtime.host;
  const perMessageDeflate = options.perMessageDeflate ?? runtime.mayCompress;
  let state: BunServerState;
  const server = bun.serve<BunSocketData>({
    port: options.port ?? 0,
    hostname: options.hostname,
    fetch: (request, server) => route(application, runtime, perMessageDeflate, request, server),
    websocket: {
      maxPayloadLength: settings.websocketMaxMessageSize,
      // Gale's own keepalive (websocketPingInterval) runs on the application's clock instead.
      idleTimeout: 0,
      sendPings: false,
      backpressureLimit: Math.min(
        settings.websocketMaxBufferedAmount +
          2 * settings.websocketMaxMessageSize +
          BACKPRESSURE_SLACK,
        UINT32_MAX,
      ),
      closeOnBackpressureLimit: true,
      publishToSelf: false,
      perMessageDeflate,
      open(ws) {
        const { handler, args } = ws.data;
        const connection = new BunConnection(ws, handler, state);
        ws.data.connection = connection;
        bindConnection(handler, connection, ws.data.subprotocol);
        runtime.opened(handler);
        connection.open(args);
      },
      message: (ws, message) => ws.data.connection!.message(message),
      close: (ws, code, reason) => ws.data.connection!.closed(code, reason),
      drain: (ws) => ws.data.connection!.drained(),
      ping: (ws, data) => ws.data.connection!.pinged(data),
      pong: (ws, data) => ws.data.connection!.ponged(data),
    },
  });
  state = {
    server,
    host: runtime.host,
    topics: new Map(),
    lastDelivery: undefined,
    lastEnvelope: undefined,
  };
  runtime.addServer({
    close: (callback) => server.stop(false).then(callback),
    // As node:http's, once the WebSockets have closed (or the timeout passed): the connections left
    // (idle keep-alive ones, heads still being read) end now, not at Bun's idle timeout.
    closeAllConnections: () => void server.stop(true),
  });
  return server;
}

/** One request on its way: what `fetch` got, and the Gale `Request` built from it. */
class Exchange {
  readonly runtime: ApplicationRuntime;
  readonly fetchRequest: globalThis.Request;
  readonly server: BunServer;
  readonly request: Request;
  readonly headers: Record<string, string>;
  readonly startedAt: bigint;
  data: BunSocketData | undefined = undefined;

  constructor(
    runtime: ApplicationRuntime,
    fetchRequest: globalThis.Request,
    server: BunServer,
    target: string,
  ) {
    this.startedAt = runtime.host.settings.accessLog ? process.hrtime.bigint() : 0n;
    this.runtime = runtime;
    this.fetchRequest = fetchRequest;
    this.server = server;
    const url = fetchRequest.url;
    const headers: Record<string, string> = {};
    fetchRequest.headers.forEach((value, name) => {
      headers[name] = value;
    });
    this.headers = headers;
    const exchange = this;
    const raw = {
      method: fetchRequest.method,
      url: target,
      headers,
      socket: {
        encrypted: url.startsWith('https:'),
        // Read on demand, as on Node: Bun knows the peer from the request until the upgrade,
        // and from the socket after it.
        get remoteAddress(): string {
          const connection = exchange.data?.connection;
          if (connection !== undefined) return connection.remoteAddress;
          return server.requestIP(fetchRequest)?.address ?? '';
        },
      },
    };
    // Request reads method, url, headers and socket: a node:http request's shape, from Fetch.
    this.request = new Request(raw as unknown as IncomingMessage, runtime.proxies);
  }

  log(status: number): void {
    const { settings } = this.runtime.host;
    if (!settings.accessLog) return;
    const { request } = this;
    logAccess(
      settings.logger,
      status,
      request.method,
      request.path,
      request.remoteAddress,
      this.startedAt,
    );
  }

  // A refused upgrade closes the connection, as on Node (abortHandshake): without Connection:
  // close, Bun would keep it open for the next request until its idle timeout.
  answer(status: number, message: string, extra?: Readonly<Record<string, string>>): Response {
    this.log(status);
    return new Response(message, {
      status,
      headers: { 'content-type': 'text/plain; charset=utf-8', ...extra, connection: 'close' },
    });
  }

  // Every refusal after prepare() started: an HTTPError or HandshakeError answers its status.
  refuse(error: unknown): Response {
    if (error instanceof HTTPError || error instanceof HandshakeError) {
      return this.answer(error.status, error.message, error.headers);
    }
    this.runtime.host.settings.logger.error(
      'Uncaught exception before the WebSocket upgrade',
      error,
    );
    return this.answer(500, 'Internal Server Error');
  }
}

// Bun's fetch: an upgrade to a WebSocket route is served here, synchronously unless the handler's
// prepare() is async (a promise costs Bun a tick); any other request goes to the HTTP side.
function route(
  application: Application,
  runtime: ApplicationRuntime,
  perMessageDeflate: boolean,
  fetchRequest: globalThis.Request,
  server: BunServer,
): Response | undefined | Promise<Response | undefined> {
  const url = fetchRequest.url;
  // The request target as node:http gives it: the path and query of Bun's absolute URL, or the
  // URL itself when the request had no Host (an HTTP/1.0 one), since Bun leaves it relative then.
  const start = url.startsWith('/') ? 0 : url.indexOf('/', url.indexOf('//') + 2);
  const target = start === -1 ? '/' : url.slice(start);
  const upgrading = fetchRequest.headers.has('upgrade');
  const match = upgrading ? runtime.route(target, true) : undefined;
  if (match === undefined) {
    // As listen(): an upgrade (Upgrade and Connection: upgrade, node:http's test) to any other
    // path is 404; anything else goes to the HTTP side, the code node:http runs (RequestHandler
    // routes, static files, and Tornado's 400/405 to a plain request to a WebSocket route).
    if (upgrading && /\bupgrade\b/i.test(fetchRequest.headers.get('connection') ?? '')) {
      return new Exchange(runtime, fetchRequest, server, target).answer(404, 'Not Found');
    }
    return serveHttp(application, fetchRequest, server, target);
  }
  const exchange = new Exchange(runtime, fetchRequest, server, target);
  const { request } = exchange;
  const handler = match.create(request) as WebSocketHandler;
  let prepared: void | Promise<void>;
  try {
    prepared = handler.prepare();
  } catch (error) {
    return exchange.refuse(error);
  }
  if (prepared === undefined) return upgrade(exchange, handler, match.args, perMessageDeflate);
  return prepared.then(
    () => upgrade(exchange, handler, match.args, perMessageDeflate),
    (error: unknown) => exchange.refuse(error),
  );
}

// After prepare(): the handshake's checks in Node's order, then Bun's upgrade.
function upgrade(
  exchange: Exchange,
  handler: WebSocketHandler,
  args: readonly string[],
  perMessageDeflate: boolean,
): Response | undefined {
  const { settings } = exchange.runtime.host;
  let data: BunSocketData;
  let offered: readonly string[];
  let selectedHeader = '';
  try {
    const handshake = validateRequest({
      method: exchange.request.method,
      headers: exchange.headers,
    });
    offered = handshake.subprotocols;
    const {
      subprotocol: selected,
      appSubprotocol,
      resume,
    } = agreeOnProtocols(settings, handler, handshake);
    const compression = handler.getCompressionOptions();
    const compress =
      compression !== null &&
      perMessageDeflate &&
      handshake.extensions.some(({ name }) => name === 'permessage-deflate');
    selectedHeader = selected ?? '';
    data = {
      handler,
      args,
      subprotocol: appSubprotocol,
      gale: resume,
      compress,
      threshold: compress ? ({ ...settings.compression, ...compression }.threshold ?? 1024) : 0,
      connection: undefined,
    };
  } catch (error) {
    return exchange.refuse(error);
  }
  exchange.data = data;
  let responseHeaders: Headers | undefined;
  if (handler.responseHeaders.size > 0 || offered.length > 0) {
    responseHeaders = new Headers();
    for (const [name, values] of handler.responseHeaders) {
      for (const value of values) responseHeaders.append(name, value);
    }
    // Bun selects the client's first subprotocol unless told; an empty value selects none.
    responseHeaders.set('sec-websocket-protocol', selectedHeader);
  }
  const upgraded =
    responseHeaders === undefined
      ? exchange.server.upgrade(exchange.fetchRequest, { data })
      : exchange.server.upgrade(exchange.fetchRequest, { data, headers: responseHeaders });
  if (!upgraded) {
    exchange.data = undefined;
    return exchange.answer(400, 'Bad Request');
  }
  exchange.log(101);
  handler.request.release();
  return undefined;
}
