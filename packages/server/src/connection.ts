import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  CloseCode,
  corkUntilImmediate,
  type Protocol,
  type ProtocolEvent,
  State,
  writeSettled,
} from '@gale/frame';
import { WebSocketClosedError } from './errors.js';
import type { ResolvedSettings } from './settings.js';

/**
 * What a connection calls back into for its own events: the handler (Tornado's
 * `_WebSocketDelegate`). A returned promise holds back the next message until it settles.
 */
export interface ConnectionDelegate {
  onMessage(message: string | Uint8Array): void | Promise<void>;
  onPing(data: Uint8Array): void;
  onPong(data: Uint8Array): void;
}

/** What every connection of an application shares: settings and the application's callbacks. */
export interface ConnectionHost<D extends ConnectionDelegate = ConnectionDelegate> {
  readonly settings: ResolvedSettings;
  /** The connection is gone, however it ended. Called exactly once, after every queued message. */
  connectionClosed(delegate: D): void;
  /** A delegate method threw or rejected: log it; the connection fails with 1011. */
  logException(delegate: D, error: unknown, where: string): void;
}

/** Something topics can write a pre-framed message to (see `topics.ts`). */
export interface TopicSubscriber {
  /** Writes frame bytes built once for every subscriber. Ignored once the connection is closing. */
  sendFrame(chunks: readonly Uint8Array[]): void;
}

const NOOP = (): void => {};
const closedError = (cause?: Error): Error =>
  new WebSocketClosedError(undefined, cause ? { cause } : undefined);
const destroySocket = (socket: Duplex): void => {
  socket.destroy();
};
type Queued = ProtocolEvent | { readonly type: 'transport-closed' };
const TRANSPORT_CLOSED: Queued = { type: 'transport-closed' };

// Flag bits of WebSocketConnection#flags: one number rather than a field each per connection.
const BUSY = 1; // a message is being handled (or open() has not resolved): queue the rest
const TRANSPORT_GONE = 2;
const CLOSE_NOTIFIED = 4;
const FAILED_BY_HANDLER = 8;
const DISPATCHING = 16; // inside #dispatch: what arrives meanwhile waits its turn in #queue

/**
 * The I/O adapter for one WebSocket: moves bytes between a socket and a `@gale/frame` Protocol,
 * keeps handler calls in order, batches writes per turn of the event loop, enforces the
 * send-buffer limit, and runs the ping and close timers. Handlers never see it;
 * `WebSocketHandler` drives it. Every field counts: an idle server holds one per connection.
 */
