import { Buffer } from 'node:buffer';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { Inbox } from '@gale/test-utils';
import {
  buildRejection,
  buildResponse,
  type CloseEvent,
  createRequest,
  HandshakeError,
  type HeaderMap,
  Protocol,
  type ProtocolEvent,
  type ServerHandshake,
  State,
  validateRequest,
  validateResponse,
} from '../src/index.js';
import {
  acceptDeflateResponse,
  type DeflateOptions,
  negotiateDeflate,
  offerDeflate,
  type PerMessageDeflate,
} from '../src/permessage-deflate.js';

// A minimal I/O layer that runs the sans-I/O codec over `node:net` sockets, for integration
// tests. It is the loop the Protocol docs describe: bytes in through receiveData/receiveEof,
// events out through eventsReceived, bytes out through dataToSend, the transport closed once
// shouldCloseTransport, and a close timer started once closeExpected.

/** The closing status of a connection: the code and reason of its close event. */
export interface ClosedStatus {
  readonly code: number;
  readonly reason: string;
}

/** Largest opening handshake head accepted, on either side. */
const MAX_HEAD_SIZE = 16 * 1024;
/** How long to wait for the peer to close the transport once the closing handshake started. */
const DEFAULT_CLOSE_TIMEOUT = 10_000;
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
const EMPTY = new Uint8Array(0);

/** Called for every protocol event of a server connection, after it was recorded. */
export type EventHandler = (event: ProtocolEvent, connection: Connection) => void;

interface ConnectionInit {
  readonly socket: Socket;
  readonly protocol: Protocol;
  readonly handler: EventHandler | null;
  readonly closeTimeout: number;
  readonly subprotocol: string | null;
  readonly extensions: string | null;
  readonly deflate: PerMessageDeflate | null;
}

/**
 * One open WebSocket connection: a socket driven by a {@link Protocol}. The same loop serves both
 * sides; only the Protocol's `side` differs (masking, and who closes TCP first: RFC 6455 §7.1.1).
 */
export class Connection {
  readonly protocol: Protocol;
  /** The subprotocol agreed in the opening handshake, or null. */
  readonly subprotocol: string | null;
  /** The `Sec-WebSocket-Extensions` value of the 101 response, or null when it had none. */
  readonly extensions: string | null;
  /** The permessage-deflate extension the Protocol runs with, or null. */
  readonly deflate: PerMessageDeflate | null;
  /** Resolves once the TCP connection is closed, with the status of the close event. */
  readonly closed: Promise<ClosedStatus>;
  /** Socket errors (such as ECONNRESET) and exceptions thrown by the event handler. */
  readonly errors: Error[] = [];

  readonly #socket: Socket;
  readonly #handler: EventHandler | null;
  readonly #closeTimeout: number;
  readonly #queue = new Inbox<ProtocolEvent>();
  #closeStatus: ClosedStatus | null = null;
  #closeTimer: NodeJS.Timeout | undefined;
  #transportEnded = false;
  #resolveClosed!: (status: ClosedStatus) => void;

