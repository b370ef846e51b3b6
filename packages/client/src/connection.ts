import { systemClock } from '@gale/io/clock';
import {
  AbortError,
  ConnectTimeoutError,
  InvalidArgumentError,
  reportCallbackError,
  WebSocketClosedError,
} from './errors.js';
import {
  type ClientConnectionEventMap,
  ConnectionCloseEvent,
  DropEvent,
  ReconnectingEvent,
  StateChangeEvent,
} from './events.js';
import { Heartbeat } from './heartbeat.js';
import { Inbox } from './inbox.js';
import type { CloseInfo, ConnectionState, ConnectOptions, Message } from './options.js';
import { Outbox } from './outbox.js';
import { Reconnection } from './reconnection.js';
import type { Connector, Transport, TransportHandlers } from './transport.js';

/** Options accepted by `writeMessage`. */
export interface WriteOptions {
  /** Send a string as a binary message (its UTF-8 bytes). */
  readonly binary?: boolean;
}

const NOOP = (): void => {};
const DEFAULT_CONNECT_TIMEOUT = 20_000;
const DEFAULT_READ_QUEUE = 16;
const DEFAULT_SEND_QUEUE = 256;
const encoder = new TextEncoder();

/**
 * One WebSocket client connection: Tornado's `WebSocketClientConnection` with async iteration,
 * flow-controlled writes and opt-in reconnection. Create it with `websocketConnect()` or
 * `createConnection()`; the same class serves the browser and Node builds.
 */
export class ClientConnection extends EventTarget {
  /** The URL this connection (re)connects to. */
  readonly url: string;
  /** Settles with the first successful handshake; rejects if the connection closes before. */
  readonly opened: Promise<void>;

  readonly #href: URL;
  readonly #options: ConnectOptions;
  readonly #connector: Connector;
  readonly #reconnection: Reconnection;

  #state: ConnectionState = 'connecting';
  #transport: Transport | null = null;
  #generation = 0;
  #attempt: AbortController | null = null;
  #hasOpened = false;
  #deliberate = false;
  #closeCode: number | null = null;
  #closeReason: string | null = null;
  #subprotocol: string | null = null;
  #resolveOpened!: () => void;
  #rejectOpened!: (error: Error) => void;
  #openedSettled = false;
  #closed: Promise<void>;
  #resolveClosed!: () => void;

  readonly #inbox: Inbox;
  readonly #outbox: Outbox;

  readonly #heartbeat: Heartbeat | null;

