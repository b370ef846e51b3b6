import type { IncomingMessage } from 'node:http';
import { HandshakeError, validateRequest } from '@gale/frame';
import { splitOffer } from '@gale/frame/resume';
import { type Application, type ApplicationRuntime, runtimeOf } from '../application.js';
import { HTTPError } from '../errors.js';
import { Request } from '../http/request.js';
import { logAccess } from '../log.js';
import { bindConnection, type WebSocketHandler } from '../websocket-handler.js';
import type { BunGlobal, BunServer } from './bun-api.js';
import { BunConnection, type BunServerState, type BunSocketData } from './bun-connection.js';

/** Options of {@link serve}. */
export interface ServeOptions {
  /** The port; 0 (the default) picks a free one: read `server.port`. */
  readonly port?: number;
  /** The address to listen on. Bun's default (all interfaces) when omitted. */
  readonly hostname?: string;
  /**
   * Whether Bun negotiates permessage-deflate with clients that offer it. Default true: a handler
   * whose `getCompressionOptions()` returns options then compresses what it sends (messages of at
   * least `threshold` bytes); one that returns null sends uncompressed. Bun answers the offer for
   * the whole server (no context takeover either way, whatever the options say).
   */
  readonly perMessageDeflate?: boolean;
}

/** Bun's server as {@link serve} returns it (Bun's own `Server`, typed for what Gale uses). */
export type { BunServer };

// Bun's backpressure limit sits above Gale's policy (its maximum buffered amount plus one message),
// so that Gale's 1008 comes first; Bun drops a message only beyond this.
const BACKPRESSURE_SLACK = 1024 * 1024;
const UINT32_MAX = 2 ** 32 - 1;

/**
 * Serves `application` on Bun's native WebSocket server (`Bun.serve`): `app.listen()` for Bun.
 * The same routes and `WebSocketHandler` subclasses run unchanged, with the same handshake answers
 * (`prepare()`'s `HTTPError`, 400/405/426 for a bad request, 403 from `checkOrigin`, 500 for an
 * unoffered subprotocol), `open`/`onMessage` in strict order, `onClose` once, `writeMessage`
 * promises that settle as Bun's send buffer drains, and topics published natively by Bun (each
 * message framed once per server). `application.close()` stops the server too.
 *
 * Not yet on Bun: `RequestHandler` routes (501) and static files (404); gale.v1 resume (a gale
 * client that offers it gets a plain connection). Run by Bun only: it throws on Node.
 */
export function serve(application: Application, options: ServeOptions = {}): BunServer {
  const bun = (globalThis as { Bun?: BunGlobal }).Bun;
  if (bun === undefined) throw new Error('@gale/server/bun runs on Bun: use app.listen() on Node');
  const runtime = runtimeOf(application);
  const { settings } = runtime.host;
  const perMessageDeflate = options.perMessageDeflate ?? true;
  let state: BunServerState;
  const server = bun.serve<BunSocketData>({
    port: options.port ?? 0,
    hostname: options.hostname,
    fetch: (request, server) => route(runtime, perMessageDeflate, request, server),
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
      closeOnBackpressureLimit: false,
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
  state = { server, host: runtime.host, topics: new Map() };
  runtime.addServer({ close: (callback) => server.stop(false).then(callback) });
  return server;
}

async function route(
  runtime: ApplicationRuntime,
  perMessageDeflate: boolean,
  fetchRequest: globalThis.Request,
  server: BunServer,
): Promise<Response | undefined> {
  const startedAt = process.hrtime.bigint();
  const { settings } = runtime.host;
  const url = fetchRequest.url;
  // The request target as node:http gives it: the path and query of the absolute URL Bun builds.
  const target = url.slice(url.indexOf('/', url.indexOf('//') + 2)) || '/';
  const headers: Record<string, string> = {};
  fetchRequest.headers.forEach((value, name) => {
    headers[name] = value;
  });
  const raw = {
    method: fetchRequest.method,
    url: target,
    headers,
    socket: {
      remoteAddress: server.requestIP(fetchRequest)?.address ?? '',
      encrypted: url.startsWith('https:'),
    },
  };
  // Request reads method, url, headers and socket: a node:http request's shape, filled from Fetch.
  const request = new Request(raw as unknown as IncomingMessage, runtime.proxies);
  const log = (status: number): void => {
    if (!settings.accessLog) return;
    logAccess(
      settings.logger,
      status,
      request.method,
      request.path,
      request.remoteAddress,
      startedAt,
    );
  };
  const answer = (status: number, message: string, extra?: Record<string, string>): Response => {
    log(status);
    return new Response(message, {
      status,
      headers: { 'content-type': 'text/plain; charset=utf-8', ...extra },
    });
  };

  const match = runtime.route(target, true);
  if (match === undefined) {
    if (runtime.route(target, false) !== undefined) {
      return answer(501, 'RequestHandler routes are not served on Bun yet');
    }
    return answer(404, 'Not Found');
  }
  if (headers['upgrade'] === undefined) {
    // A plain request to a WebSocket route: Tornado's answers (405 for other methods, else 400).
    try {
      validateRequest({ method: fetchRequest.method, headers });
    } catch (error) {
      if (error instanceof HandshakeError) return answer(error.status, error.message);
    }
    return answer(400, 'Can "Upgrade" only to "WebSocket".');
  }

  const handler = match.create(request) as WebSocketHandler;
  let data: BunSocketData;
  try {
    const prepared = handler.prepare();
    if (prepared !== undefined) await prepared;
    const handshake = validateRequest({ method: fetchRequest.method, headers });
    if (handshake.origin !== undefined && !handler.checkOrigin(handshake.origin)) {
      return answer(403, 'Cross origin websockets not allowed');
    }
    // gale.v1 is not spoken on Bun yet, but the handler chooses among the application's own
    // subprotocols as on Node: a gale client's offer arrives without its gale names.
    const offered = handshake.subprotocols;
    const offer = settings.resume ? splitOffer(offered) : undefined;
    const choices = offer?.resume ? offer.appProtocols : offered;
    const subprotocol = handler.selectSubprotocol(choices);
    if (subprotocol !== null && !choices.includes(subprotocol)) {
      settings.logger.error(
        `selectSubprotocol returned ${JSON.stringify(subprotocol)}, which was not offered`,
      );
      return answer(500, 'Internal Server Error');
    }
    const compression = handler.getCompressionOptions();
    const offersDeflate = handshake.extensions.some(({ name }) => name === 'permessage-deflate');
    data = {
      handler,
      args: match.args,
      subprotocol,
      compress: compression !== null && perMessageDeflate && offersDeflate,
      threshold: { ...settings.compression, ...compression }.threshold ?? 1024,
      connection: undefined,
    };
  } catch (error) {
    if (error instanceof HTTPError || error instanceof HandshakeError) {
      return answer(error.status, error.message, { ...error.headers });
    }
    settings.logger.error('Uncaught exception before the WebSocket upgrade', error);
    return answer(500, 'Internal Server Error');
  }
  const responseHeaders = new Headers();
  for (const [name, values] of handler.responseHeaders) {
    for (const value of values) responseHeaders.append(name, value);
  }
  // Bun selects the client's first subprotocol unless told; an empty value selects none.
  responseHeaders.set('sec-websocket-protocol', data.subprotocol ?? '');
  if (!server.upgrade(fetchRequest, { data, headers: responseHeaders })) {
    return answer(400, 'Bad Request');
  }
  log(101);
  handler.request.release();
  return undefined;
}
