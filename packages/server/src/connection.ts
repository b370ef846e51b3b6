import type { Duplex } from 'node:stream';
import { CloseCode, type Protocol, type ProtocolEvent, State } from '@gale/frame';
import { WebSocketClosedError } from './errors.js';
import type { ResolvedSettings } from './settings.js';

/**
 * What a connection calls back into: the handler side of the boundary (Tornado's
 * `_WebSocketDelegate`). Each method may be async where noted; the connection keeps order.
 */
export interface ConnectionDelegate {
  /** A complete message. A returned promise holds back the next message until it settles. */
  onMessage(message: string | Uint8Array): void | Promise<void>;
  onPing(data: Uint8Array): void;
  onPong(data: Uint8Array): void;
  /** The connection is gone, however it ended. Called exactly once, after every queued message. */
  onConnectionClose(code: number | null, reason: string | null): void;
  /** A delegate method threw or rejected: log it; the connection fails with 1011. */
  logException(error: unknown, where: string): void;
}

/** Something topics can write a pre-framed message to (see `topics.ts`). */
export interface TopicSubscriber {
  /** Writes frame bytes built once for every subscriber. Ignored once the connection is closing. */
  sendFrame(chunks: readonly Uint8Array[]): void;
}

const NOOP = (): void => {};
type Queued = ProtocolEvent | { readonly type: 'transport-closed' };

/**
 * The I/O adapter for one WebSocket: moves bytes between a socket and a `@gale/frame` Protocol,
 * keeps handler calls in order, batches writes per tick, enforces the send-buffer limit, and runs
 * the ping and close timers. Handlers never see it; `WebSocketHandler` drives it.
 */
export class WebSocketConnection implements TopicSubscriber {
  readonly socket: Duplex & { setNoDelay?(noDelay?: boolean): unknown };
  readonly protocol: Protocol;
  readonly #delegate: ConnectionDelegate;
  readonly #settings: ResolvedSettings;

  readonly #queue: Queued[] = [];
  #queueHead = 0;
  #busy = true; // until start(): no message runs before open() resolved
  #corked = false;
  #transportClosed = false;
  #closeNotified = false;
  #failedByHandler = false;
  #closeCode: number | null = null;
  #closeReason: string | null = null;
  #closeTimer: NodeJS.Timeout | undefined;
  #pingTimer: NodeJS.Timeout | undefined;
  #pongTimer: NodeJS.Timeout | undefined;

  constructor(
    socket: Duplex,
    protocol: Protocol,
    delegate: ConnectionDelegate,
    settings: ResolvedSettings,
  ) {
    this.socket = socket;
    this.protocol = protocol;
    this.#delegate = delegate;
    this.#settings = settings;
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
    return this.#transportClosed || this.protocol.closeSent || this.protocol.closeReceived;
  }

  /** Lets queued and future messages reach the delegate (call when `open()` has resolved). */
  start(head: Uint8Array): void {
    if (head.length > 0) this.#receive(head);
    this.#busy = false;
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
    if (this.#transportClosed) return;
    if (!this.protocol.closeSent) {
      this.protocol.sendClose(code, reason ?? '');
      this.#flush(false);
    }
    this.#armCloseTimer();
  }

  /** Fails the connection with `code` (1011 for a handler error): close frame, then TCP. */
  fail(code: number): void {
    if (this.#transportClosed) return;
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
    for (const event of events) this.#queue.push(event);
    // Pongs and the Close echo go out at once, whatever the handler is doing.
    this.#flush(false);
    this.#drain();
  }

  // Runs queued events through the delegate, one at a time; an async onMessage pauses reading
  // until it settles, so the queue never holds more than one read's worth of messages.
  #drain(): void {
    while (!this.#busy && this.#queueHead < this.#queue.length) {
      const event = this.#queue[this.#queueHead++]!;
      if (this.#queueHead === this.#queue.length) {
        this.#queue.length = 0;
        this.#queueHead = 0;
      }
      switch (event.type) {
        case 'text':
        case 'binary': {
          // After a handler error the connection is failing: nothing more reaches the handler.
          if (this.#failedByHandler) continue;
          let result: void | Promise<void>;
          try {
            result = this.#delegate.onMessage(event.data);
          } catch (error) {
            this.#handlerFailed(error, 'onMessage');
            continue;
          }
          if (result !== undefined && typeof (result as Promise<void>).then === 'function') {
            this.#busy = true;
            this.socket.pause();
            (result as Promise<void>).then(
              () => this.#resume(),
              (error: unknown) => {
                this.#handlerFailed(error, 'onMessage');
                this.#resume();
              },
            );
          }
          break;
        }
        case 'ping':
          this.#call(() => this.#delegate.onPing(event.data), 'onPing');
          break;
        case 'pong':
          this.#receivedPong();
          this.#call(() => this.#delegate.onPong(event.data), 'onPong');
          break;
        case 'close':
          this.#stopPinging();
          // 1005 (no status) and 1006 (no Close frame) mean the peer sent no code.
          if (
            event.code !== CloseCode.NO_STATUS_RCVD &&
            event.code !== CloseCode.ABNORMAL_CLOSURE
          ) {
            this.#closeCode = event.code;
            // As Tornado: a Close frame with a code but no reason has no reason.
            this.#closeReason = event.reason === '' ? null : event.reason;
          }
          break;
        case 'transport-closed':
          this.#notifyClose();
          break;
      }
    }
  }

  #resume(): void {
    this.#busy = false;
    if (!this.#transportClosed) this.socket.resume();
    this.#drain();
  }

  #call(fn: () => void, where: string): void {
    try {
      fn();
    } catch (error) {
      this.#handlerFailed(error, where);
    }
  }

  #handlerFailed(error: unknown, where: string): void {
    this.#failedByHandler = true;
    this.#delegate.logException(error, where);
    this.fail(CloseCode.INTERNAL_ERROR);
  }

