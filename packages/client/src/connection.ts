import {
  offerSubprotocols,
  type Position,
  parseSelected,
  RESUME_SUBPROTOCOL,
  ResumeProtocolError,
} from '@gale/frame/resume';
import { systemClock } from '@gale/io/clock';
import {
  AbortError,
  InvalidArgumentError,
  reportCallbackError,
  WebSocketClosedError,
} from './errors.js';
import { type ClientConnectionEventMap, DropEvent, type GapEvent } from './events.js';
import { Heartbeat } from './heartbeat.js';
import { Inbox } from './inbox.js';
import { Lifecycle, type LifecycleHooks } from './lifecycle.js';
import type { ConnectionState, ConnectOptions, Message } from './options.js';
import { Outbox } from './outbox.js';
import { Reconnection } from './reconnection.js';
import { Resumption } from './resume.js';
import type { Connector, Transport } from './transport.js';

/** Options accepted by `writeMessage`. */
export interface WriteOptions {
  /** Send a string as a binary message (its UTF-8 bytes). */
  readonly binary?: boolean;
}

const DEFAULT_READ_QUEUE = 16;
const DEFAULT_SEND_QUEUE = 256;
/** RFC 6455 §7.4.1: the endpoint received something it cannot read (a malformed gale.v1 message). */
const PROTOCOL_ERROR = 1002;
const encoder = new TextEncoder();