  constructor(init: ConnectionInit) {
    this.#socket = init.socket;
    this.protocol = init.protocol;
    this.#handler = init.handler;
    this.#closeTimeout = init.closeTimeout;
    this.subprotocol = init.subprotocol;
    this.extensions = init.extensions;
    this.deflate = init.deflate;
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    const socket = this.#socket;
    socket.on('data', (chunk: Buffer) => this.#socketOnData(chunk));
    socket.on('end', () => this.#socketOnEnd());
    socket.on('error', (error: Error) => this.errors.push(error));
    socket.on('close', () => this.#socketOnClose());
  }

  /**
   * Starts reading (the handshake reader left the socket paused), beginning with `rest`: the
   * bytes that arrived behind the handshake head are the first WebSocket bytes. Called by the
   * harness once the connection is registered, so that its first events are never missed.
   */
  start(rest: Uint8Array): void {
    if (rest.length > 0) this.#socketOnData(rest);
    this.#socket.resume();
  }

  /** Every event received so far, in order. */
  get events(): readonly ProtocolEvent[] {
    return this.#queue.received;
  }

  /** Bytes read from the socket, handshake included: with deflate, what compression saved. */
  get bytesRead(): number {
    return this.#socket.bytesRead;
  }

  /** Bytes written to the socket, handshake included. */
  get bytesWritten(): number {
    return this.#socket.bytesWritten;
  }

  /** The next event not yet returned by this method; rejects once the connection closed. */
  nextEvent(): Promise<ProtocolEvent> {
    return this.#queue.next();
  }

  /** Sends a text message. */
  sendText(data: string | Uint8Array): void {
    this.protocol.sendText(data);
    this.#flush();
  }

  /** Sends a binary message. */
  sendBinary(data: Uint8Array): void {
    this.protocol.sendBinary(data);
    this.#flush();
  }

  /** Sends one message as several frames: the first with FIN clear, then continuations. */
  sendFragments(type: 'text' | 'binary', fragments: readonly (string | Uint8Array)[]): void {
    if (fragments.length === 0) throw new RangeError('a message has at least one fragment');
    fragments.forEach((fragment, index) => {
      const data = typeof fragment === 'string' ? Buffer.from(fragment, 'utf8') : fragment;
      const fin = index === fragments.length - 1;
      if (index > 0) this.protocol.sendContinuation(data, fin);
      else if (type === 'text') this.protocol.sendText(data, fin);
      else this.protocol.sendBinary(data, fin);
    });
    this.#flush();
  }

  /** Sends a Ping. */
  ping(data: Uint8Array = EMPTY): void {
    this.protocol.sendPing(data);
    this.#flush();
  }

  /** Starts the closing handshake; await {@link closed} for its outcome. */
  close(code?: number, reason?: string): Promise<ClosedStatus> {
    this.protocol.sendClose(code, reason);
    this.#flush();
    return this.closed;
  }

  /**
   * Writes whatever the protocol has queued. Call it after using {@link protocol}'s sending
   * methods directly (the methods above call it themselves).
   */
  flush(): void {
    this.#flush();
  }

  /** Closes the TCP connection at once, without a closing handshake. */
  destroy(): Promise<ClosedStatus> {
    this.#socket.destroy();
    return this.closed;
  }

  #socketOnData(chunk: Uint8Array): void {
    // After EOF nothing more can be read; a late chunk would only make receiveData throw.
    if (this.protocol.state === State.CLOSED) return;
    this.protocol.receiveData(chunk);
    this.#step();
  }

  #socketOnEnd(): void {
    this.protocol.receiveEof();
    this.#step();
  }

  #socketOnClose(): void {
    if (this.#closeTimer !== undefined) clearTimeout(this.#closeTimer);
    // Destroyed or reset before the peer's FIN: the protocol still has to learn of the EOF,
    // which reports 1006 unless a close event came first.
    if (this.protocol.state !== State.CLOSED) {
      this.protocol.receiveEof();
      this.#dispatch(this.protocol.eventsReceived());
      this.protocol.dataToSend();
    }
    const status = this.#closeStatus ?? { code: 1006, reason: '' };
    const error = this.protocol.error;
    this.#queue.end(
      `the connection closed with ${status.code} ${JSON.stringify(status.reason)}` +
        (error === null || error.closeCode === 1006 ? '' : ` (${error.code}: ${error.message})`),
    );
    this.#resolveClosed(status);
  }