  // Writes what the protocol queued. With `track`, returns a promise for the last chunk reaching
  // the kernel; it never rejects unhandled (a caller that ignores it must not crash the process).
  #flush(track: true): Promise<void>;
  #flush(track: false): void;
  #flush(track: boolean): Promise<void> | void {
    const chunks = this.protocol.dataToSend();
    let done: Promise<void> | undefined;
    if (chunks.length > 0 && !this.#transportClosed) {
      if (track) {
        done = new Promise<void>((resolve, reject) => {
          this.#write(chunks, (error) =>
            error ? reject(new WebSocketClosedError(undefined, { cause: error })) : resolve(),
          );
        });
        done.catch(NOOP);
      } else {
        this.#write(chunks, undefined);
      }
      this.#checkBackpressure();
    }
    if (
      this.protocol.shouldCloseTransport() &&
      !this.#transportClosed &&
      !this.socket.writableEnded
    ) {
      this.socket.end();
      this.#armCloseTimer();
    }
    if (track) return done ?? Promise.resolve();
  }

  // All writes of one tick leave in one writev: cork on the first, uncork on the next tick.
  #write(
    chunks: readonly Uint8Array[],
    callback: ((error?: Error | null) => void) | undefined,
  ): void {
    const socket = this.socket;
    if (!this.#corked) {
      this.#corked = true;
      socket.cork();
      process.nextTick(uncork, this);
    }
    const last = chunks.length - 1;
    for (let i = 0; i < last; i++) socket.write(chunks[i]);
    socket.write(chunks[last], callback);
  }

  /** @internal */
  uncork(): void {
    this.#corked = false;
    this.socket.uncork();
  }

  // A peer that does not read makes the send buffer grow: past the limit it is closed with 1008
  // and its buffered bytes are dropped, so server memory stays bounded.
  #checkBackpressure(): void {
    if (this.socket.writableLength <= this.#settings.websocketMaxBufferedAmount) return;
    if (this.#transportClosed) return;
    this.#settings.logger.warn(
      `closing a slow consumer: ${this.socket.writableLength} bytes unsent (websocketMaxBufferedAmount)`,
    );
    if (!this.protocol.closeSent) {
      this.protocol.fail(CloseCode.POLICY_VIOLATION, 'send buffer full');
      this.protocol.dataToSend(); // it could not be delivered behind the backlog anyway
    }
    this.socket.destroy();
  }

  #armCloseTimer(): void {
    if (this.#closeTimer !== undefined || this.#transportClosed) return;
    this.#closeTimer = setTimeout(
      () => this.socket.destroy(),
      this.#settings.websocketCloseTimeout * 1000,
    );
    this.#closeTimer.unref();
  }

  // Tornado 6.5: a ping every interval; no pong within the timeout closes with 1000 "ping timed
  // out"; no pings once closing has started.
  #startPinging(): void {
    const interval = this.#settings.websocketPingInterval;
    if (!(interval > 0)) return;
    this.#pingTimer = setTimeout(() => {
      if (this.isClosing) return;
      this.protocol.sendPing();
      this.#flush(false);
      this.#pongTimer = setTimeout(() => {
        if (!this.isClosing) this.close(CloseCode.NORMAL_CLOSURE, 'ping timed out');
      }, this.#settings.websocketPingTimeout * 1000);
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
    this.#transportClosed = true;
    this.#stopPinging();
    clearTimeout(this.#closeTimer);
    if (this.protocol.state !== State.CLOSED) {
      this.protocol.receiveEof();
      for (const event of this.protocol.eventsReceived()) this.#queue.push(event);
    }
    this.#queue.push({ type: 'transport-closed' });
    this.#drain();
  }

  #notifyClose(): void {
    if (this.#closeNotified) return;
    this.#closeNotified = true;
    try {
      this.#delegate.onConnectionClose(this.#closeCode, this.#closeReason);
    } catch (error) {
      this.#delegate.logException(error, 'onClose');
    }
  }
}

function uncork(connection: WebSocketConnection): void {
  connection.uncork();
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
