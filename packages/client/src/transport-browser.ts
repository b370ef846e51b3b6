// The browser transport: the native `WebSocket` behind the internal Transport interface. This file
// is served to browsers as a plain ES module, so it imports nothing from `node:`, and from the
// other Gale packages only their browser-safe subpaths.
import { type Clock, systemClock } from '@gale/io/clock';
import { ConnectionError, InvalidArgumentError, rejected, WebSocketClosedError } from './errors.js';
import type { CloseInfo, ConnectOptions, Message } from './options.js';
import type { Connector, Transport, TransportHandlers } from './transport.js';

/** Options only the Node build can honour: a browser's WebSocket API has no way to express them. */
const NODE_ONLY_OPTIONS = {
  headers:
    'browsers cannot set WebSocket request headers (send credentials in the URL or a cookie)',
  origin: 'browsers always send the page origin as the Origin header',
  pingInterval: 'browsers cannot send WebSocket pings; use the heartbeat option',
  pingTimeout: 'browsers cannot send WebSocket pings; use the heartbeat option',
  ca: 'browsers trust the certificate authorities of the browser or operating system',
} as const satisfies Partial<Record<keyof ConnectOptions, string>>;

/**
 * A send promise waits until `bufferedAmount` is at or below this many bytes. The browser API has
 * no drain event, so this is the closest it comes to "handed to the kernel".
 */
const LOW_WATER_MARK = 16 * 1024;

/**
 * How often, in ms, `bufferedAmount` is polled while sends wait for it to drain. The poll runs
 * on the runtime's timers, not the `clock` option: it watches the browser's buffer, not time
 * passing, and a clock a test steps by hand would hold every write promise back.
 */
const DRAIN_POLL_INTERVAL = 10;

/** The default `closeTimeout`, in ms. */
const DEFAULT_CLOSE_TIMEOUT = 5000;

// WebSocket.OPEN; the constants are read off the class only where one exists.
const OPEN = 1;

/**
 * Opens a WebSocket with the browser's native `WebSocket` (`globalThis.WebSocket`), for the
 * browser build. Rejects with `InvalidArgumentError` when `options` hold one the browser cannot
 * honour (`headers`, `origin`, `pingInterval`, `pingTimeout`, `ca`) or the URL or subprotocols are
 * malformed, with `ConnectionError` when the socket fails before it opens (browsers do not reveal
 * why, not even the HTTP status of a refused handshake), and with `signal.reason` once `signal`
 * aborts (the socket is then closed). The caller gets the transport once the socket is open and
 * must then expect `handlers.onMessage` for each message and `handlers.onClose` exactly once.
 */
export const connectBrowser: Connector = async (url, options, handlers, signal) => {
  for (const [name, why] of Object.entries(NODE_ONLY_OPTIONS)) {
    if (options[name as keyof typeof NODE_ONLY_OPTIONS] !== undefined) {
      throw new InvalidArgumentError(`The ${name} option is not supported in browsers: ${why}`);
    }
  }
  signal.throwIfAborted();
  const WebSocketClass = globalThis.WebSocket;
  if (typeof WebSocketClass !== 'function') {
    throw new InvalidArgumentError('This environment has no global WebSocket');
  }
  const target = new URL(url.href);
  // Older browsers only take ws:/wss: URLs.
  if (target.protocol === 'http:') target.protocol = 'ws:';
  else if (target.protocol === 'https:') target.protocol = 'wss:';

  let ws: WebSocket;
  try {
    ws = new WebSocketClass(target.href, [...(options.subprotocols ?? [])]);
  } catch (error) {
    // A SyntaxError DOMException: a bad scheme, a fragment, a malformed or repeated subprotocol.
    throw new InvalidArgumentError(
      `Cannot open a WebSocket to ${target.href}: ${messageOf(error)}`,
      {
        cause: error,
      },
    );
  }
  ws.binaryType = 'arraybuffer';

  return new Promise<Transport>((resolve, reject) => {
    const settle = (): void => {
      ws.onopen = null;
      ws.onerror = null;
      ws.onclose = null;
      signal.removeEventListener('abort', signalOnAbort);
    };
    const signalOnAbort = (): void => {
      settle();
      ws.close();
      reject(signal.reason);
    };
    const fail = (code: number): void => {
      settle();
      ws.close();
      reject(
        new ConnectionError(
          `The WebSocket connection to ${target.href} failed before it opened (close code ${code}). ` +
            'Browsers do not reveal why: a refused connection, a TLS failure and a handshake ' +
            'the server answered with an HTTP error status (404, 403, …) all look the same.',
        ),
      );
    };
    ws.onerror = () => fail(1006);
    ws.onclose = (event) => fail(event.code);
    ws.onopen = () => {
      settle();
      resolve(
        new BrowserTransport(
          ws,
          handlers,
          options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT,
          options.maxMessageSize ?? Number.POSITIVE_INFINITY,
          options.clock ?? systemClock,
        ),
      );
    };
    signal.addEventListener('abort', signalOnAbort, { once: true });
  });
};

interface DrainWaiter {
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

/** One open native WebSocket. */
class BrowserTransport implements Transport {
  readonly #ws: WebSocket;
  readonly #handlers: TransportHandlers;
  readonly #closeTimeout: number;
  readonly #clock: Clock;
  readonly #waiters: DrainWaiter[] = [];
  #drainTimer: ReturnType<typeof setTimeout> | undefined;
  #closeTimer: unknown;
  #error: Error | undefined;
  #isClosed = false;

