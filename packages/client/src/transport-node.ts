import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createRequire } from 'node:module';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import {
  acceptDeflateResponse,
  corkUntilImmediate,
  type DeflateOptions,
  generateKey,
  isToken,
  type MaskFunction,
  offerDeflate,
  Protocol,
  type ReceiveOptions,
  State,
  validateResponse,
  writeSettled,
} from '@gale/frame';
import {
  ConnectionError,
  HandshakeError,
  InvalidArgumentError,
  rejected,
  WebSocketClosedError,
} from './errors.js';
import type { CloseInfo, ConnectOptions, Message } from './options.js';
import type { Connector, Transport, TransportHandlers } from './transport.js';

const closedError = (cause?: Error): Error =>
  new WebSocketClosedError(undefined, cause ? { cause } : undefined);

// A "turn" for NodeTransport#write: it ends when the microtasks queued by its first write run,
// one promise reaction shared by every socket (queueMicrotask would create an AsyncResource per
// call).
let turn = 0;
let isTurnEnding = false;
const RESOLVED = Promise.resolve();
function endTurn(): void {
  turn++;
  isTurnEnding = false;
}
const DEFAULT_CLOSE_TIMEOUT = 5_000;
// Header fields the handshake owns; a caller may not set them through `headers`.
const RESERVED = new Set([
  'connection',
  'upgrade',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
]);

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

// Outgoing frames of FRAME_BUFFER_MIN bytes up to FRAME_BUFFER_MAX are masked into one buffer
// lent by the process, on plain TCP: a write that the kernel takes whole (nothing left queued in
// Node) hands it back for the next frame. A stream of large messages then allocates nothing per
// message on the way out. A fresh 64 KiB buffer per message, freed in batches after garbage
// collection, made glibc return the heap top to the kernel and fault it back in: in the client
// benchmark's 64 KiB × 50 row, perf put 40% of the client's page faults in masking into those
// buffers (copying what was read was most of the rest). A write that is still queued keeps the
// buffer, and the next frame gets a new one. Smaller frames come from Node's Buffer pool; TLS
// keeps a buffer per frame.
const FRAME_BUFFER_MIN = 4096;
const FRAME_BUFFER_MAX = 256 * 1024;
let frameBuffer: Buffer | null = null;
let frameBufferLent = false;

function lendFrameBuffer(size: number): Buffer {
  if (frameBufferLent || size < FRAME_BUFFER_MIN || size > FRAME_BUFFER_MAX) {
    return Buffer.allocUnsafe(size);
  }
  if (frameBuffer === null || frameBuffer.length < size) frameBuffer = Buffer.allocUnsafeSlow(size);
  frameBufferLent = true;
  return frameBuffer.subarray(0, size);
}

/** After the frames of one flush went to `socket`: the lent buffer is free unless Node queued it. */
function settleFrameBuffer(socket: Socket): void {
  if (!frameBufferLent) return;
  frameBufferLent = false;
  if (socket.writableLength !== 0) frameBuffer = null;
}

/**
 * Opens a WebSocket over `node:net` / `node:tls` with @gale/frame: the opening handshake through
 * `node:http`'s client (which parses the response), then frames straight on the socket.
 */