  /**
   * @internal Use `createConnection()` or `websocketConnect()`, which pick the connector of the
   * build. Throws `InvalidArgumentError` for a malformed URL or options.
   */
  constructor(url: string | URL, options: ConnectOptions, connector: Connector) {
    super();
    let href: URL;
    try {
      href = new URL(url);
    } catch (error) {
      throw new InvalidArgumentError(`Invalid URL ${JSON.stringify(String(url))}`, {
        cause: error,
      });
    }
    if (!['ws:', 'wss:', 'http:', 'https:'].includes(href.protocol)) {
      throw new InvalidArgumentError(
        `Unsupported URL scheme ${JSON.stringify(href.protocol)}: use ws: or wss:`,
      );
    }
    if (href.hash !== '') {
      throw new InvalidArgumentError('A WebSocket URL must not have a fragment (RFC 6455 §3)');
    }
    this.url = href.href;
    this.#href = href;
    this.#options = options;
    this.#connector = connector;
    this.#reconnection = new Reconnection(options.reconnect, systemClock);
    this.#inbox = new Inbox(
      positive(options.readQueueSize, DEFAULT_READ_QUEUE, 'readQueueSize'),
      options.onMessage,
    );
    this.#outbox = new Outbox(
      positive(options.sendQueueSize, DEFAULT_SEND_QUEUE, 'sendQueueSize', 0),
      (error) => this.dispatchEvent(new DropEvent(error)),
    );
    const heartbeat = options.heartbeat;
    if (heartbeat !== undefined && !(heartbeat.interval > 0 && heartbeat.timeout > 0)) {
      throw new InvalidArgumentError('heartbeat.interval and heartbeat.timeout must be > 0');
    }
    this.#heartbeat = heartbeat === undefined ? null : new Heartbeat(heartbeat, systemClock);

    this.opened = new Promise<void>((resolve, reject) => {
      this.#resolveOpened = resolve;
      this.#rejectOpened = reject;
    });
    // A caller that only uses events must not get an unhandled rejection.
    this.opened.catch(NOOP);
    this.#closed = new Promise<void>((resolve) => {
      this.#resolveClosed = resolve;
    });

    const signal = options.signal;
    if (signal !== undefined) {
      if (signal.aborted) {
        this.#abortBySignal(signal.reason);
        return;
      }
      signal.addEventListener('abort', this.#onAbortSignal, { once: true });
    }
    this.#connect();
  }

  /** Where the connection is in its life (see `ConnectionState`). */
  get state(): ConnectionState {
    return this.#state;
  }

  /** The code of the peer's last Close frame, or null if it sent none. */
  get closeCode(): number | null {
    return this.#closeCode;
  }

  /** The reason of the peer's last Close frame, or null if it sent none. */
  get closeReason(): string | null {
    return this.#closeReason;
  }

  /** The subprotocol the server selected, or null. */
  get selectedSubprotocol(): string | null {
    return this.#subprotocol;
  }

  /** Bytes written but not yet handed to the kernel (Node) or the network (browser). */
  get bufferedAmount(): number {
    return this.#transport?.bufferedAmount ?? 0;
  }

  /**
   * The next message: a string for text, a `Uint8Array` for binary; null once the connection is
   * closed for good and every received message has been read. While `readQueueSize` messages are
   * unread, reading from the socket pauses (in Node), so a slow reader slows the sender down.
   * Throws `InvalidStateError` when the connection was created with `onMessage`.
   */
  readMessage(): Promise<Message | null> {
    return this.#inbox.read();
  }

  /** The next message parsed as JSON (text or UTF-8 bytes), or null once closed. */
  async readJson<T = unknown>(): Promise<T | null> {
    const message = await this.readMessage();
    if (message === null) return null;
    return JSON.parse(typeof message === 'string' ? message : new TextDecoder().decode(message));
  }

  /** Iterates over messages until the connection is closed for good. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Message, void, undefined> {
    for (;;) {
      const message = await this.readMessage();
      if (message === null) return;
      yield message;
    }
  }

  /**
   * Sends a message: a string as text (binary with `{ binary: true }`), bytes as binary, any
   * other value as JSON text. The promise resolves when the bytes are handed to the kernel (flow
   * control: await it to stay within memory) and rejects with `WebSocketClosedError` if the socket
   * died first. While connecting or reconnecting the message is queued (up to `sendQueueSize`)
   * and sent in order once open; if it never can be, the promise rejects with
   * `MessageDroppedError` and a `drop` event reports it. Throws `WebSocketClosedError` at once
   * when the connection is closing or closed.
   */
  writeMessage(
    message: string | Uint8Array | ArrayBuffer | ArrayBufferView | object,
    options?: WriteOptions,
  ): Promise<void> {
    this.#checkWritable();
    const binary = isBinary(message, options);
    const data = toData(message, binary);
    if (this.#state === 'open' && this.#outbox.isEmpty) {
      // The transport's promise is already handled against unhandled rejections.
      return this.#transport!.send(data, binary, true);
    }
    return this.#outbox.enqueue(data, binary);
  }

  /**
   * Sends a message like `writeMessage`, without a promise: fire and forget, as the browser's
   * `WebSocket.send`. Cheaper per message; a message that is dropped while disconnected is still
   * reported by a `drop` event. Throws `WebSocketClosedError` once closing or closed.
   */
  send(
    message: string | Uint8Array | ArrayBuffer | ArrayBufferView | object,
    options?: WriteOptions,
  ): void {
    this.#checkWritable();
    const binary = isBinary(message, options);
    const data = toData(message, binary);
    if (this.#state === 'open' && this.#outbox.isEmpty) {
      this.#transport!.send(data, binary, false);
      return;
    }
    void this.#outbox.enqueue(data, binary);
  }

  #checkWritable(): void {
    if (this.#state === 'closing' || this.#state === 'closed' || this.#deliberate) {
      throw new WebSocketClosedError();
    }
  }

  /**
   * Sends a Ping (Node only: browsers cannot). Throws `WebSocketClosedError` unless open and
   * `InvalidArgumentError` for more than 125 bytes (RFC 6455 §5.5).
   */
  ping(data: string | Uint8Array = new Uint8Array(0)): void {
    const bytes = typeof data === 'string' ? encoder.encode(data) : data;
    if (bytes.length > 125) {
      throw new InvalidArgumentError('A ping payload must be 125 bytes or less (RFC 6455 §5.5)');
    }
    if (this.#state !== 'open') throw new WebSocketClosedError();
    this.#transport!.ping(bytes);
  }

  /**
   * Closes the connection for good: starts the closing handshake (a reason without a code means
   * 1000) and resolves once the socket is closed; the socket is destroyed if the server does not
   * finish the handshake within `closeTimeout`. Never reconnects afterwards. Messages still
   * queued are dropped and reported.
   */
  close(code?: number, reason?: string): Promise<void> {
    if (this.#state === 'closed' || this.#deliberate) return this.#closed;
    const closeCode = code ?? (reason === undefined ? undefined : 1000);
    checkClose(closeCode, reason);
    this.#deliberate = true;
    if (this.#state === 'open' && this.#transport !== null) {
      this.#setState('closing');
      this.#transport.close(closeCode, reason ?? '');
      this.#inbox.keepReading();
    } else {
      this.#cancelAttempt();
      this.#finish(
        { code: closeCode ?? 1005, reason: reason ?? '', wasClean: true },
        new WebSocketClosedError('close() was called before the connection opened'),
      );
    }
    return this.#closed;
  }

  // --- connecting -----------------------------------------------------------------------------

  #connect(): void {
    const attempt = new AbortController();
    this.#attempt = attempt;
    const generation = ++this.#generation;
    const timeout = this.#options.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT;
    const timer = setTimeout(() => attempt.abort(new ConnectTimeoutError(timeout)), timeout);
    let adopted = false;
    let earlyClose: CloseInfo | null = null;
    const handlers: TransportHandlers = {
      onMessage: (data) => {
        if (generation === this.#generation) this.#deliver(data);
      },
      onPing: NOOP,
      onPong: NOOP,
      onClose: (info) => {
        if (generation !== this.#generation) return;
        if (adopted) this.#onTransportClosed(info);
        else earlyClose = info;
      },
    };
    let pending: Promise<Transport>;
    try {
      pending = this.#connector(this.#href, this.#options, handlers, attempt.signal);
    } catch (error) {
      pending = Promise.reject(error);
    }
    pending.then(
      (transport) => {
        clearTimeout(timer);
        if (generation !== this.#generation || this.#attempt !== attempt) {
          transport.abort('superseded');
          return;
        }
        this.#attempt = null;
        adopted = true;
        this.#onOpen(transport);
        if (earlyClose !== null) this.#onTransportClosed(earlyClose);
      },
      (error: unknown) => {
        clearTimeout(timer);
        if (generation !== this.#generation || this.#attempt !== attempt) return;
        this.#attempt = null;
        const reason = attempt.signal.aborted ? attempt.signal.reason : error;
        // Connectors reject with Gale errors and the signal's reason is one of ours; a non-Error
        // value would be a bug, wrapped only so that `info.error` is always an Error.
        this.#onConnectFailed(reason instanceof Error ? reason : new Error(String(reason)));
      },
    );
  }

  #cancelAttempt(): void {
    this.#reconnection.cancel();
    this.#generation++;
    const attempt = this.#attempt;
    this.#attempt = null;
    attempt?.abort(new WebSocketClosedError('The connection was closed'));
  }

  #onOpen(transport: Transport): void {
    const isReconnect = this.#hasOpened;
    this.#transport = transport;
    this.#hasOpened = true;
    this.#reconnection.reset();
    this.#subprotocol = transport.subprotocol;
    this.#closeCode = null;
    this.#closeReason = null;
    this.#inbox.attach(transport);
    this.#setState('open');
    this.#heartbeat?.start(transport, () => this.#state === 'open');
    if (!this.#openedSettled) {
      this.#openedSettled = true;
      this.#resolveOpened();
    }
    // What onReconnect writes synchronously (a resubscription) goes before the queue.
    this.#outbox.flush(
      transport,
      () => this.#state === 'open' && this.#transport === transport,
      isReconnect ? this.#reconnected : undefined,
    );
  }

  // The queue is set aside while this runs: what it writes finds an open connection and an empty
  // queue, and goes out first.
  readonly #reconnected = (): void => {
    const hook = this.#options.onReconnect;
    if (hook !== undefined) {
      try {
        const result = hook(this);
        if (result !== undefined) Promise.resolve(result).catch(reportCallbackError);
      } catch (error) {
        reportCallbackError(error);
      }
    }
    this.dispatchEvent(new Event('reconnect'));
  };

  #onConnectFailed(error: Error): void {
    const info: CloseInfo = { code: 1006, reason: '', wasClean: false, error };
    if (this.#deliberate) return;
    this.#retryOrFinish(info);
  }

  #onTransportClosed(info: CloseInfo): void {
    this.#transport = null;
    this.#inbox.detach();
    this.#heartbeat?.stop();
    if (info.code !== 1005 && info.code !== 1006) {
      this.#closeCode = info.code;
      this.#closeReason = info.reason === '' ? null : info.reason;
    }
    if (this.#deliberate) {
      this.#finish(info, info.error);
      return;
    }
    this.#retryOrFinish(info);
  }

  #retryOrFinish(info: CloseInfo): void {
    const decision = this.#reconnection.next(info);
    if (!decision.retry) {
      this.#finish(info, info.error, decision.dropReason);
      return;
    }
    this.#setState(this.#hasOpened ? 'reconnecting' : 'connecting');
    this.dispatchEvent(new ReconnectingEvent(decision.attempt, decision.delay, info));
    if (this.#deliberate) return; // a listener closed it
    this.#reconnection.schedule(decision.delay, () => this.#connect());
  }

  // Closed for good: settle everything that is still waiting, report every unsent message.
  #finish(info: CloseInfo, error: Error | undefined, dropReason?: string): void {
    if (this.#state === 'closed') return;
    this.#transport = null;
    this.#inbox.detach();
    this.#heartbeat?.stop();
    this.#reconnection.cancel();
    this.#options.signal?.removeEventListener('abort', this.#onAbortSignal);
    this.#setState('closed');
    if (!this.#openedSettled) {
      this.#openedSettled = true;
      this.#rejectOpened(error ?? new WebSocketClosedError('The connection closed before opening'));
    }
    this.#outbox.dropAll(
      dropReason ?? (this.#deliberate ? 'close() was called' : 'the connection closed'),
      error,
    );
    this.#inbox.end();
    this.#resolveClosed();
    this.dispatchEvent(new ConnectionCloseEvent(info));
  }

  readonly #onAbortSignal = (): void => {
    this.#abortBySignal(this.#options.signal?.reason);
  };

  #abortBySignal(reason: unknown): void {
    if (this.#state === 'open') {
      void this.close();
      return;
    }
    if (this.#state === 'closing' || this.#state === 'closed') return;
    this.#deliberate = true;
    this.#cancelAttempt();
    const error = new AbortError(reason);
    this.#finish({ code: 1006, reason: '', wasClean: false, error }, error);
  }

  // --- receiving ------------------------------------------------------------------------------

  #deliver(data: Message): void {
    this.#heartbeat?.received();
    this.#inbox.deliver(data);
  }

  #setState(state: ConnectionState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.dispatchEvent(new StateChangeEvent(state));
  }

  /** Typed listeners for the events in `ClientConnectionEventMap`. */
  override addEventListener<K extends keyof ClientConnectionEventMap>(
    type: K,
    listener: ((event: ClientConnectionEventMap[K]) => void) | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void {
    super.addEventListener(type, listener, options);
  }

  override removeEventListener<K extends keyof ClientConnectionEventMap>(
    type: K,
    listener: ((event: ClientConnectionEventMap[K]) => void) | null,
    options?: boolean | EventListenerOptions,
  ): void;
  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void;
  override removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void {
    super.removeEventListener(type, listener, options);
  }
}

