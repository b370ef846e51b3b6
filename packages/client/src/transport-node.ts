import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import {
  acceptDeflateResponse,
  createRequest,
  type DeflateOptions,
  HandshakeError,
  type MaskFunction,
  offerDeflate,
  Protocol,
  validateResponse,
} from '@gale/frame';
import {
  Connection,
  type ConnectionSettings,
  lendFrameBuffer,
  SocketReader,
  systemClock,
} from '@gale/io';
import { ConnectionError, rejected, WebSocketClosedError } from './errors.js';
import type { ConnectOptions, Message } from './options.js';
import type { Connector, Transport, TransportHandlers } from './transport.js';

const DEFAULT_CLOSE_TIMEOUT = 5_000;

// As ws does: when the `bufferutil` package is installed, its native mask() masks outgoing frames
// of 64 bytes or more (about 7× faster than JavaScript on 64 KiB). Never a dependency: without it
// the built-in loop runs. GALE_NO_BUFFER_UTIL=1 turns it off.
let nativeMask: MaskFunction | null | undefined;
function loadNativeMask(): MaskFunction | null {
  if (nativeMask !== undefined) return nativeMask;
  nativeMask = null;
  if (process.env['GALE_NO_BUFFER_UTIL']) return nativeMask;
  try {
    const bufferutil = createRequire(import.meta.url)('bufferutil') as { mask?: MaskFunction };
    if (typeof bufferutil.mask === 'function') nativeMask = bufferutil.mask;
  } catch {
    // not installed: the JavaScript loop it is
  }
  return nativeMask;
}

/**
 * Opens a WebSocket over `node:net` / `node:tls` with @gale/frame and @gale/io: @gale/frame's
 * handshake request (its header fields and checks) sent through `node:http`'s client, which
 * parses the response, then frames straight on the socket. Plain TCP reads into the process's
 * shared read buffer (@gale/io's `SocketReader`); TLS keeps Node's 'data' events.
 */
export const connectNode: Connector = (url, options, handlers, signal) => {
  const secure = url.protocol === 'wss:' || url.protocol === 'https:';
  const subprotocols = options.subprotocols ?? [];
  const deflate = deflateOptions(options.compression);
  // Throws InvalidArgumentError for a subprotocol that is not a token or is offered twice, and
  // for a header the handshake writes itself (Host, Origin, Upgrade, Connection, Sec-WebSocket-*).
  const { key, headers } = createRequest({
    host: url.host,
    path: `${url.pathname}${url.search}`,
    subprotocols,
    extensions: deflate === null ? null : offerDeflate(deflate),
    origin: options.origin,
    headers: options.headers,
  });

  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port === '' ? (secure ? 443 : 80) : Number(url.port);
  const ca = options.ca as string | Buffer | Array<string | Buffer> | undefined;
  const settings = transportSettings(options, secure);
  let reader: SocketReader | null = null;

  return new Promise<Transport>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const request = (secure ? httpsRequest : httpRequest)({
      host,
      port,
      path: `${url.pathname}${url.search}`,
      headers: headers as OutgoingHttpHeaders,
      // One socket per WebSocket, never pooled: no agent, our own connect.
      createConnection: () => {
        if (secure) {
          return tlsConnect({
            host,
            port,
            servername: isIp(host) ? '' : host,
            ALPNProtocols: ['http/1.1'],
            ...(ca === undefined ? {} : { ca }),
          });
        }
        reader = new SocketReader(host, port);
        return reader.socket;
      },
    });
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      return true;
    };
    const onAbort = (): void => {
      if (!settle()) return;
      request.destroy();
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });

    request.on('error', (error: Error) => {
      if (!settle()) return;
      reject(
        new ConnectionError(`Could not connect to ${url.href}: ${error.message}`, { cause: error }),
      );
    });
    request.on('response', (response: IncomingMessage) => {
      if (!settle()) return;
      const status = response.statusCode ?? 0;
      response.resume();
      request.destroy();
      reject(handshakeError(status, response, key, subprotocols));
    });
    request.on('upgrade', (response: IncomingMessage, socket: Socket, head: Buffer) => {
      if (!settle()) {
        socket.destroy();
        return;
      }
      let protocol: Protocol;
      let subprotocol: string | null;
      try {
        const handshake = validateResponse(
          { status: response.statusCode ?? 0, headers: response.headers },
          { key, subprotocols },
        );
        subprotocol = handshake.subprotocol;
        let extension = null;
        if (deflate !== null) {
          extension = acceptDeflateResponse(handshake.extensions, deflate);
        } else if (handshake.extensions.length > 0) {
          throw new HandshakeError(
            'ERR_HANDSHAKE_EXTENSION',
            `The server accepted extension ${handshake.extensions[0]!.name}, which was not offered`,
            101,
          );
        }
        protocol = new Protocol({
          side: 'client',
          extension,
          maskPayload: loadNativeMask(),
          allocateFrame: settings.lendsFrameBuffer ? lendFrameBuffer : null,
          ...(options.maxMessageSize === undefined
            ? {}
            : { maxMessageSize: options.maxMessageSize }),
        });
      } catch (error) {
        socket.destroy();
        reject(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      socket.setNoDelay(true);
      socket.setTimeout(0);
      const transport = new NodeTransport(socket, protocol, subprotocol, handlers, settings);
      (reader as SocketReader | null)?.attach(transport);
      resolve(transport);
      // After the connection adopted the transport: frames that came with the 101.
      queueMicrotask(() => transport.start(head));
    });
    request.end();
  });
};