export const connectNode: Connector = (url, options, handlers, signal) => {
  const secure = url.protocol === 'wss:' || url.protocol === 'https:';
  const subprotocols = options.subprotocols ?? [];
  const seen = new Set<string>();
  for (const subprotocol of subprotocols) {
    if (!isToken(subprotocol) || seen.has(subprotocol)) {
      throw new InvalidArgumentError(
        `Subprotocol ${JSON.stringify(subprotocol)} is not a token or is offered twice`,
      );
    }
    seen.add(subprotocol);
  }
  const deflate = deflateOptions(options.compression);
  const key = generateKey();
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    if (RESERVED.has(name.toLowerCase())) {
      throw new InvalidArgumentError(`The ${name} header is set by the handshake`);
    }
    headers[name] = value;
  }
  headers['Connection'] = 'Upgrade';
  headers['Upgrade'] = 'websocket';
  headers['Sec-WebSocket-Key'] = key;
  headers['Sec-WebSocket-Version'] = '13';
  if (subprotocols.length > 0) headers['Sec-WebSocket-Protocol'] = subprotocols.join(', ');
  if (deflate !== null) headers['Sec-WebSocket-Extensions'] = offerDeflate(deflate);
  if (options.origin !== undefined) headers['Origin'] = options.origin;

  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port === '' ? (secure ? 443 : 80) : Number(url.port);
  const ca = options.ca as string | Buffer | Array<string | Buffer> | undefined;
  // Plain TCP reads through SocketReader; TLS keeps Node's 'data' events.
  const reader = secure ? null : new SocketReader();

  return new Promise<Transport>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const request = (secure ? httpsRequest : httpRequest)({
      host,
      port,
      path: `${url.pathname}${url.search}`,
      headers,
      // One socket per WebSocket, never pooled: no agent, our own connect.
      createConnection: () =>
        secure
          ? tlsConnect({
              host,
              port,
              servername: isIp(host) ? '' : host,
              ALPNProtocols: ['http/1.1'],
              ...(ca === undefined ? {} : { ca }),
            })
          : reader!.connect(host, port),
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
          allocateFrame: secure ? null : lendFrameBuffer,
          ...(options.maxMessageSize === undefined
            ? {}
            : { maxMessageSize: options.maxMessageSize }),
        });
      } catch (error) {
        socket.destroy();
        reject(toHandshakeError(error));
        return;
      }
      const transport = new NodeTransport(socket, protocol, subprotocol, handlers, options);
      reader?.attach(transport);
      resolve(transport);
      // After the connection adopted the transport: frames that came with the 101.
      queueMicrotask(() => transport.start(head));
    });
    request.end();
  });
};

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
    return toHandshakeError(error);
  }
  return new HandshakeError('ERR_HANDSHAKE_STATUS', `Server responded with ${status}`, status);
}

// validateResponse and acceptDeflateResponse throw @gale/frame's HandshakeError, which is the
// client's own; new Protocol() throws InvalidArgumentError for a bad option (maxMessageSize),
// which is then never retried. Anything else is a bug: passed on as it is (a non-Error value
// wrapped, only so that callers always get an Error).
function toHandshakeError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

// Plain TCP sockets read into one buffer shared by every connection of the process (a read and
// its callback run back to back on the event loop, and the protocol parses the whole read before
// the callback returns) instead of Node's default, a fresh 64 KiB buffer per read shrunk to the
// bytes read. Large messages gain most: a 64 KiB message and its header arrive in one read, where
// Node's 64 KiB reads split the frame and the protocol had to join the two parts in a third
// buffer. The protocol reads the buffer as borrowed: text is decoded straight from it, and each
// binary message is copied into a buffer of its exact size (never a slice of a shared pool: a
// message the application keeps must not pin more than itself). An idle connection holds no read
// buffer. TLS sockets keep Node's 'data' events.
const READ_BUFFER_SIZE = 256 * 1024;
const BORROWED: ReceiveOptions = Object.freeze({ borrowed: true });
let readBuffer: Buffer | undefined;

/**
 * @internal Reads a plain TCP socket through `net.connect`'s `onread`. Until the opening handshake
 * is done it hands the bytes to `node:http` as 'data' events; from the 101 on, straight to the
 * transport.
 */
class SocketReader {
  #socket: Socket | null = null;
  #transport: NodeTransport | null = null;

  connect(host: string, port: number): Socket {
    readBuffer ??= Buffer.allocUnsafeSlow(READ_BUFFER_SIZE);
    this.#socket = netConnect({
      host,
      port,
      onread: {
        buffer: readBuffer,
        // Always true: the transport pauses the socket itself (readQueueSize).
        callback: (length: number, buffer: Uint8Array) => this.#read(length, buffer as Buffer),
      },
    });
    return this.#socket;
  }

  attach(transport: NodeTransport): void {
    this.#transport = transport;
  }

  #read(length: number, buffer: Buffer): true {
    if (this.#transport !== null) {
      // Lent: the protocol copies out what it keeps (binary messages, control payloads) before
      // the next read of any socket overwrites the buffer, and text is decoded straight from it.
      NodeTransport.onData(this.#transport, buffer.subarray(0, length), BORROWED);
      return true;
    }
    // node:http keeps what it is given (the bytes after the 101 become the upgrade's head): copy.
    const chunk = Buffer.allocUnsafeSlow(length);
    buffer.copy(chunk, 0, 0, length);
    this.#socket?.emit('data', chunk);
    return true;
  }
}

const kTransport = Symbol('gale.transport');
type SocketWithTransport = Socket & { [kTransport]: NodeTransport };