  // Hands out the events of the last receiveData/receiveEof, then writes what they produced
  // (Pongs, the echoed Close, the handler's replies).
  #step(): void {
    this.#dispatch(this.protocol.eventsReceived());
    this.#flush();
  }

  #dispatch(events: readonly ProtocolEvent[]): void {
    for (const event of events) {
      if (event.type === 'close') this.#closeStatus ??= closeStatusOf(event);
      this.#queue.push(event);
      if (this.#handler === null) continue;
      try {
        this.#handler(event, this);
      } catch (error) {
        // As a handler framework would: log, and abort only this connection (1011).
        this.errors.push(error instanceof Error ? error : new Error(String(error)));
        if (!this.protocol.closeSent) this.protocol.fail(1011);
      }
    }
  }

  #flush(): void {
    const socket = this.#socket;
    const chunks = this.protocol.dataToSend();
    if (chunks.length > 0 && !socket.destroyed && !this.#transportEnded) {
      // Frame headers and payloads are separate chunks: cork so they leave together.
      socket.cork();
      for (const chunk of chunks) socket.write(chunk);
      socket.uncork();
    }
    if (this.protocol.closeExpected() && this.#closeTimer === undefined && !socket.destroyed) {
      // The peer has this long to complete the closing handshake and close the transport.
      this.#closeTimer = setTimeout(() => socket.destroy(), this.#closeTimeout);
    }
    if (this.protocol.shouldCloseTransport() && !this.#transportEnded) {
      this.#transportEnded = true;
      socket.end();
    }
  }
}

function closeStatusOf(event: CloseEvent): ClosedStatus {
  return { code: event.code, reason: event.reason };
}

/** The event handler of a server that echoes every message as it came: text as text. */
export const echoHandler: EventHandler = (event, connection) => {
  // A Close may follow a message in the same read: nothing can be sent after it.
  if (connection.protocol.state !== State.OPEN) return;
  if (event.type === 'text') connection.sendText(event.data);
  else if (event.type === 'binary') connection.sendBinary(event.data);
};

// ---------------------------------------------------------------------------------------------
// HTTP heads

interface HttpHead {
  readonly startLine: string;
  readonly headers: HeaderMap;
}

/**
 * Splits a head (without its final blank line) into the start line and a header map with
 * lower-case names, as Node's `IncomingMessage.headers` but with repeated fields kept as arrays.
 * Returns null for a malformed field line (no colon, empty or spaced name, obsolete folding).
 */
function parseHead(text: string): HttpHead | null {
  const lines = text.split('\r\n');
  const startLine = lines.shift() ?? '';
  const headers: Record<string, string | string[]> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) return null;
    const name = line.slice(0, colon);
    if (/[\s]/.test(name)) return null;
    const key = name.toLowerCase();
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    const previous = headers[key];
    if (previous === undefined) headers[key] = value;
    else if (typeof previous === 'string') headers[key] = [previous, value];
    else previous.push(value);
  }
  return { startLine, headers };
}

/**
 * Reads from `socket` until the end of an HTTP head (`\r\n\r\n`), then pauses the socket and calls
 * `onHead` with the head and the bytes after it, synchronously, so that no chunk is lost between
 * this listener and the next. Calls `onError` if the socket ends first or the head is too big.
 */
function readHead(
  socket: Socket,
  onHead: (head: string, rest: Buffer) => void,
  onError: (error: Error) => void,
): void {
  let buffered: Buffer = Buffer.alloc(0);
  let done = false;
  const finish = (): void => {
    done = true;
    socket.off('data', socketOnData);
    socket.off('end', socketOnEnd);
    socket.off('close', socketOnEnd);
    socket.off('error', socketOnError);
  };
  const socketOnData = (chunk: Buffer): void => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    // The terminator may straddle two chunks, so search from a little before the new bytes.
    const end = buffered.indexOf(HEAD_END, Math.max(0, buffered.length - chunk.length - 3));
    if (end === -1) {
      if (buffered.length > MAX_HEAD_SIZE) {
        finish();
        onError(new RangeError('HTTP head too large'));
      }
      return;
    }
    finish();
    socket.pause();
    onHead(buffered.toString('latin1', 0, end), buffered.subarray(end + HEAD_END.length));
  };
  const socketOnEnd = (): void => {
    if (done) return;
    finish();
    onError(new Error('the connection closed during the opening handshake'));
  };
  const socketOnError = (error: Error): void => {
    if (done) return;
    finish();
    onError(error);
  };
  socket.on('data', socketOnData);
  socket.on('end', socketOnEnd);
  socket.on('close', socketOnEnd);
  socket.on('error', socketOnError);
}