// The I/O layer's settings for one connect: times in milliseconds, as the options are.
function transportSettings(options: ConnectOptions, secure: boolean): ConnectionSettings {
  const pingInterval = options.pingInterval ?? 0;
  return {
    clock: options.clock ?? systemClock,
    closeTimeout: options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT,
    pingInterval,
    pingTimeout: options.pingTimeout ?? pingInterval,
    // A client usually sends one message at a time: it leaves at once.
    writePolicy: 'burst',
    // Flow control is writeMessage's promise: the client drops no peer for its queue.
    maxBufferedAmount: Number.POSITIVE_INFINITY,
    drainTimeout: 0,
    // Frames are built in the process's lent buffer on plain TCP; TLS keeps a buffer per frame.
    lendsFrameBuffer: !secure,
  };
}

function deflateOptions(compression: ConnectOptions['compression']): DeflateOptions | null {
  if (compression === undefined || compression === false) return null;
  return compression === true ? {} : (compression as DeflateOptions);
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':');
}

function handshakeError(
  status: number,
  response: IncomingMessage,
  key: string,
  subprotocols: readonly string[],
): Error {
  try {
    validateResponse({ status, headers: response.headers }, { key, subprotocols });
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
  return new HandshakeError('ERR_HANDSHAKE_STATUS', `Server responded with ${status}`, status);
}

/**
 * @internal One client WebSocket: @gale/io's `Connection` with the client's rules. A missing
 * Pong drops the socket (the connection may then reconnect); socket errors are reported as
 * `ConnectionError`; the `Transport` the client's connection drives (the browser build has its
 * own over the native WebSocket).
 */
export class NodeTransport extends Connection<TransportHandlers> implements Transport {
  readonly subprotocol: string | null;

  constructor(
    socket: Socket,
    protocol: Protocol,
    subprotocol: string | null,
    handlers: TransportHandlers,
    settings: ConnectionSettings,
  ) {
    super(socket, protocol, handlers, settings);
    this.subprotocol = subprotocol;
  }

  override send(data: Message, binary: boolean, track: true): Promise<void>;
  override send(data: Message, binary: boolean, track: false): void;
  override send(data: Message, binary: boolean, track: boolean): Promise<void> | void;
  override send(data: Message, binary: boolean, track: boolean): Promise<void> | void {
    // The socket may be closing before the connection above knows: the promise says so.
    if (this.isClosing) return track ? rejected(new WebSocketClosedError()) : undefined;
    return super.send(data, binary, track);
  }

  /** Drops the socket at once; `reason` says why, in the `ConnectionError` the close reports. */
  override abort(reason?: string | Error): void {
    super.abort(
      typeof reason === 'string' ? new ConnectionError(`Connection dropped: ${reason}`) : reason,
    );
  }

  protected override pingTimedOut(): void {
    this.abort(`no Pong within ${this.settings.pingTimeout} ms (ping timed out)`);
  }

  protected override socketError(error: Error): Error {
    return new ConnectionError(`Connection lost: ${error.message}`, { cause: error });
  }
}