/** @internal The I/O adapter of one client WebSocket: socket ↔ Protocol, timers, backpressure. */
export class NodeTransport implements Transport {
  readonly subprotocol: string | null;
  readonly #socket: Socket;
  readonly #protocol: Protocol;
  readonly #handlers: TransportHandlers;
  readonly #closeTimeout: number;
  #transportClosed = false;
  // The `turn` of this socket's last write (see #write).
  #lastWriteTurn = -1;
  #error: Error | undefined;
  #closeCode = 1006;
  #closeReason = '';
  #closeTimer: NodeJS.Timeout | undefined;
  #pingTimer: NodeJS.Timeout | undefined;
  #pongTimer: NodeJS.Timeout | undefined;
  readonly #pingInterval: number;
  readonly #pingTimeout: number;

  constructor(
    socket: Socket,
    protocol: Protocol,
    subprotocol: string | null,
    handlers: TransportHandlers,
    options: ConnectOptions,
  ) {
    this.#socket = socket;
    this.#protocol = protocol;
    this.subprotocol = subprotocol;
    this.#handlers = handlers;
    this.#closeTimeout = options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT;
    this.#pingInterval = options.pingInterval ?? 0;
    this.#pingTimeout = options.pingTimeout ?? this.#pingInterval;
    socket.setNoDelay(true);
    socket.setTimeout(0);
    (socket as SocketWithTransport)[kTransport] = this;
    socket.on('data', socketOnData);
    socket.on('end', socketOnEnd);
    socket.on('error', socketOnError);
    socket.on('close', socketOnClose);
  }

  get bufferedAmount(): number {
    return this.#socket.writableLength;
  }