// ---------------------------------------------------------------------------------------------
// Server

/** Options of {@link startServer}. */
export interface ServerOptions {
  /** Negotiate permessage-deflate with these options; without it, every offer is declined. */
  readonly deflate?: DeflateOptions;
  /** Subprotocols the server speaks, in its order of preference. */
  readonly subprotocols?: readonly string[];
  /** Passed to the Protocol. */
  readonly maxMessageSize?: number;
  /** Called for every event; default {@link echoHandler}. */
  readonly handler?: EventHandler;
  /** Milliseconds to wait for the client to close once closing; default 10 s. */
  readonly closeTimeout?: number;
}

/** A handshake the server refused, with the status it answered. */
export interface Rejection {
  readonly status: number;
  readonly error: Error;
}

/** A running test server. */
export interface TestServer {
  readonly port: number;
  /** Every connection that completed the opening handshake, in order. */
  readonly connections: readonly Connection[];
  /** Every opening handshake that was refused. */
  readonly rejections: readonly Rejection[];
  /** The next connection to complete its opening handshake. */
  nextConnection(): Promise<Connection>;
  /** Stops listening, destroys every socket and resolves once all are closed. */
  close(): Promise<void>;
}

/** The HandshakeError of a server-side check that has no error of its own. */
function badRequest(message: string): HandshakeError {
  return new HandshakeError('ERR_HANDSHAKE_HEADER', message, 400);
}

/**
 * Starts a WebSocket server on 127.0.0.1 and an ephemeral port: it reads the opening handshake,
 * answers it (RFC 6455 §4.2.2) and runs a server-side Protocol on the socket.
 */
