import type { Duplex } from 'node:stream';
import {
  buildRejection,
  buildResponse,
  HandshakeError,
  negotiateDeflate,
  type PerMessageDeflate,
  Protocol,
  type ServerHandshake,
  validateRequest,
} from '@gale/frame';
import { selectSubprotocol as selectResume, splitOffer } from '@gale/frame/resume';
import { type ConnectionHost, WebSocketConnection } from './connection.js';
import { HTTPError } from './errors.js';
import type { UpgradeHead } from './http/request.js';
import type { ResolvedSettings } from './settings.js';
import { bindConnection, type WebSocketHandler } from './websocket-handler.js';

/** What the upgrade needs from the application that routed it. */
export interface UpgradeContext {
  readonly settings: ResolvedSettings;
  readonly host: ConnectionHost<WebSocketHandler>;
  /**
   * Sockets between the upgrade request and the 101: they belong to neither node:http (which let
   * go of them at the upgrade) nor a connection, so the application's `close()` finds them here.
   */
  readonly upgrading: Set<Duplex>;
  /** The 101 was written: the handler has a connection, and `open()` is next. */
  opened(handler: WebSocketHandler): void;
  /** One access-log line for the upgrade request. */
  log(status: number, req: UpgradeHead, startedAt: bigint): void;
}

/**
 * One upgrade request on its way: its head (node:http's `IncomingMessage`, or the head
 * `listen()` read itself), and the route's arguments.
 */
export interface UpgradeRequest {
  readonly req: UpgradeHead;
  readonly socket: Duplex;
  /** Bytes that came after the request head (the first frames, if the client did not wait). */
  readonly head: Buffer;
  /** The route's groups, for `open()`. */
  readonly args: readonly string[];
  /** When the request arrived (`process.hrtime.bigint()`), for the access log. */
  readonly startedAt: bigint;
}

/** What the handshake agreed, for {@link completeUpgrade}. */
export interface Agreement {
  readonly key: string;
  /** What the 101 selects: the application's subprotocol, or gale.v1 / gale.v1+app. */
  readonly subprotocol: string | null;
  /** The application's part of it (what `selectedSubprotocol` gives the handler). */
  readonly appSubprotocol: string | null;
  /** Whether gale.v1 was selected. */
  readonly resume: boolean;
  readonly extension: PerMessageDeflate | null;
  readonly extensionsHeader: string | null;
}

/**
 * Runs a WebSocket upgrade for `handler` (its route matched), in the order of ws's
 * `WebSocketServer.handleUpgrade`: the handler's `prepare()` (an `HTTPError` answers with its
 * status), the request's validity (method GET else 405; Upgrade, Connection, key, Host, version
 * 13 else 400/426), `checkOrigin` (403), `selectSubprotocol` (500 if it picks one not offered) and
 * `getCompressionOptions` (permessage-deflate). Every refusal goes through {@link abortHandshake};
 * an accepted request goes on to {@link completeUpgrade}. Resolves once `open()` has run (on a
 * gale.v1 connection, once the connection waits for the client's hello).
 */
export async function handleUpgrade(
  context: UpgradeContext,
  handler: WebSocketHandler,
  req: UpgradeHead,
  socket: Duplex,
  head: Buffer,
  args: readonly string[],
): Promise<void> {
  const request: UpgradeRequest = { req, socket, head, args, startedAt: process.hrtime.bigint() };
  socket.on('error', destroySocket);
  context.upgrading.add(socket);
  try {
    const agreement = await negotiate(context, handler, request);
    if (agreement === null) return;
    await completeUpgrade(context, handler, request, agreement);
  } finally {
    context.upgrading.delete(socket);
  }
}

// Everything before the 101; null when the upgrade was refused (answered) or the socket is gone.
async function negotiate(
  context: UpgradeContext,
  handler: WebSocketHandler,
  { req, socket, startedAt }: UpgradeRequest,
): Promise<Agreement | null> {
  const { settings } = context;
  const refuse = (status: number, message: string, headers?: Record<string, string>): null => {
    abortHandshake(socket, status, message, headers);
    context.log(status, req, startedAt);
    return null;
  };
  try {
    // Awaited only when it is a promise: a synchronous prepare() costs no extra tick.
    const prepared = handler.prepare();
    if (prepared !== undefined) await prepared;
    if (socket.destroyed) return null;
    const handshake = validateRequest({ method: req.method ?? 'GET', headers: req.headers });
    const { subprotocol, appSubprotocol, resume } = agreeOnProtocols(settings, handler, handshake);
    let extension: PerMessageDeflate | null = null;
    let extensionsHeader: string | null = null;
    const compression = handler.getCompressionOptions();
    if (compression !== null) {
      const negotiated = negotiateDeflate(handshake.extensions, {
        ...settings.compression,
        ...compression,
      });
      if (negotiated !== null) {
        extension = negotiated.extension;
        extensionsHeader = negotiated.response;
      }
    }
    return {
      key: handshake.key,
      subprotocol,
      appSubprotocol,
      resume,
      extension,
      extensionsHeader,
    };
  } catch (error) {
    if (error instanceof HTTPError || error instanceof HandshakeError) {
      return refuse(error.status, error.message, { ...error.headers });
    }
    settings.logger.error('Uncaught exception before the WebSocket upgrade', error);
    return refuse(500, 'Internal Server Error');
  }
}

