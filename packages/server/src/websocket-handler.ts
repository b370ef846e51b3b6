import type { DeflateOptions } from '@gale/frame';
import { encodeDirectMessage } from '@gale/frame/resume';
import { InvalidArgumentError, WebSocketClosedError } from './errors.js';
import { Handler } from './handler.js';
import type { HandlerConnection } from './handler-connection.js';
import type { TopicSubscriber } from './topics.js';

/** Options for `writeMessage`. */
export interface WriteOptions {
  /** Send as a binary message (a string is sent as its UTF-8 bytes). */
  readonly binary?: boolean;
}

// Reach the handler's private state for the Application (set in a static block below), without
// public members on the class users extend.
let internals: {
  connection(handler: WebSocketHandler): HandlerConnection | undefined;
  bind(handler: WebSocketHandler, connection: HandlerConnection, subprotocol: string | null): void;
  subscriptions(handler: WebSocketHandler): ReadonlyMap<string, readonly TopicSubscriber[]>;
};

/** @internal The connection behind a handler, for the Application and topics. */
export function connectionOf(handler: WebSocketHandler): HandlerConnection | undefined {
  return internals.connection(handler);
}

/** @internal Binds a handler to its connection and subprotocol once the upgrade succeeded. */
export function bindConnection(
  handler: WebSocketHandler,
  connection: HandlerConnection,
  subprotocol: string | null,
): void {
  internals.bind(handler, connection, subprotocol);
}

/** @internal The handler's subscriptions by topic, released when it closes. */
export function subscriptionsOf(
  handler: WebSocketHandler,
): ReadonlyMap<string, readonly TopicSubscriber[]> {
  return internals.subscriptions(handler);
}

const NO_TOPICS: ReadonlyMap<string, readonly TopicSubscriber[]> = new Map();

/**
 * Subclass to handle a WebSocket route, as in Tornado: override `open`, `onMessage` and `onClose`
 * (and the other hooks as needed); call `writeMessage`, `ping` and `close`.
 *
 * Order of events: `prepare()` (before the upgrade; throw an `HTTPError` to refuse it), then
 * `checkOrigin`, `selectSubprotocol` and `getCompressionOptions`, the 101, `open(...pathArgs)`,
 * `onMessage` for each message (never before `open` resolved; an async `onMessage` holds back the
 * next), and `onClose` exactly once, however the connection ended. An exception in `open` or
 * `onMessage` is logged and fails only this connection with 1011.
 *
 * With a gale.v1 client (Gale's resume subprotocol, see the README), `open()` runs once the
 * client's hello has arrived (its first message, which the handler never sees); a gale.v1
 * connection that closes before its hello runs neither `open` nor `onClose`.
 */
export class WebSocketHandler extends Handler {
  #connection: HandlerConnection | undefined = undefined;
  #subprotocol: string | null = null;
  #topics: Map<string, TopicSubscriber[]> | undefined = undefined;

  static {
    internals = {
      connection: (handler) => handler.#connection,
      bind: (handler, connection, subprotocol) => {
        handler.#connection = connection;
        handler.#subprotocol = subprotocol;
      },
      subscriptions: (handler) => handler.#topics ?? NO_TOPICS,
    };
  }

  /**
   * Whether to accept a cross-origin upgrade. By default only an Origin whose host (and port)
   * equals the Host header, or one in the `allowedOrigins` setting, is accepted (403 otherwise);
   * requests without an Origin header (non-browser clients) never reach this check.
   */
  checkOrigin(origin: string): boolean {
    if (this.settings.allowedOrigins.includes(origin)) return true;
    let host: string;
    try {
      host = new URL(origin).host;
    } catch {
      return false;
    }
    return host !== '' && host.toLowerCase() === (this.request.headers.host ?? '').toLowerCase();
  }

  /**
   * Picks one of the subprotocols the client offered (in its order), or null for none. Called
   * exactly once, with `[]` when none were offered; returning one that was not offered is a bug
   * and answers 500. A gale.v1 client's offer arrives without its gale names (`gale.v1+chat,
   * gale.v1, chat` is `['chat']`): the server adds gale.v1 to the choice itself.
   */
  selectSubprotocol(_subprotocols: readonly string[]): string | null {
    return null;
  }

  /**
   * Permessage-deflate options for this connection, or null (the default) for no compression.
   * `{}` enables it with the `compression` setting's defaults.
   */
  getCompressionOptions(): DeflateOptions | null {
    return null;
  }

  /** The connection is open; `pathArgs` are the route's groups. May be async. */
  open(..._pathArgs: string[]): void | Promise<void> {}

  /** A message: a string for text, bytes for binary. A returned promise holds back the next. */
  onMessage(_message: string | Uint8Array): void | Promise<void> {}

  /** The connection closed (`closeCode`/`closeReason` hold what the peer sent). Exactly once. */
  onClose(): void {}

  /** A Ping arrived (the Pong was already sent). */
  onPing(_data: Uint8Array): void {}

  /** A Pong arrived. */
  onPong(_data: Uint8Array): void {}