  constructor(
    ws: WebSocket,
    handlers: TransportHandlers,
    closeTimeout: number,
    maxMessageSize: number,
    clock: Clock,
  ) {
    this.#ws = ws;
    this.#handlers = handlers;
    this.#closeTimeout = closeTimeout;
    this.#clock = clock;
    ws.onmessage = (event: MessageEvent<string | ArrayBuffer>) => {
      const { data } = event;
      // What the Node build's parser enforces with 1009; a page may not send 1009, so the
      // socket is dropped instead.
      if (byteLength(data, maxMessageSize) > maxMessageSize) {
        this.abort(`a message of more than maxMessageSize (${maxMessageSize}) bytes arrived`);
        return;
      }
      void handlers.onMessage(typeof data === 'string' ? data : new Uint8Array(data));
    };
    // An error after open always precedes a close event (1006); keep it for the CloseInfo.
    ws.onerror = () => {
      this.#error ??= new ConnectionError('The WebSocket connection failed');
    };
    ws.onclose = (event) => {
      this.#finish({
        code: event.code,
        reason: event.reason,
        wasClean: event.wasClean,
        error: this.#error,
      });
    };
  }

  get subprotocol(): string | null {
    return this.#ws.protocol || null;
  }

  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }

  send(data: Message, binary: boolean, track: true): Promise<void>;
  send(data: Message, binary: boolean, track: false): void;
  send(data: Message, binary: boolean, track: boolean): Promise<void> | void {
    // A browser silently discards what is sent on a closing socket (counting it in
    // bufferedAmount); report it instead.
    if (this.#isClosed || this.#ws.readyState !== OPEN) {
      if (track) return rejected(new WebSocketClosedError());
      return;
    }
    try {
      this.#ws.send(toWire(data, binary));
    } catch (error) {
      if (track) return rejected(error);
      throw error;
    }
    if (!track) return;
    if (this.#ws.bufferedAmount <= LOW_WATER_MARK) return Promise.resolve();
    const drained = new Promise<void>((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
      this.#drainTimer ??= setTimeout(this.#pollDrain, DRAIN_POLL_INTERVAL);
    });
    drained.catch(() => {}); // see rejected()
    return drained;
  }

  ping(_data: Uint8Array): void {
    throw new InvalidArgumentError(
      'browsers cannot send WebSocket pings; use the heartbeat option',
    );
  }

  close(code: number | undefined, reason: string): void {
    if (this.#isClosed) return;
    try {
      if (code === undefined) this.#ws.close();
      else this.#ws.close(code, reason);
    } catch (error) {
      // InvalidAccessError: browsers only let pages send 1000 and 3000–4999. SyntaxError: a
      // reason over 123 bytes of UTF-8.
      throw new InvalidArgumentError(`Cannot close with ${code} ${reason}: ${messageOf(error)}`, {
        cause: error,
      });
    }
    // The browser waits for the server's Close as long as it likes; `closeTimeout` bounds it.
    this.#closeTimer ??= this.#clock.setTimeout(
      () => this.abort(`no Close frame within ${this.#closeTimeout} ms (close timed out)`),
      this.#closeTimeout,
    );
  }

  abort(reason: string): void {
    if (this.#isClosed) return;
    const ws = this.#ws;
    ws.onmessage = null;
    ws.onerror = null;
    ws.onclose = null;
    // The browser API cannot drop a socket, only start the closing handshake; the page stops
    // listening to it at once and reports it gone, as RFC 6455 §7.1.1 lets a client do when the
    // server is unresponsive.
    ws.close();
    const error = new ConnectionError(`Connection dropped: ${reason}`);
    const info = { code: 1006, reason: '', wasClean: false, error };
    this.#isClosed = true;
    // On a later microtask so that the caller's abort() returns before `closed` runs.
    queueMicrotask(() => this.#finish(info));
  }

  /** A no-op: the browser WebSocket API cannot stop reading, so it cannot apply backpressure. */
  pause(): void {}

  /** A no-op: see `pause()`. */
  resume(): void {}

  #pollDrain = (): void => {
    this.#drainTimer = undefined;
    if (this.#waiters.length === 0) return;
    if (this.#ws.bufferedAmount <= LOW_WATER_MARK) {
      for (const waiter of this.#waiters.splice(0)) waiter.resolve();
      return;
    }
    this.#drainTimer = setTimeout(this.#pollDrain, DRAIN_POLL_INTERVAL);
  };

  #finish(info: CloseInfo): void {
    this.#isClosed = true;
    clearTimeout(this.#drainTimer);
    this.#clock.clearTimeout(this.#closeTimer);
    this.#drainTimer = undefined;
    this.#closeTimer = undefined;
    // Bytes still buffered when the socket closed never left.
    for (const waiter of this.#waiters.splice(0)) {
      waiter.reject(new WebSocketClosedError('The WebSocket closed before the message was sent'));
    }
    const ws = this.#ws;
    ws.onmessage = null;
    ws.onerror = null;
    ws.onclose = null;
    this.#handlers.onClose(info);
  }
}

// A browser sends a string as a text message and bytes as a binary one.
function toWire(data: Message, binary: boolean): string | Uint8Array<ArrayBuffer> {
  if (binary) {
    if (typeof data === 'string') return new TextEncoder().encode(data);
    // Browsers refuse to send a view of a SharedArrayBuffer: send a copy of those bytes.
    return data.buffer instanceof ArrayBuffer
      ? (data as Uint8Array<ArrayBuffer>)
      : new Uint8Array(data);
  }
  if (typeof data === 'string') return data;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(data);
  } catch (error) {
    throw new InvalidArgumentError('A text message must be valid UTF-8', { cause: error });
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const encoder = new TextEncoder();

// Exact only when it matters: a string of n UTF-16 units is at most 3n UTF-8 bytes.
function byteLength(data: string | ArrayBuffer, max: number): number {
  if (typeof data !== 'string') return data.byteLength;
  if (data.length * 3 <= max) return data.length;
  return encoder.encode(data).length;
}