/**
 * Writes the 101, hands the socket to a new `WebSocketConnection` (@gale/io) bound to `handler`,
 * runs `open(...args)` and then lets messages (those in `head` first) reach the handler. An
 * exception in `open()` is logged and fails the connection with 1011. On a gale.v1 connection
 * messages flow at once, and `open()` runs when the first of them, the client's hello, arrived.
 */
export async function completeUpgrade(
  context: UpgradeContext,
  handler: WebSocketHandler,
  { req, socket, head, args, startedAt }: UpgradeRequest,
  agreement: Agreement,
): Promise<void> {
  const headers: Record<string, string[]> = {};
  for (const [name, values] of handler.responseHeaders) headers[name] = [...values];
  context.upgrading.delete(socket); // from here on close() reaches it as a connection (1001)
  socket.write(
    buildResponse({
      key: agreement.key,
      subprotocol: agreement.subprotocol,
      extensions: agreement.extensionsHeader,
      headers,
    }),
  );
  context.log(101, req, startedAt);
  handler.request.release();

  const protocol = new Protocol({
    side: 'server',
    maxMessageSize: context.settings.websocketMaxMessageSize,
    extension: agreement.extension,
  });
  socket.off('error', destroySocket); // the connection listens for errors from here on
  const connection = new WebSocketConnection(
    socket,
    protocol,
    handler,
    context.host,
    agreement.resume,
  );
  bindConnection(handler, connection, agreement.appSubprotocol);
  context.opened(handler);
  if ('setNoDelay' in socket && typeof socket.setNoDelay === 'function') socket.setNoDelay(true);
  if ('setTimeout' in socket && typeof socket.setTimeout === 'function') socket.setTimeout(0);

  if (agreement.resume) {
    connection.awaitHello(() => handler.open(...args));
    connection.start(head);
    return;
  }
  try {
    const opened = handler.open(...args);
    if (opened !== undefined) await opened;
  } catch (error) {
    context.host.logException(handler, error, 'open');
    connection.fail(1011);
    connection.start();
    return;
  }
  connection.start(head);
}

/** What {@link agreeOnProtocols} settled: the 101's subprotocol and the application's part of it. */
export interface ProtocolAgreement {
  /** What the 101 selects: the application's subprotocol, or gale.v1 / gale.v1+app. */
  readonly subprotocol: string | null;
  /** The application's part of it (what `selectedSubprotocol` gives the handler). */
  readonly appSubprotocol: string | null;
  /** Whether gale.v1 was selected. */
  readonly resume: boolean;
}

/**
 * The checks after a valid request that every runtime makes alike: `checkOrigin` (an
 * `HTTPError` 403 when it refuses) and `selectSubprotocol` (500 when it picks one that was not
 * offered), then gale.v1 (docs/resume-protocol.md §1): the handler chooses among the
 * application's own subprotocols only, and gale.v1+app (or gale.v1) is selected if the client
 * offered it; otherwise the connection is a plain one.
 */
export function agreeOnProtocols(
  settings: ResolvedSettings,
  handler: WebSocketHandler,
  handshake: Pick<ServerHandshake, 'origin' | 'subprotocols'>,
): ProtocolAgreement {
  if (handshake.origin !== undefined && !handler.checkOrigin(handshake.origin)) {
    throw new HTTPError(403, 'Cross origin websockets not allowed');
  }
  const offered = handshake.subprotocols;
  const offer = settings.resume && offered.length > 0 ? splitOffer(offered) : undefined;
  const choices = offer?.resume ? offer.appProtocols : offered;
  const appSubprotocol = handler.selectSubprotocol(choices);
  if (appSubprotocol !== null && !choices.includes(appSubprotocol)) {
    settings.logger.error(
      `selectSubprotocol returned ${JSON.stringify(appSubprotocol)}, which was not offered`,
    );
    throw new HTTPError(500, 'Internal Server Error');
  }
  if (offer?.resume) {
    const selected = selectResume(appSubprotocol);
    if (offered.includes(selected)) return { subprotocol: selected, appSubprotocol, resume: true };
  }
  return { subprotocol: appSubprotocol, appSubprotocol, resume: false };
}

/**
 * Refuses an upgrade: the HTTP response (`status`, a plain-text `message`, extra `headers`), then
 * the socket is closed. Every refusal goes through here.
 */
export function abortHandshake(
  socket: Duplex,
  status: number,
  message: string,
  headers?: Record<string, string>,
): void {
  if (socket.writable) socket.end(buildRejection(status, message, headers));
  else socket.destroy();
}

function destroySocket(this: Duplex): void {
  this.destroy();
}
