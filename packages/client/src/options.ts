import type { CloseInfo } from '@gale/io';
import type { Clock } from '@gale/io/clock';
import type { ClientConnection } from './connection.js';

/** A WebSocket message: text arrives as a string, binary as bytes. */
export type Message = string | Uint8Array;

/**
 * Where a connection is in its life. `connecting` until the first handshake completes, `open`
 * while a socket is usable, `closing` during the closing handshake, `reconnecting` between a lost
 * socket and the next one (only with `reconnect`), `closed` for good.
 */
export type ConnectionState = 'connecting' | 'open' | 'closing' | 'reconnecting' | 'closed';

/**
 * How a socket ended, as given to `shouldReconnect` and the `close` event: the peer's close
 * `code` (1005 if its Close frame had none, 1006 if it sent no Close frame), its `reason`,
 * whether the closing handshake completed (`wasClean`), and why the socket failed (`error`: a
 * `HandshakeError` if the server refused it, a `ConnectionError` if the socket was lost).
 */
export type { CloseInfo } from '@gale/io';

/**
 * Opt-in reconnection. Delays follow exponential backoff with jitter: before retry `n` (0-based)
 * the cap is `min(maxDelay, minDelay * factor ** n)` and the delay is drawn uniformly from
 * `[cap * (1 - jitter), cap]`; `jitter: 1` (the default) is "full jitter".
 */
export interface ReconnectOptions {
  /** Milliseconds; the cap of the first retry. Default 250. */
  readonly minDelay?: number;
  /** Milliseconds; no delay exceeds it. Default 30,000. */
  readonly maxDelay?: number;
  /** Growth of the cap per retry. Default 2. */
  readonly factor?: number;
  /** 0 (none) … 1 (full jitter, the default). */
  readonly jitter?: number;
  /** Consecutive failed attempts before giving up (the connection then closes). Default: no limit. */
  readonly maxRetries?: number;
  /**
   * Whether to reconnect after a socket ended this way. The default reconnects after anything
   * except a handshake refused with a 4xx status other than 408 and 429 (a retry would be refused
   * again). A deliberate `close()` never reconnects.
   */
  readonly shouldReconnect?: (info: CloseInfo) => boolean;
}

/** The options of `websocketConnect()` and `createConnection()`. Times are in milliseconds. */
export interface ConnectOptions {
  /** Time allowed for each connection attempt, TCP + TLS + handshake. Default 20,000. */
  readonly connectTimeout?: number;
  /**
   * Receives every message; a returned promise holds back the next one (and, in Node, reading
   * from the socket). With it, `readMessage()` and async iteration are not available.
   */
  readonly onMessage?: (message: Message) => void | Promise<void>;
  /**
   * Subprotocols to offer, in order of preference. With `resume` they are offered joined to
   * gale.v1 (`gale.v1+chat`), then gale.v1 alone, then alone; `selectedSubprotocol` is the
   * application's part of the server's choice either way.
   */
  readonly subprotocols?: readonly string[];
  /** Node only: extra request headers (`Authorization`, `Cookie`, …). Browsers cannot set them. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Node only: the Origin header to send. */
  readonly origin?: string;
  /**
   * Node only: offer permessage-deflate (`true`, or @gale/frame's `DeflateOptions`). Browsers
   * offer it themselves.
   */
  readonly compression?: boolean | Readonly<Record<string, unknown>>;
  /** Node only: send a protocol Ping this often. Browsers cannot; see `heartbeat`. */
  readonly pingInterval?: number;
  /** Node only: no Pong within this long after a Ping → the connection is dropped. Default: the interval. */
  readonly pingTimeout?: number;
  /**
   * Application-level heartbeat, for browsers (which cannot send protocol pings): `message` is
   * sent every `interval`; if nothing at all arrives within `timeout` after it, the socket is
   * considered dead and dropped (then reconnected, with `reconnect`). The server must answer it.
   */
  readonly heartbeat?: {
    readonly interval: number;
    readonly timeout: number;
    readonly message?: Message;
  };
  /** Largest message accepted; a bigger one closes the connection with 1009. Default 10 MiB (Node). */
  readonly maxMessageSize?: number;
  /** Node only: trusted CA certificates for `wss://` (default: Node's bundled/system CAs). */
  readonly ca?: string | Uint8Array | ReadonlyArray<string | Uint8Array>;
  /** Aborts the connection attempt (rejecting with `AbortError`), or closes an open connection. */
  readonly signal?: AbortSignal;
  /** Reconnect when the socket is lost (see `ReconnectOptions`). Default false. */
  readonly reconnect?: boolean | ReconnectOptions;
  /**
   * Resume topics after a reconnection (the gale.v1 subprotocol, offered in the handshake): the
   * connection remembers the position of the last message of each topic it received, presents
   * them in a hello as its first message on every socket, and the server sends what was missed,
   * once and in order, or a `gap` event says what was lost. A server that does not speak gale.v1
   * does not select it, and the connection is a plain one. Without `reconnect` there is no second
   * socket to resume on: it only negotiates gale.v1 (and strips its envelope). Default false: turn
   * it on for a server that speaks gale.v1. Offering it to one that does not can fail: browsers
   * refuse a handshake in which subprotocols were offered and none was selected (unless the
   * application offers its own, which the server then selects), and a `ws` server without
   * `handleProtocols` selects the first one offered, gale.v1, without speaking it.
   */
  readonly resume?: boolean;
  /**
   * Called after each successful reconnection, before queued messages are sent: resubscribe
   * here. What it writes synchronously (before any `await`) goes out ahead of the queue; the
   * queue does not wait for a returned promise.
   */
  readonly onReconnect?: (connection: ClientConnection) => void | Promise<void>;
  /** Messages `readMessage()` may hold before reading pauses (Node) . Default 16. */
  readonly readQueueSize?: number;
  /** Messages held while connecting or reconnecting; beyond it writes are dropped and reported. Default 256. */
  readonly sendQueueSize?: number;
  /** Time allowed for the closing handshake before the socket is destroyed. Default 5,000. */
  readonly closeTimeout?: number;
  /**
   * Where the connection's timers come from: the connect timeout, the reconnection backoff, the
   * heartbeat, the close timeout and (Node) the pings. Tests pass a clock they step by hand. The
   * runtime's own timers by default.
   */
  readonly clock?: Clock;
}