export async function startServer(options: ServerOptions = {}): Promise<TestServer> {
  const sockets = new Set<Socket>();
  const connections = new Inbox<Connection>();
  const rejections: Rejection[] = [];
  const closeTimeout = options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT;

  const reject = (socket: Socket, error: HandshakeError): void => {
    rejections.push({ status: error.status, error });
    socket.end(buildRejection(error.status, error.message, error.headers), () => socket.destroy());
  };

  const accept = (socket: Socket, head: string, rest: Buffer): void => {
    const parsed = parseHead(head);
    const requestLine = parsed === null ? null : /^(\S+) (\S+) HTTP\/1\.1$/.exec(parsed.startLine);
    if (parsed === null || requestLine === null) {
      reject(socket, badRequest('Malformed HTTP request'));
      return;
    }
    let handshake: ServerHandshake;
    try {
      handshake = validateRequest({ method: requestLine[1]!, headers: parsed.headers });
    } catch (error) {
      if (!(error instanceof HandshakeError)) throw error;
      reject(socket, error);
      return;
    }
    const subprotocol =
      options.subprotocols?.find((name) => handshake.subprotocols.includes(name)) ?? null;
    const deflate =
      options.deflate === undefined
        ? null
        : negotiateDeflate(handshake.extensions, options.deflate);
    socket.write(
      buildResponse({ key: handshake.key, subprotocol, extensions: deflate?.response ?? null }),
    );
    const protocol = new Protocol({
      side: 'server',
      extension: deflate?.extension ?? null,
      ...(options.maxMessageSize === undefined ? {} : { maxMessageSize: options.maxMessageSize }),
    });
    const connection = new Connection({
      socket,
      protocol,
      handler: options.handler ?? echoHandler,
      closeTimeout,
      subprotocol,
      extensions: deflate?.response ?? null,
      deflate: deflate?.extension ?? null,
    });
    connections.push(connection);
    connection.start(rest);
  };

  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    // A reset while a rejection is being written is no error of the server's.
    socket.on('error', () => {});
    socket.setNoDelay(true);
    readHead(
      socket,
      (head, rest) => accept(socket, head, rest),
      (error) => {
        if (error instanceof RangeError) {
          reject(socket, new HandshakeError('ERR_HANDSHAKE_HEADER', 'Head too large', 431));
        } else {
          socket.destroy();
        }
      },
    );
  });

  await new Promise<void>((resolve, rejectListen) => {
    server.once('error', rejectListen);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', rejectListen);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');

  return {
    port: address.port,
    connections: connections.received,
    rejections,
    nextConnection: () => connections.next(),
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      connections.end('the server is closed');
      await closed;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Client

/** Options of {@link connectClient}. */
export interface ClientOptions {
  /** Offer permessage-deflate with these options. */
  readonly deflate?: DeflateOptions;
  /** Subprotocols to offer, most preferred first. */
  readonly subprotocols?: readonly string[];
  /** Passed to the Protocol. */
  readonly maxMessageSize?: number;
  /** Milliseconds to wait for the server to close the transport once closing; default 10 s. */
  readonly closeTimeout?: number;
}

/**
 * Opens a WebSocket connection to 127.0.0.1:`port` (RFC 6455 §4.1) and runs a client-side
 * Protocol on it. Rejects with the `HandshakeError` of `validateResponse` or
 * `acceptDeflateResponse` when the server's answer must fail the connection.
 */
export function connectClient(port: number, options: ClientOptions = {}): Promise<Connection> {
  const subprotocols = options.subprotocols ?? [];
  const request = createRequest({
    host: `127.0.0.1:${port}`,
    path: '/',
    subprotocols,
    extensions: options.deflate === undefined ? null : offerDeflate(options.deflate),
  });
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: '127.0.0.1', port, allowHalfOpen: true });
    socket.setNoDelay(true);
    const fail = (error: Error): void => {
      socket.destroy();
      reject(error);
    };
    readHead(
      socket,
      (head, rest) => {
        const parsed = parseHead(head);
        const statusLine =
          parsed === null ? null : /^HTTP\/1\.1 (\d{3})(?: .*)?$/.exec(parsed.startLine);
        if (parsed === null || statusLine === null) {
          fail(new Error('malformed HTTP response'));
          return;
        }
        let extension: PerMessageDeflate | null;
        let subprotocol: string | null;
        try {
          const handshake = validateResponse(
            { status: Number(statusLine[1]), headers: parsed.headers },
            { key: request.key, subprotocols },
          );
          subprotocol = handshake.subprotocol;
          if (options.deflate !== undefined) {
            extension = acceptDeflateResponse(handshake.extensions, options.deflate);
          } else if (handshake.extensions.length > 0) {
            // §4.1: an extension "not present in the client's handshake" fails the connection.
            throw new HandshakeError(
              'ERR_HANDSHAKE_EXTENSION',
              'the server accepted an extension that was not offered',
              101,
            );
          } else {
            extension = null;
          }
        } catch (error) {
          fail(error instanceof Error ? error : new Error(String(error)));
          return;
        }
        const extensions = parsed.headers['sec-websocket-extensions'];
        const protocol = new Protocol({
          side: 'client',
          extension,
          ...(options.maxMessageSize === undefined
            ? {}
            : { maxMessageSize: options.maxMessageSize }),
        });
        const connection = new Connection({
          socket,
          protocol,
          handler: null,
          closeTimeout: options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT,
          subprotocol,
          extensions: extensions === undefined ? null : [extensions].flat().join(', '),
          deflate: extension,
        });
        resolve(connection);
        connection.start(rest);
      },
      fail,
    );
    socket.write(request.head);
  });
}