export class WebSocketConnection<D extends ConnectionDelegate = ConnectionDelegate>
  implements TopicSubscriber
{
  readonly socket: Duplex & { setNoDelay?(noDelay?: boolean): unknown };
  readonly protocol: Protocol;
  readonly delegate: D;
  readonly #host: ConnectionHost<D>;

  // Events waiting for the delegate (while it is busy); null when none wait.
  #queue: Queued[] | null = null;
  #flags = BUSY; // until start(): no message runs before open() resolved
  #closeCode: number | null = null;
  #closeReason: string | null = null;
  #closeTimer: NodeJS.Timeout | undefined = undefined;
  #pingTimer: NodeJS.Timeout | undefined = undefined;
  #pongTimer: NodeJS.Timeout | undefined = undefined;

  constructor(socket: Duplex, protocol: Protocol, delegate: D, host: ConnectionHost<D>) {
    this.socket = socket;
    this.protocol = protocol;
    this.delegate = delegate;
    this.#host = host;
    // Shared listeners that find the connection through the socket, rather than closures per
    // connection: an idle connection should cost as little memory as possible.
    (socket as SocketWithConnection)[kConnection] = this;
    socket.on('data', socketOnData);
    socket.on('end', socketOnEnd);
    socket.on('error', NOOP); // 'close' follows; the error itself is the peer's business.
    socket.on('close', socketOnClose);
    socket.on('drain', socketOnDrain);
  }

  /** The code of the peer's Close frame, or null if it sent none. */
  get closeCode(): number | null {
    return this.#closeCode;
  }

  /** The reason of the peer's Close frame, or null if it sent none. */
  get closeReason(): string | null {
    return this.#closeReason;
  }

  /** Whether the closing handshake has started (or the transport is gone): no more writes. */
  get isClosing(): boolean {
    return (
      (this.#flags & TRANSPORT_GONE) !== 0 || this.protocol.closeSent || this.protocol.closeReceived
    );
  }

  /** Lets queued and future messages reach the delegate (call when `open()` has resolved). */
  start(head: Uint8Array): void {
    if (head.length > 0) this.#receive(head);
    this.#flags &= ~BUSY;
    this.#startPinging();
    this.#drain();
  }

  /**
   * Queues a message and returns a promise that settles when its bytes reach the kernel. Throws
   * `WebSocketClosedError` once the closing handshake started.
   */
  send(data: string | Uint8Array, binary: boolean): Promise<void> {
    if (this.isClosing) throw new WebSocketClosedError();
    if (binary) {
      this.protocol.sendBinary(typeof data === 'string' ? Buffer.from(data) : data);
    } else {
      this.protocol.sendText(data);
    }
    return this.#flush(true);
  }

  sendFrame(chunks: readonly Uint8Array[]): void {
    if (this.isClosing) return;
    this.#write(chunks, undefined);
    this.#checkBackpressure();
  }

  /** Sends a Ping; throws `WebSocketClosedError` once closing started. */
  ping(data: Uint8Array): void {
    if (this.isClosing) throw new WebSocketClosedError();
    this.protocol.sendPing(data);
    this.#flush(false);
  }

  /**
   * Starts the closing handshake (a no-op if it started already) and destroys the socket if the
   * peer has not closed within `websocketCloseTimeout`.
   */
  close(code?: number, reason?: string): void {
    if (this.#flags & TRANSPORT_GONE) return;
    if (!this.protocol.closeSent) {
      this.protocol.sendClose(code, reason ?? '');
      this.#flush(false);
    }
    this.#armCloseTimer();
  }

  /** Fails the connection with `code` (1011 for a handler error): close frame, then TCP. */
  fail(code: number): void {
    if (this.#flags & TRANSPORT_GONE) return;
    this.protocol.fail(code);
    this.#flush(false);
    this.#armCloseTimer();
  }

  /** Destroys the socket at once. */
  abort(): void {
    this.socket.destroy();
  }

  /** @internal */
  static onSocketData(connection: WebSocketConnection, chunk: Uint8Array): void {
    connection.#receive(chunk);
  }

  /** @internal */
  static onSocketEnd(connection: WebSocketConnection): void {
    connection.protocol.receiveEof();
    connection.#afterReceive();
  }

  /** @internal */
  static onSocketClose(connection: WebSocketConnection): void {
    connection.#onTransportClose();
  }

  /** @internal */
  static onSocketDrain(connection: WebSocketConnection): void {
    connection.#checkBackpressure();
  }

  #receive(chunk: Uint8Array): void {
    this.protocol.receiveData(chunk);
    this.#afterReceive();
  }

  #afterReceive(): void {
    const events = this.protocol.eventsReceived();
    // Pongs and the Close echo go out at once, whatever the handler is doing.
    this.#flush(false);
    if (events.length === 0) return;
    if (this.#queue === null && !(this.#flags & (BUSY | DISPATCHING))) {
      this.#dispatch(events);
    } else {
      this.#queue ??= [];
      for (const event of events) this.#queue.push(event);
      this.#drain();
    }
  }

  // Hands events to the delegate in order until one makes it busy (an async onMessage); the rest
  // wait in #queue. Reading pauses while it is busy, so the queue never holds more than one
  // read's worth of events.
  #dispatch(events: readonly Queued[]): void {
    this.#flags |= DISPATCHING;
    let i = 0;
    while (i < events.length && !(this.#flags & BUSY)) this.#handle(events[i++]!);
    this.#flags &= ~DISPATCHING;
    if (i < events.length) {
      // Busy: the rest go ahead of anything that arrived while they were being handled.
      const rest = events.slice(i);
      if (this.#queue !== null) for (const event of this.#queue) rest.push(event);
      this.#queue = rest;
      return;
    }
    this.#drain();
  }

  // Runs what waited while the delegate was busy or an earlier batch was being handled.
  #drain(): void {
    const queue = this.#queue;
    if (queue === null || this.#flags & (BUSY | DISPATCHING)) return;
    this.#queue = null;
    this.#dispatch(queue);
  }

  #handle(event: Queued): void {
    switch (event.type) {
      case 'text':
      case 'binary': {
        // After a handler error the connection is failing: nothing more reaches the handler.
        if (this.#flags & FAILED_BY_HANDLER) return;
        let result: void | Promise<void>;
        try {
          result = this.delegate.onMessage(event.data);
        } catch (error) {
          this.#handlerFailed(error, 'onMessage');
          return;
        }
        if (result !== undefined && typeof (result as Promise<void>).then === 'function') {
          this.#flags |= BUSY;
          this.socket.pause();
          (result as Promise<void>).then(
            () => this.#resume(),
            (error: unknown) => {
              this.#handlerFailed(error, 'onMessage');
              this.#resume();
            },
          );
        }
        return;
      }
      case 'ping':
        try {
          this.delegate.onPing(event.data);
        } catch (error) {
          this.#handlerFailed(error, 'onPing');
        }
        return;
      case 'pong':
        this.#receivedPong();
        try {
          this.delegate.onPong(event.data);
        } catch (error) {
          this.#handlerFailed(error, 'onPong');
        }
        return;
      case 'close':
        this.#stopPinging();
        // 1005 (no status) and 1006 (no Close frame) mean the peer sent no code.
        if (event.code !== CloseCode.NO_STATUS_RCVD && event.code !== CloseCode.ABNORMAL_CLOSURE) {
          this.#closeCode = event.code;
          // As Tornado: a Close frame with a code but no reason has no reason.
          this.#closeReason = event.reason === '' ? null : event.reason;
        }
        return;
      case 'transport-closed':
        this.#notifyClose();
        return;
    }
  }

  #resume(): void {
    this.#flags &= ~BUSY;
    if (!(this.#flags & TRANSPORT_GONE)) this.socket.resume();
    this.#drain();
  }

  #handlerFailed(error: unknown, where: string): void {
    this.#flags |= FAILED_BY_HANDLER;
    this.#host.logException(this.delegate, error, where);
    this.fail(CloseCode.INTERNAL_ERROR);
  }

  // Writes what the protocol queued. With `track`, returns a promise for the last chunk reaching
  // the kernel; it never rejects unhandled (a caller that ignores it must not crash the process).
  #flush(track: true): Promise<void>;
  #flush(track: false): void;
  #flush(track: boolean): Promise<void> | void {
    const chunks = this.protocol.dataToSend();
    let done: Promise<void> | undefined;
    if (chunks.length > 0 && !(this.#flags & TRANSPORT_GONE)) {
      if (track) {
        done = writeSettled(this.socket, (callback) => this.#write(chunks, callback), closedError);
      } else {
        this.#write(chunks, undefined);
      }
      this.#checkBackpressure();
    }
    if (
      this.protocol.shouldCloseTransport() &&
      !(this.#flags & TRANSPORT_GONE) &&
      !this.socket.writableEnded
    ) {
      this.#closeTransport();
    }
    if (track) return done ?? Promise.resolve();
  }

  // RFC 6455 §7.1.1: once both Close frames have passed, the server closes TCP first. On a plain
  // TCP socket whose bytes are all in the kernel, close() is enough, as in Tornado: the kernel
  // sends them and then FIN, and the connection ends without a shutdown() and a wait for the
  // peer's FIN. Otherwise end() and let the peer's FIN (or the close timer) finish it: bytes still
  // queued in Node, TLS (close_notify), or a failure, where the peer may still be sending and
  // close() with unread bytes would reset the connection and lose our Close frame.
  #closeTransport(): void {
    const socket = this.socket;
    const protocol = this.protocol;
    if (
      protocol.closeReceived &&
      protocol.closeSent &&
      protocol.error === null &&
      socket instanceof Socket &&
      !(socket as Socket & { encrypted?: boolean }).encrypted
    ) {
      while (socket.writableCorked > 0) socket.uncork();
      if (socket.writableLength === 0) {
        // After the callbacks of the writes that just completed (queued before this tick), so
        // that writeMessage promises see them delivered (writeSettled).
        process.nextTick(destroySocket, socket);
        return;
      }
    }
    socket.end();
    this.#armCloseTimer();
  }

  // Everything written in one turn of the event loop leaves in one writev, after the turn's reads
  // (corkUntilImmediate): on a busy server, fewer wake-ups of the peers than a write per reply.
  #write(
    chunks: readonly Uint8Array[],
    callback: ((error?: Error | null) => void) | undefined,
  ): void {
    const socket = this.socket;
    corkUntilImmediate(socket);
    const last = chunks.length - 1;
    for (let i = 0; i < last; i++) socket.write(chunks[i]);
    socket.write(chunks[last], callback);
  }

  // A peer that does not read makes the send buffer grow: past the limit it is closed with 1008
  // and its buffered bytes are dropped, so server memory stays bounded.
  #checkBackpressure(): void {
    if (this.socket.writableLength <= this.#host.settings.websocketMaxBufferedAmount) return;
    if (this.#flags & TRANSPORT_GONE) return;
    this.#host.settings.logger.warn(
      `closing a slow consumer: ${this.socket.writableLength} bytes unsent (websocketMaxBufferedAmount)`,
    );
    if (!this.protocol.closeSent) {
      this.protocol.fail(CloseCode.POLICY_VIOLATION, 'send buffer full');
      this.protocol.dataToSend(); // it could not be delivered behind the backlog anyway
    }
    this.socket.destroy();
  }

  #armCloseTimer(): void {
    if (this.#closeTimer !== undefined || this.#flags & TRANSPORT_GONE) return;
    this.#closeTimer = setTimeout(
      () => this.socket.destroy(),
      this.#host.settings.websocketCloseTimeout * 1000,
    );
    this.#closeTimer.unref();
  }

  // Tornado 6.5: a ping every interval; no pong within the timeout closes with 1000 "ping timed
  // out"; no pings once closing has started.
  #startPinging(): void {
    const interval = this.#host.settings.websocketPingInterval;
    if (!(interval > 0)) return;
    this.#pingTimer = setTimeout(() => {
      if (this.isClosing) return;
      this.protocol.sendPing();
      this.#flush(false);
      this.#pongTimer = setTimeout(() => {
        if (!this.isClosing) this.close(CloseCode.NORMAL_CLOSURE, 'ping timed out');
      }, this.#host.settings.websocketPingTimeout * 1000);
      this.#pongTimer.unref();
      this.#startPinging();
    }, interval * 1000);
    this.#pingTimer.unref();
  }

  #receivedPong(): void {
    clearTimeout(this.#pongTimer);
    this.#pongTimer = undefined;
  }

  #stopPinging(): void {
    clearTimeout(this.#pingTimer);
    clearTimeout(this.#pongTimer);
  }

  #onTransportClose(): void {
    this.#flags |= TRANSPORT_GONE;
    this.#stopPinging();
    clearTimeout(this.#closeTimer);
    this.#queue ??= [];
    if (this.protocol.state !== State.CLOSED) {
      this.protocol.receiveEof();
      for (const event of this.protocol.eventsReceived()) this.#queue.push(event);
    }
    this.#queue.push(TRANSPORT_CLOSED);
    this.#drain();
  }

  #notifyClose(): void {
    if (this.#flags & CLOSE_NOTIFIED) return;
    this.#flags |= CLOSE_NOTIFIED;
    try {
      this.#host.connectionClosed(this.delegate);
    } catch (error) {
      this.#host.logException(this.delegate, error, 'onClose');
    }
  }
}

const kConnection = Symbol('gale.connection');
type SocketWithConnection = Duplex & { [kConnection]: WebSocketConnection };

function socketOnData(this: SocketWithConnection, chunk: Buffer): void {
  WebSocketConnection.onSocketData(this[kConnection], chunk);
}

function socketOnEnd(this: SocketWithConnection): void {
  WebSocketConnection.onSocketEnd(this[kConnection]);
}

function socketOnClose(this: SocketWithConnection): void {
  WebSocketConnection.onSocketClose(this[kConnection]);
}

function socketOnDrain(this: SocketWithConnection): void {
  WebSocketConnection.onSocketDrain(this[kConnection]);
}