// The public face of units that each do one thing: `Lifecycle` (states, attempts, the end),
// `Reconnection`, `Inbox` (reading), `Outbox` (writes while disconnected), `Heartbeat` and
// `Resumption` (gale.v1); this class checks arguments and wires them together.

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

  readonly #options: ConnectOptions;
  readonly #lifecycle: Lifecycle;
  readonly #inbox: Inbox;
  readonly #outbox: Outbox;
  readonly #heartbeat: Heartbeat | null;
  // With `resume`: the positions of the topics, the hello and the reading of gale.v1 messages.
  readonly #resumption: Resumption | null;
  // The socket on which the server selected gale.v1 (messages come in its envelope), and the one
  // being closed with 1002 for a malformed message (nothing more is read from it or written to it).
  #galeTransport: Transport | null = null;
  #failedTransport: Transport | null = null;

  /**
   * @internal Use `createConnection()` or `websocketConnect()`, which pick the connector of the
   * build. Throws `InvalidArgumentError` for a malformed URL or options.
   */
  constructor(url: string | URL, options: ConnectOptions, connector: Connector) {
    super();
    const href = parseUrl(url);
    this.url = href.href;
    this.#options = options;
    const clock = options.clock ?? systemClock;
    const reconnection = new Reconnection(options.reconnect, clock);
    this.#inbox = new Inbox(
      positive(options.readQueueSize, DEFAULT_READ_QUEUE, 'readQueueSize'),
      options.onMessage,
    );
    this.#outbox = new Outbox(
      positive(options.sendQueueSize, DEFAULT_SEND_QUEUE, 'sendQueueSize', 0),
      (error) => this.dispatchEvent(new DropEvent(error)),
    );
    const maxMessageSize = options.maxMessageSize;
    if (maxMessageSize !== undefined && !(maxMessageSize > 0)) {
      // Checked here, not by the codec after the 101: a mistake is told before anything is sent.
      throw new InvalidArgumentError('maxMessageSize must be > 0');
    }
    const heartbeat = options.heartbeat;
    if (heartbeat !== undefined && !(heartbeat.interval > 0 && heartbeat.timeout > 0)) {
      throw new InvalidArgumentError('heartbeat.interval and heartbeat.timeout must be > 0');
    }
    this.#heartbeat = heartbeat === undefined ? null : new Heartbeat(heartbeat, clock);
    // Opt-in: see `ConnectOptions.resume` for why it is not on by default with `reconnect`.
    const resume = options.resume === true;
    this.#resumption = resume
      ? new Resumption((event: GapEvent) => this.dispatchEvent(event))
      : null;
    this.#lifecycle = new Lifecycle({
      url: href,
      // The connector of either build offers what the options say: with resume, gale.v1's offer.
      options: resume ? resumeOptions(options) : options,
      connector,
      reconnection,
      clock,
      events: this,
      hooks: this.#hooks,
    });
    this.opened = this.#lifecycle.opened;

    const signal = options.signal;
    if (signal !== undefined) {
      if (signal.aborted) {
        this.#abortBySignal(signal.reason);
        return;
      }
      signal.addEventListener('abort', this.#onAbortSignal, { once: true });
    }
    this.#lifecycle.start();
  }

  /** Where the connection is in its life (see `ConnectionState`). */
  get state(): ConnectionState {
    return this.#lifecycle.state;
  }

  /** The code of the peer's last Close frame, or null if it sent none. */
  get closeCode(): number | null {
    return this.#lifecycle.closeCode;
  }

  /** The reason of the peer's last Close frame, or null if it sent none. */
  get closeReason(): string | null {
    return this.#lifecycle.closeReason;
  }

  /**
   * The subprotocol the server selected, or null: with `resume`, the application's part of it
   * (`chat` for `gale.v1+chat`, null for `gale.v1` alone), never gale.v1 itself.
   */
  get selectedSubprotocol(): string | null {
    const selected = this.#lifecycle.subprotocol;
    return this.#resumption === null ? selected : parseSelected(selected).appProtocol;
  }

  /**
   * With `resume`: a copy of the position of the last message (or control) received of each
   * topic, for the life of this connection object. Empty without `resume`, or before any.
   */
  positions(): ReadonlyMap<string, Position> {
    return this.#resumption?.positions() ?? new Map<string, Position>();
  }

  /**
   * With `resume`: how many topic messages were dropped as duplicates (at or before the topic's
   * position, in its epoch): a server replaying what the connection already had.
   */
  get duplicates(): number {
    return this.#resumption?.duplicates ?? 0;
  }

  /** Bytes written but not yet handed to the kernel (Node) or the network (browser). */
  get bufferedAmount(): number {
    return this.#lifecycle.transport?.bufferedAmount ?? 0;
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
    const transport = this.#openTransport();
    // The transport's promise is already handled against unhandled rejections.
    if (transport !== null) return transport.send(data, binary, true);
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
    const transport = this.#openTransport();
    if (transport !== null) transport.send(data, binary, false);
    else void this.#outbox.enqueue(data, binary);
  }

  #checkWritable(): void {
    const state = this.#lifecycle.state;
    if (state === 'closing' || state === 'closed' || this.#lifecycle.isClosedByCaller) {
      throw new WebSocketClosedError();
    }
  }

  // Where a write goes straight out: an open transport with nothing queued before it (and not
  // being closed for a malformed message: writes then wait in the queue for the next socket).
  #openTransport(): Transport | null {
    const transport = this.#lifecycle.transport;
    return this.#lifecycle.state === 'open' &&
      this.#outbox.isEmpty &&
      transport !== this.#failedTransport
      ? transport
      : null;
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
    if (this.#lifecycle.state !== 'open') throw new WebSocketClosedError();
    this.#lifecycle.transport!.ping(bytes);
  }

  /**
   * Closes the connection for good: starts the closing handshake (a reason without a code means
   * 1000) and resolves once the socket is closed; the socket is destroyed if the server does not
   * finish the handshake within `closeTimeout`. Never reconnects afterwards. Messages still
   * queued are dropped and reported.
   */
  close(code?: number, reason?: string): Promise<void> {
    const lifecycle = this.#lifecycle;
    if (lifecycle.state === 'closed' || lifecycle.isClosedByCaller) return lifecycle.closed;
    const closeCode = code ?? (reason === undefined ? undefined : 1000);
    checkClose(closeCode, reason);
    lifecycle.close(closeCode, reason ?? '');
    return lifecycle.closed;
  }

  // How the units follow the lifecycle.
  readonly #hooks: LifecycleHooks = {
    adopt: (transport) => {
      this.#inbox.attach(transport);
      const resumption = this.#resumption;
      if (resumption !== null && parseSelected(transport.subprotocol).resume) {
        this.#galeTransport = transport;
        // gale.v1's hello is the first message on every socket (the first one too, empty): sent
        // before the state becomes open, so before what a `statechange` listener, `onReconnect`
        // or the send queue writes.
        transport.send(resumption.hello(), false, false);
      }
    },
    opened: (transport, isReconnect) => {
      const isOpen = (): boolean =>
        this.#lifecycle.state === 'open' &&
        this.#lifecycle.transport === transport &&
        this.#failedTransport !== transport;
      this.#heartbeat?.start(transport, isOpen);
      // What onReconnect writes synchronously (a resubscription) goes before the queue.
      this.#outbox.flush(transport, isOpen, isReconnect ? this.#reconnected : undefined);
    },
    message: (data) => {
      // Everything counts as a sign of life, controls and duplicates too.
      this.#heartbeat?.received();
      const transport = this.#lifecycle.transport;
      if (transport === null || transport !== this.#galeTransport) {
        this.#inbox.deliver(data);
        return;
      }
      if (transport === this.#failedTransport) return;
      let payload: Message | null;
      try {
        payload = this.#resumption!.receive(data);
      } catch (error) {
        if (!(error instanceof ResumeProtocolError)) throw error;
        this.#failTransport(transport, error.message);
        return;
      }
      if (payload !== null) this.#inbox.deliver(payload);
    },
    closing: () => this.#inbox.keepReading(),
    detach: () => {
      this.#galeTransport = null;
      this.#failedTransport = null;
      this.#heartbeat?.stop();
      this.#inbox.detach();
    },
    finished: (why, error) => {
      this.#options.signal?.removeEventListener('abort', this.#onAbortSignal);
      this.#outbox.dropAll(why, error);
      this.#inbox.end();
    },
  };

  // Runs with the send queue set aside: what it writes finds an open connection and an empty
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

  // The server sent a malformed gale.v1 message: the socket is closed with 1002 (then dropped
  // where the build cannot send 1002: browsers), and its loss follows the reconnection rules.
  #failTransport(transport: Transport, reason: string): void {
    this.#failedTransport = transport;
    try {
      transport.close(PROTOCOL_ERROR, reason);
    } catch {
      transport.abort(reason);
    }
  }

  readonly #onAbortSignal = (): void => {
    this.#abortBySignal(this.#options.signal?.reason);
  };

  // An open connection closes; one still connecting ends at once with AbortError.
  #abortBySignal(reason: unknown): void {
    if (this.#lifecycle.state === 'open') {
      void this.close();
      return;
    }
    this.#lifecycle.abort(new AbortError(reason));
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

// The options the connector sees with `resume`: gale.v1's offer around the application's
// subprotocols. The application may not offer gale.v1's names itself then.
function resumeOptions(options: ConnectOptions): ConnectOptions {
  const subprotocols = options.subprotocols ?? [];
  for (const name of subprotocols) {
    if (name === RESUME_SUBPROTOCOL || name.startsWith(`${RESUME_SUBPROTOCOL}+`)) {
      throw new InvalidArgumentError(
        `Subprotocol ${JSON.stringify(name)} is gale.v1's own: with resume, offer the application's subprotocols only`,
      );
    }
  }
  return { ...options, subprotocols: offerSubprotocols(subprotocols) };
}

function parseUrl(url: string | URL): URL {
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
  return href;
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
