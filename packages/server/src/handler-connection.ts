import type { Broker, Position, TopicSubscriber } from './topics.js';

/**
 * What a `WebSocketHandler` (and the `Application` that serves it) needs of the connection behind
 * it: the seam between the handler framework and a runtime's WebSocket. On Node it is
 * `WebSocketConnection` (@gale/io's `Connection` over a node:http socket); on Bun, `BunConnection`
 * (Bun's native `ServerWebSocket`, `@gale/server/bun`). Each runtime has one class behind it, so
 * calls through it stay monomorphic: the Node hot path does not pay for the seam.
 *
 * As a `TopicSubscriber` it receives the messages of the topics the handler subscribed to.
 */
export interface HandlerConnection extends TopicSubscriber {
  /** Whether the handshake selected gale.v1 (Gale's resume subprotocol). */
  readonly gale: boolean;
  /** Whether the handler's `open()` was called (a gale.v1 connection calls it after the hello). */
  readonly handlerOpened: boolean;
  /** The code of the peer's Close frame: 1005 when it had none, 1006 without a Close frame. */
  readonly closeCode: number;
  /** The reason of the peer's Close frame ('' without one). */
  readonly closeReason: string;
  /**
   * The transport, as far as the application looks at it: whether it is gone, its `'close'`
   * event (graceful shutdown waits for it) and, on TCP sockets, Nagle's algorithm.
   */
  readonly socket: ConnectionTransport;
  /**
   * Sends a message; with `track`, returns a promise that settles once the bytes left the
   * process's queue. Throws `WebSocketClosedError` once the closing handshake has started.
   */
  send(data: string | Uint8Array, binary: boolean, track: true): Promise<void>;
  send(data: string | Uint8Array, binary: boolean, track: boolean): Promise<void> | void;
  /** Sends a Ping; throws `WebSocketClosedError` once closing started. */
  ping(data?: Uint8Array): void;
  /** Starts the closing handshake, bounded by the close timeout. */
  close(code?: number, reason?: string): void;
  /** Drops the transport at once. */
  abort(error?: Error): void;
  /** A handler callback outside the message loop threw (a topic listener): as `onMessage` would. */
  handlerFailed(error: unknown, where: string): void;
  /** gale.v1: the position the hello presented for `topic`, taken once. */
  takeResumePoint(topic: string): Position | undefined;
  /** gale.v1: whether the subscription to `topic` started with status 'resumed'. */
  isResumed(topic: string): boolean;
  /** The handler's subscription to `topic` ended. */
  forgetTopic(topic: string): void;
  /**
   * Optional: subscribes the socket to `topic` the runtime's way instead of as a subscriber of
   * `broker` of its own (Bun: the socket joins a native topic, and one broker subscriber per topic
   * publishes to all of them at once). `forgetTopic` then ends it, as does the connection's end.
   */
  joinTopic?(broker: Broker, topic: string): void | Promise<void>;
}

/** The part of a connection's transport the application uses (a node:net socket satisfies it). */
export interface ConnectionTransport {
  readonly destroyed: boolean;
  once(event: 'close', listener: () => void): unknown;
  setNoDelay?(noDelay?: boolean): unknown;
}