// RFC 6455 §7.4: what an application may send — 1000, or 3000–4999 (registered and private use);
// browsers refuse everything else, so both builds do. §5.5: a control frame's payload is at most
// 125 bytes, 2 of them the code.
function checkClose(code: number | undefined, reason: string | undefined): void {
  if (
    code !== undefined &&
    code !== 1000 &&
    !(Number.isInteger(code) && code >= 3000 && code <= 4999)
  ) {
    throw new InvalidArgumentError(`Close code ${code} cannot be sent: use 1000 or 3000-4999`);
  }
  if (reason !== undefined && encoder.encode(reason).length > 123) {
    throw new InvalidArgumentError('A close reason must be 123 bytes or less (RFC 6455 §5.5)');
  }
}

function isBinary(message: unknown, options: WriteOptions | undefined): boolean {
  return typeof message === 'string'
    ? options?.binary === true
    : message instanceof Uint8Array ||
        message instanceof ArrayBuffer ||
        ArrayBuffer.isView(message);
}

// A string is text (its UTF-8 bytes when binary), bytes are binary, anything else is JSON text.
function toData(message: unknown, binary: boolean): Message {
  if (typeof message === 'string') return binary ? encoder.encode(message) : message;
  if (message instanceof Uint8Array) return message;
  if (message instanceof ArrayBuffer) return new Uint8Array(message);
  if (ArrayBuffer.isView(message)) {
    return new Uint8Array(message.buffer, message.byteOffset, message.byteLength);
  }
  const json = JSON.stringify(message) as string | undefined;
  if (json === undefined)
    throw new InvalidArgumentError(`Cannot send ${typeof message} as a message`);
  return json;
}

function positive(value: number | undefined, fallback: number, name: string, min = 1): number {
  if (value === undefined) return fallback;
  if (!(Number.isInteger(value) && value >= min)) {
    throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
  }
  return value;
}