  /**
   * Sends a message: a string as text, bytes as binary, any other object as JSON text. Returns a
   * promise that settles when the bytes are handed to the kernel (await it for flow control).
   * Throws `WebSocketClosedError` once the closing handshake has started. To a gale.v1 client it
   * goes as a direct message (not a topic's: it is not replayed after a reconnection).
   */
  writeMessage(message: string | Uint8Array | object, options: WriteOptions = {}): Promise<void> {
    const connection = this.#open();
    let data = typeof message === 'string' || message instanceof Uint8Array ? message : null;
    data ??= JSON.stringify(message);
    const binary = options.binary ?? typeof data !== 'string';
    if (connection.gale) {
      data = encodeDirectMessage(binary && typeof data === 'string' ? Buffer.from(data) : data);
    }
    return connection.send(data, binary, true);
  }

  /**
   * Starts the closing handshake with `code` and `reason` (a reason without a code means 1000);
   * the socket is destroyed if the peer has not closed within `websocketCloseTimeout`.
   */
  close(code?: number, reason?: string): void {
    this.#connection?.close(code, reason);
  }

  /** Sends a Ping (at most 125 bytes). Throws `WebSocketClosedError` once closing started. */
  ping(data: string | Uint8Array = new Uint8Array(0)): void {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    if (bytes.length > 125) throw new InvalidArgumentError('ping data must be at most 125 bytes');
    this.#open().ping(bytes);
  }

  /** Disables (true, the default here) or enables Nagle's algorithm on the socket. */
  setNodelay(value: boolean): void {
    this.#open().socket.setNoDelay?.(value);
  }

  /**
   * Subscribes this connection to `topic`. Without `listener`, every message published there
   * later is written to the socket (framed once for every subscriber). With one, `listener` is
   * called with each message instead (text as a string, bytes as a Uint8Array, an object as its
   * JSON text): to act on an event, such as closing this connection when a logout is published.
   * A listener that throws is logged and fails the connection with 1011, as `onMessage` does.
   * Every subscription ends when the connection closes.
   *
   * With a gale.v1 client whose hello named `topic`, the socket's subscription resumes: what the
   * client missed is replayed, or it is told of the gap (see {@link resumed}). Listeners never
   * resume. The returned promise (async brokers only) settles once the subscription started.
   */
  subscribe(
    topic: string,
    listener?: (message: string | Uint8Array) => void,
  ): void | Promise<void> {
    const connection = this.#open();
    let subscriber: TopicSubscriber = connection;
    if (listener !== undefined) {
      subscriber = {
        deliver: (message) => {
          try {
            listener(message);
          } catch (error) {
            connection.handlerFailed(error, `topic listener (${topic})`);
          }
        },
      };
    }
    this.#topics ??= new Map();
    const subscribers = this.#topics.get(topic);
    if (subscribers === undefined) this.#topics.set(topic, [subscriber]);
    else if (subscribers.includes(subscriber)) return;
    else subscribers.push(subscriber);
    const broker = this.application.broker;
    // A runtime that publishes natively joins the topic its own way (one broker subscriber for
    // all its sockets); unsubscribe() reaches it through forgetTopic().
    if (subscriber === connection && connection.joinTopic !== undefined) {
      return connection.joinTopic(broker, topic);
    }
    const after = subscriber === connection ? connection.takeResumePoint(topic) : undefined;
    const started =
      after === undefined
        ? broker.subscribe(topic, subscriber)
        : broker.subscribe(topic, subscriber, { after });
    if (started instanceof Promise) return started.then(() => {});
  }

  /**
   * Whether this connection's subscription to `topic` resumed: it is a gale.v1 client that had
   * the topic, and every message it missed was replayed (or it missed none). False for a fresh
   * subscription, after a gap, for a topic not subscribed to, and for plain clients: send the
   * client a snapshot of the topic's state then. Known when `subscribe()` returns with the
   * in-memory broker; with an async broker (Redis), once the promise it returned settled.
   */
  resumed(topic: string): boolean {
    const connection = this.#connection;
    if (connection === undefined || !connection.isResumed(topic)) return false;
    return this.#topics?.get(topic)?.includes(connection) ?? false;
  }

  /** Ends this connection's subscriptions to `topic`: the socket's and every listener's. */
  unsubscribe(topic: string): void | Promise<void> {
    const subscribers = this.#topics?.get(topic);
    if (subscribers === undefined) return;
    this.#topics!.delete(topic);
    this.#connection?.forgetTopic(topic);
    const broker = this.application.broker;
    const pending: Promise<void>[] = [];
    for (const subscriber of subscribers) {
      const done = broker.unsubscribe(topic, subscriber);
      if (done !== undefined) pending.push(done);
    }
    if (pending.length > 0) return Promise.all(pending).then(() => {});
  }

  /** The code of the peer's Close frame, or null if it sent none. */
  get closeCode(): number | null {
    const code = this.#connection?.closeCode;
    // 1005 (no status) and 1006 (no Close frame) mean the peer sent no code.
    return code === undefined || code === 1005 || code === 1006 ? null : code;
  }

  /** The reason of the peer's Close frame, or null if it sent none. */
  get closeReason(): string | null {
    // As Tornado: a Close frame with a code but no reason has no reason.
    if (this.closeCode === null) return null;
    return this.#connection!.closeReason || null;
  }

  /**
   * The subprotocol agreed in the handshake, or null. With a gale.v1 client, the application's
   * part of it: `'chat'` for `gale.v1+chat`, null for `gale.v1`.
   */
  get selectedSubprotocol(): string | null {
    return this.#subprotocol;
  }

  #open(): HandlerConnection {
    const connection = this.#connection;
    if (connection === undefined) throw new WebSocketClosedError('the WebSocket is not open');
    return connection;
  }
}