  get #isClosing(): boolean {
    return this.#transportClosed || this.#protocol.closeSent || this.#protocol.closeReceived;
  }

  /** Feeds what arrived with the 101, then starts reading and pinging. */
  start(head: Uint8Array): void {
    if (head.length > 0) this.#receive(head);
    this.#schedulePing();
  }

  send(data: Message, binary: boolean, track: true): Promise<void>;
  send(data: Message, binary: boolean, track: false): void;
  send(data: Message, binary: boolean, track: boolean): Promise<void> | void {
    if (this.#isClosing) {
      if (track) return rejected(new WebSocketClosedError());
      return;
    }
    if (binary) {
      this.#protocol.sendBinary(typeof data === 'string' ? Buffer.from(data) : data);
    } else {
      this.#protocol.sendText(data);
    }
    if (track) return this.#flush(true);
    this.#flush(false);
  }

  ping(data: Uint8Array): void {
    if (this.#isClosing) throw new WebSocketClosedError();
    this.#protocol.sendPing(data);
    this.#flush(false);
  }

  close(code: number | undefined, reason: string): void {
    if (this.#transportClosed) return;
    if (!this.#protocol.closeSent) {
      this.#protocol.sendClose(code, reason);
      this.#flush(false);
    }
    this.#armCloseTimer();
  }

  abort(reason: string): void {
    if (this.#transportClosed) return;
    this.#error ??= new ConnectionError(`Connection dropped: ${reason}`);
    this.#socket.destroy();
  }

  pause(): void {
    this.#socket.pause();
  }

  resume(): void {
    if (!this.#transportClosed) this.#socket.resume();
  }

  /** @internal */
  static onData(transport: NodeTransport, chunk: Buffer, options?: ReceiveOptions): void {
    transport.#receive(chunk, options);
  }

  /** @internal */
  static onEnd(transport: NodeTransport): void {
    transport.#protocol.receiveEof();
    transport.#afterReceive();
  }

  /** @internal */
  static onError(transport: NodeTransport, error: Error): void {
    transport.#error ??= new ConnectionError(`Connection lost: ${error.message}`, {
      cause: error,
    });
  }

  /** @internal */
  static onClose(transport: NodeTransport): void {
    transport.#onClose();
  }

  #receive(chunk: Uint8Array, options?: ReceiveOptions): void {
    this.#protocol.receiveData(chunk, options);
    this.#afterReceive();
  }

  #afterReceive(): void {
    const events = this.#protocol.eventsReceived();
    for (const event of events) {
      switch (event.type) {
        case 'text':
        case 'binary':
          this.#handlers.message(event.data);
          break;
        case 'pong':
          clearTimeout(this.#pongTimer);
          this.#pongTimer = undefined;
          this.#handlers.pong?.(event.data);
          break;
        case 'close':
          this.#closeCode = event.code;
          this.#closeReason = event.reason;
          this.#stopPinging();
          break;
        case 'ping':
          break; // the protocol queued the Pong
      }
    }
    if (this.#protocol.error !== null && this.#error === undefined) {
      this.#error = this.#protocol.error;
    }
    // Pongs and the Close echo go out at once.
    this.#flush(false);
    if (this.#protocol.closeExpected()) this.#armCloseTimer();
  }

  #flush(track: true): Promise<void>;
  #flush(track: false): void;
  #flush(track: boolean): Promise<void> | void {
    const chunks = this.#protocol.dataToSend();
    let done: Promise<void> | undefined;
    if (chunks.length > 0 && !this.#transportClosed) {
      if (track) {
        done = writeSettled(this.#socket, (callback) => this.#write(chunks, callback), closedError);
      } else {
        this.#write(chunks, undefined);
      }
    }
    settleFrameBuffer(this.#socket);
    if (
      this.#protocol.shouldCloseTransport() &&
      !this.#transportClosed &&
      !this.#socket.writableEnded
    ) {
      this.#socket.end();
    }
    if (track) return done ?? rejected(new WebSocketClosedError());
  }

  // The first message of a turn goes out at once, in one write (a frame's chunks corked
  // together): a client usually sends one message at a time, and a setImmediate per message cost
  // it a fifth to a quarter of the instructions it runs per round trip. The messages that follow
  // it on the same socket in the same turn (a burst) are corked until setImmediate and leave
  // together in one writev.
  #write(
    chunks: readonly Uint8Array[],
    callback: ((error?: Error | null) => void) | undefined,
  ): void {
    const socket = this.#socket;
    const last = chunks.length - 1;
    const isBurst = this.#lastWriteTurn === turn;
    if (isBurst) {
      corkUntilImmediate(socket);
    } else {
      this.#lastWriteTurn = turn;
      if (!isTurnEnding) {
        isTurnEnding = true;
        void RESOLVED.then(endTurn);
      }
      if (last > 0) socket.cork();
    }
    for (let i = 0; i < last; i++) socket.write(chunks[i]!);
    socket.write(chunks[last]!, callback);
    if (!isBurst && last > 0) socket.uncork();
  }

  // §7.1.1: the server closes the TCP connection first; if it does not within the close timeout
  // (or the peer vanished), the client drops it.
  #armCloseTimer(): void {
    if (this.#closeTimer !== undefined || this.#transportClosed) return;
    this.#closeTimer = setTimeout(() => this.#socket.destroy(), this.#closeTimeout);
    this.#closeTimer.unref();
  }

  #schedulePing(): void {
    if (!(this.#pingInterval > 0)) return;
    this.#pingTimer = setTimeout(() => {
      if (this.#isClosing) return;
      this.#protocol.sendPing();
      this.#flush(false);
      if (this.#pongTimer === undefined) {
        this.#pongTimer = setTimeout(() => {
          this.#pongTimer = undefined;
          this.abort(`no Pong within ${this.#pingTimeout} ms (ping timed out)`);
        }, this.#pingTimeout);
        this.#pongTimer.unref();
      }
      this.#schedulePing();
    }, this.#pingInterval);
    this.#pingTimer.unref();
  }

  #stopPinging(): void {
    clearTimeout(this.#pingTimer);
    clearTimeout(this.#pongTimer);
    this.#pongTimer = undefined;
  }

  #onClose(): void {
    if (this.#transportClosed) return;
    this.#transportClosed = true;
    this.#stopPinging();
    clearTimeout(this.#closeTimer);
    if (this.#protocol.state !== State.CLOSED) {
      this.#protocol.receiveEof();
      this.#afterReceive();
    }
    const wasClean = this.#protocol.closeSent && this.#protocol.closeReceived;
    const info: CloseInfo = {
      code: this.#closeCode,
      reason: this.#closeReason,
      wasClean,
      ...(wasClean || this.#error === undefined ? {} : { error: this.#error }),
    };
    this.#handlers.closed(info);
  }
}

function socketOnData(this: SocketWithTransport, chunk: Buffer): void {
  NodeTransport.onData(this[kTransport], chunk);
}

function socketOnEnd(this: SocketWithTransport): void {
  NodeTransport.onEnd(this[kTransport]);
}

function socketOnError(this: SocketWithTransport, error: Error): void {
  NodeTransport.onError(this[kTransport], error);
}

function socketOnClose(this: SocketWithTransport): void {
  NodeTransport.onClose(this[kTransport]);
}
