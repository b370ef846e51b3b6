import { Buffer } from 'node:buffer';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  CloseCode,
  type Protocol,
  type ProtocolEvent,
  type ReceiveOptions,
  State,
  WebSocketClosedError,
} from '@gale/frame';
import { settleFrameBuffer } from './buffers.js';
import { type Clock, unref } from './clock.js';
import { corkUntilImmediate, currentTurn } from './cork.js';
import { writeSettled } from './write-settled.js';

/** How a connection ended, as its delegate's `onClose` receives it. */
export interface CloseInfo {
  /** The peer's close code; 1005 if its Close frame had none, 1006 if it sent no Close frame. */
  readonly code: number;
  /** The peer's close reason ('' if none). */
  readonly reason: string;
  /** Whether the closing handshake completed (a Close frame went each way). */
  readonly wasClean: boolean;
  /** Why the connection failed, when it did not end cleanly and the reason is known. */
  readonly error?: Error | undefined;
}

/**
 * What a connection calls back into: the one boundary between the I/O layer and what sits on it
 * (a server's `WebSocketHandler`, the client's connection), as Tornado's `_WebSocketDelegate`.
 * Calls come in order, one at a time.
 */
export interface ConnectionDelegate {
  /**
   * A complete message: a string for text, bytes for binary. A returned promise holds back the
   * next message, and reading from the socket, until it settles. A throw or a rejection fails
   * the connection with 1011 (see `Connection.delegateFailed`).
   */
  onMessage(message: string | Uint8Array): void | Promise<void>;
  /** A Ping arrived; the protocol has already queued the Pong. */
  onPing(data: Uint8Array): void;
  /** A Pong arrived. */
  onPong(data: Uint8Array): void;
  /** The transport is gone, however it ended: called exactly once, after every message. */
  onClose(info: CloseInfo): void;
}

/**
 * How writes leave, per turn of the event loop:
 * - `'turn'`: everything written to a socket in one turn is corked until `setImmediate` and leaves
 *   in one `writev`, after all the reads of that turn (a server answering many sockets wakes each
 *   peer once per turn);
 * - `'burst'`: the first message of a turn goes out at once, in one write; only what follows it in
 *   the same turn is corked until `setImmediate` (a client that sends one message at a time saves
 *   a `setImmediate` per message).
 */
export type WritePolicy = 'turn' | 'burst';

/**
 * What every connection of a server (or of a client's options) shares. One object serves them
 * all: a connection keeps a reference to it, not a copy. Times are in milliseconds.
 */
export interface ConnectionSettings {
  /** Source of the close, ping and drain timers. */
  readonly clock: Clock;
  /** How long the closing handshake (and the peer's end of TCP) may take before the socket is destroyed. */
  readonly closeTimeout: number;
  /** A Ping is sent this often while open; 0 for none. */
  readonly pingInterval: number;
  /** No Pong this long after a Ping calls `Connection.pingTimedOut`. */
  readonly pingTimeout: number;
  /** See {@link WritePolicy}. */
  readonly writePolicy: WritePolicy;
  /**
   * Bytes that may wait unsent before the peer is watched as a possible slow consumer; Infinity
   * for no watch. See `Connection` for the policy.
   */
  readonly maxBufferedAmount: number;
  /** How long a watched peer may take nothing from the queue before it is dropped. */
  readonly drainTimeout: number;
  /**
   * Whether the protocol builds frames in the process's lent frame buffer
   * (`lendFrameBuffer`): the connection then hands it back after each write.
   */
  readonly lendsFrameBuffer?: boolean;
}

/** A socket as the connection needs it: a Node duplex stream, with Nagle's switch when it is TCP. */
export type ConnectionSocket = Duplex & { setNoDelay?(noDelay?: boolean): unknown };

type Queued = ProtocolEvent;

const NOOP = (): void => {};
const closedError = (cause?: Error): Error =>
  new WebSocketClosedError(undefined, cause ? { cause } : undefined);
const destroySocket = (socket: Duplex): void => {
  socket.destroy();
};
const rejectedClosed = (): Promise<never> => {
  const promise = Promise.reject(closedError());
  promise.catch(NOOP);
  return promise;
};

// Flag bits of Connection#flags: one number rather than a field each per connection.
const BUSY = 1; // the delegate is handling a message, or start() was not called yet
const TRANSPORT_GONE = 2;
const CLOSE_NOTIFIED = 4;
const FAILED_BY_DELEGATE = 8;
const PUMPING = 16; // inside #pump: what arrives meanwhile is taken by the running loop
const PAUSED = 32; // pause() was called: reading stays paused whatever the delegate does

/**
 * The I/O layer of one WebSocket: moves bytes between a socket and a `@gale/frame` Protocol and
 * events from the protocol to a {@link ConnectionDelegate}, for the server and the Node client
 * alike (python-websockets drives one `Protocol` from one connection class per runtime in the
 * same way). It owns:
 *
 * - reading: the socket's 'data' events, or bytes handed to {@link receive} (a reader over a
 *   shared buffer passes them as borrowed);
 * - the pump: `receiveData` → `eventsReceived` (until none are left, so that answers to messages
 *   leave before a Close frame that follows them) → the delegate → `dataToSend` → the socket;
 * - delegate calls in order, one at a time: an async `onMessage` pauses reading until it settles;
 * - writes, batched per turn of the event loop ({@link WritePolicy}), with promises that settle
 *   when the bytes reach the kernel (`writeSettled`);
 * - closing TCP when the protocol says so (the server first, §7.1.1), and the close timer;
 * - keepalive: a Ping every `pingInterval`, and `pingTimedOut` without a Pong;
 * - the send queue: a peer is judged by whether it drains, not by the size of one write. Past
 *   `maxBufferedAmount` unsent bytes the connection watches the peer: if it takes nothing from the
 *   queue for `drainTimeout`, it is a slow consumer and the socket is destroyed (no Close frame
 *   could get through); if the queue grows past `maxBufferedAmount` plus the protocol's
 *   `maxMessageSize`, the peer is failed with 1008 — the Close frame follows the queue if the peer
 *   has read since the watch began, else the socket is destroyed at once.
 *
 * Subclasses specialise it (the server's Tornado rules, the client's reconnection hooks) by
 * overriding {@link pingTimedOut}, {@link delegateFailed}, {@link closed},
 * {@link slowConsumer} and {@link socketError}. Every field counts: an idle server holds one
 * connection per client.
 */
export class Connection<D extends ConnectionDelegate = ConnectionDelegate> {
  readonly socket: ConnectionSocket;
  readonly protocol: Protocol;
  readonly delegate: D;
  readonly settings: ConnectionSettings;

  #flags = BUSY; // until start(): no message reaches the delegate before it is ready
  // The rest of a batch of events that a busy delegate interrupted; null when none wait.
  #queue: readonly Queued[] | null = null;
  #closeCode: number = CloseCode.ABNORMAL_CLOSURE;
  #closeReason = '';
  // Why the transport failed (a socket error, an abort), if it did; the protocol keeps its own.
  #error: Error | undefined = undefined;
  #closeTimer: unknown;
  #pingTimer: unknown;
  #pongTimer: unknown;
  #drainTimer: unknown;
  // Bytes handed to the socket so far, and how many of them had left it when the drain watch last
  // looked: the watch's measure of whether the peer reads.
  #written = 0;
  #drainMark = 0;
  // The turn of this socket's last write, for the 'burst' policy.
  #lastWriteTurn = -1;

  constructor(socket: Duplex, protocol: Protocol, delegate: D, settings: ConnectionSettings) {
    this.socket = socket;
    this.protocol = protocol;
    this.delegate = delegate;
    this.settings = settings;
    // Shared listeners that find the connection through the socket, rather than closures per
    // connection: an idle connection should cost as little memory as possible.
    (socket as SocketWithConnection)[kConnection] = this;
    socket.on('data', socketOnData);
    socket.on('end', socketOnEnd);
    socket.on('error', socketOnError);
    socket.on('close', socketOnClose);
    socket.on('drain', socketOnDrain);
  }

  /** The peer's close code: 1005 if its Close frame had none, 1006 until a Close frame arrives. */
  get closeCode(): number {
    return this.#closeCode;
  }

  /** The peer's close reason ('' if none). */
  get closeReason(): string {
    return this.#closeReason;
  }

  /** Whether the closing handshake has started (or the transport is gone): no more messages. */
  get isClosing(): boolean {
    return (
      (this.#flags & TRANSPORT_GONE) !== 0 || this.protocol.closeSent || this.protocol.closeReceived
    );
  }

  /** Whether the socket is closed. */
  get isClosed(): boolean {
    return (this.#flags & TRANSPORT_GONE) !== 0;
  }

  /** Bytes written but not yet handed to the kernel. */
  get bufferedAmount(): number {
    return this.socket.writableLength;
  }

  /**
   * Lets messages reach the delegate, starting with those in `head` (bytes that arrived with the
   * opening handshake), and starts pinging. Until then, what arrives waits in the protocol.
   */
  start(head: Uint8Array = EMPTY): void {
    if (head.length > 0) this.protocol.receiveData(head);
    this.#flags &= ~BUSY;
    this.#resumeReading();
    this.#schedulePing();
    this.#pump();
  }

  /**
   * Feeds bytes read from the socket (the 'data' listener does this by itself; a reader over a
   * shared buffer passes `{ borrowed: true }`).
   */
  receive(bytes: Uint8Array, options?: ReceiveOptions): void {
    this.protocol.receiveData(bytes, options);
    if (this.#flags & BUSY) {
      // The delegate is busy: the events wait in the protocol, and reading stops (a read's worth
      // at most waits). Pongs still go out at once.
      this.#flush(false);
      if (!(this.#flags & TRANSPORT_GONE)) this.socket.pause();
      return;
    }
    this.#pump();
  }

  /**
   * Queues a message and writes it. With `track`, returns a promise that settles when its bytes
   * reach the kernel: it rejects with `WebSocketClosedError` if they never will, and never counts
   * as unhandled. Throws `WebSocketClosedError` once the closing handshake has started.
   */
  send(data: string | Uint8Array, binary: boolean, track: true): Promise<void>;
  send(data: string | Uint8Array, binary: boolean, track: false): void;
  send(data: string | Uint8Array, binary: boolean, track: boolean): Promise<void> | void;
  send(data: string | Uint8Array, binary: boolean, track: boolean): Promise<void> | void {
    if (this.isClosing) throw new WebSocketClosedError();
    if (binary) {
      this.protocol.sendBinary(typeof data === 'string' ? Buffer.from(data) : data);
    } else {
      this.protocol.sendText(data);
    }
    return track ? this.#flush(true) : this.#flush(false);
  }

  /**
   * Writes frames built elsewhere (one set of bytes for many connections: topics). Ignored once
   * the closing handshake has started.
   */
  sendFrames(chunks: readonly Uint8Array[]): void {
    if (this.isClosing || chunks.length === 0) return;
    // What the protocol queued first (a Pong) goes first.
    this.#flush(false);
    this.#write(chunks, undefined);
    this.#checkBackpressure();
  }

  /** Sends a Ping (at most 125 bytes); throws `WebSocketClosedError` once closing started. */
  ping(data?: Uint8Array): void {
    if (this.isClosing) throw new WebSocketClosedError();
    this.protocol.sendPing(data);
    this.#flush(false);
  }

  /**
   * Starts the closing handshake (a no-op once a Close frame was sent) and arms the close timer:
   * the socket is destroyed if the peer has not closed within `closeTimeout`.
   */
  close(code?: number, reason?: string): void {
    if (this.#flags & TRANSPORT_GONE) return;
    if (!this.protocol.closeSent) {
      this.protocol.sendClose(code, reason ?? '');
      this.#flush(false);
    }
    this.#armCloseTimer();
  }

  /** Fails the connection with `code` (RFC 6455 §7.1.7): a Close frame, then TCP. */
  fail(code: number, reason?: string): void {
    if (this.#flags & TRANSPORT_GONE) return;
    this.protocol.fail(code, reason);
    this.#flush(false);
    this.#armCloseTimer();
  }

  /** Destroys the socket at once; `error`, if given, is why (it reaches `onClose`). */
  abort(error?: Error): void {
    if (this.#flags & TRANSPORT_GONE) return;
    if (error !== undefined) this.#error ??= error;
    this.socket.destroy();
  }

  /** Stops reading from the socket until {@link resume} (backpressure from the application). */
  pause(): void {
    this.#flags |= PAUSED;
    if (!(this.#flags & TRANSPORT_GONE)) this.socket.pause();
  }

  /** Resumes reading after {@link pause} (unless the delegate is busy: then when it is done). */
  resume(): void {
    this.#flags &= ~PAUSED;
    this.#resumeReading();
  }

  // --- hooks for the specialisations ---------------------------------------------------------

  /**
   * No Pong arrived within `pingTimeout` of a Ping. The default fails the connection as
   * python-websockets does: 1011 "keepalive ping timeout".
   */
  protected pingTimedOut(): void {
    this.fail(CloseCode.INTERNAL_ERROR, 'keepalive ping timeout');
  }

  /**
   * A delegate method threw or its promise rejected (`where` names it). The default keeps the
   * error for `onClose` and fails the connection with 1011; no message reaches the delegate
   * afterwards.
   */
  protected delegateFailed(error: unknown, _where: string): void {
    this.#error ??= error instanceof Error ? error : new Error(String(error));
    this.fail(CloseCode.INTERNAL_ERROR);
  }

  /** The connection is gone: tells the delegate. Called exactly once, after every message. */
  protected closed(info: CloseInfo): void {
    this.delegate.onClose(info);
  }

  /**
   * The send-queue policy is about to drop a slow consumer (see the class notes); `reason` says
   * why, for a log line.
   */
  protected slowConsumer(_reason: string): void {}

  /** Maps a socket error to the error `onClose` reports (the default keeps it as it is). */
  protected socketError(error: Error): Error {
    return error;
  }

  // --- the pump -------------------------------------------------------------------------------

  // Takes events from the protocol until none are left and hands them to the delegate, in order.
  // A busy delegate (an async onMessage) stops the loop: the rest of its batch waits in #queue,
  // later events in the protocol (which also holds back a Close frame or a failure that follows
  // them), and #resume runs the loop again.
  #pump(): void {
    if (this.#flags & (BUSY | PUMPING)) return;
    this.#flags |= PUMPING;
    for (;;) {
      let events: readonly Queued[] | null = this.#queue;
      if (events !== null) {
        this.#queue = null;
      } else {
        events = this.protocol.eventsReceived();
        // Pongs and the Close echo go out at once.
        this.#flush(false);
        if (events.length === 0) break;
      }
      const count = events.length;
      let i = 0;
      while (i < count && !(this.#flags & BUSY)) this.#handle(events[i++]!);
      if (this.#flags & BUSY) {
        if (i < count) this.#queue = events.slice(i);
        break;
      }
      if (this.protocol.isEndHeldBack) {
        // The peer closed or broke the protocol right after these messages. Answers that come a
        // few microtasks later (an async reader, a handler that awaits something already done)
        // still leave before our Close frame: go on after this turn's microtasks.
        this.#flags |= BUSY;
        setImmediate(resumeConnection, this);
        break;
      }
    }
    this.#flags &= ~PUMPING;
    if (this.#flags & BUSY) return;
    if (this.#flags & TRANSPORT_GONE) {
      this.#notifyClosed();
    } else if (this.protocol.closeExpected()) {
      this.#stopPinging();
      this.#armCloseTimer();
    }
  }

  #handle(event: Queued): void {
    switch (event.type) {
      case 'text':
      case 'binary': {
        // After a delegate error the connection is failing: nothing more reaches the delegate.
        if (this.#flags & FAILED_BY_DELEGATE) return;
        let result: void | Promise<void>;
        try {
          result = this.delegate.onMessage(event.data);
        } catch (error) {
          this.#delegateThrew(error, 'onMessage');
          return;
        }
        if (result !== undefined && typeof (result as Promise<void>).then === 'function') {
          this.#flags |= BUSY;
          if (!(this.#flags & TRANSPORT_GONE)) this.socket.pause();
          (result as Promise<void>).then(
            () => this.#resume(),
            (error: unknown) => {
              this.#delegateThrew(error, 'onMessage');
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
          this.#delegateThrew(error, 'onPing');
        }
        return;
      case 'pong':
        this.settings.clock.clearTimeout(this.#pongTimer);
        this.#pongTimer = undefined;
        try {
          this.delegate.onPong(event.data);
        } catch (error) {
          this.#delegateThrew(error, 'onPong');
        }
        return;
      case 'close':
        this.#stopPinging();
        this.#closeCode = event.code;
        this.#closeReason = event.reason;
        return;
    }
  }

  #resume(): void {
    this.#flags &= ~BUSY;
    this.#resumeReading();
    this.#pump();
  }

  #resumeReading(): void {
    if (!(this.#flags & (BUSY | PAUSED | TRANSPORT_GONE))) this.socket.resume();
  }

  #delegateThrew(error: unknown, where: string): void {
    this.#flags |= FAILED_BY_DELEGATE;
    this.delegateFailed(error, where);
  }

  // --- writing --------------------------------------------------------------------------------

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
      if (this.settings.lendsFrameBuffer) settleFrameBuffer(this.socket);
      this.#checkBackpressure();
    }
    if (
      this.protocol.shouldCloseTransport() &&
      !(this.#flags & TRANSPORT_GONE) &&
      !this.socket.writableEnded
    ) {
      this.#closeTransport();
    }
    if (track) return done ?? rejectedClosed();
  }

  #write(
    chunks: readonly Uint8Array[],
    callback: ((error?: Error | null) => void) | undefined,
  ): void {
    const socket = this.socket;
    const last = chunks.length - 1;
    let written = chunks[last]!.length;
    if (this.settings.writePolicy === 'turn') {
      corkUntilImmediate(socket);
      for (let i = 0; i < last; i++) {
        written += chunks[i]!.length;
        socket.write(chunks[i]!);
      }
      socket.write(chunks[last]!, callback);
    } else {
      // 'burst': the first message of a turn at once (its chunks corked together), the rest of
      // the turn's messages corked until setImmediate.
      const turn = currentTurn();
      const isBurst = this.#lastWriteTurn === turn;
      if (isBurst) corkUntilImmediate(socket);
      else {
        this.#lastWriteTurn = turn;
        if (last > 0) socket.cork();
      }
      for (let i = 0; i < last; i++) {
        written += chunks[i]!.length;
        socket.write(chunks[i]!);
      }
      socket.write(chunks[last]!, callback);
      if (!isBurst && last > 0) socket.uncork();
    }
    this.#written += written;
  }

  // RFC 6455 §7.1.1: once both Close frames have passed, the server closes TCP first (a client
  // after the server has, on EOF). On a plain TCP socket whose bytes are all in the kernel,
  // close() is enough, as in Tornado: the kernel sends them and then FIN, and the connection ends
  // without a shutdown() and a wait for the peer's FIN. Otherwise end() and let the peer's FIN
  // (or the close timer) finish it: bytes still queued in Node, TLS (close_notify), or a failure,
  // where the peer may still be sending and close() with unread bytes would reset the connection
  // and lose our Close frame.
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

  // --- the send-queue policy (see the class notes) --------------------------------------------

  #checkBackpressure(): void {
    const limit = this.settings.maxBufferedAmount;
    const queued = this.socket.writableLength;
    if (queued <= limit || this.#flags & TRANSPORT_GONE) return;
    if (this.#drainTimer === undefined) {
      this.#drainMark = this.#written - queued;
      this.#drainTimer = this.settings.clock.setTimeout(
        () => this.#checkDrained(),
        this.settings.drainTimeout,
      );
      unref(this.#drainTimer);
    }
    if (queued > limit + this.protocol.maxMessageSize) {
      const hasRead = this.#written - queued > this.#drainMark;
      this.#dropSlowConsumer(
        `${queued} bytes unsent, more than websocketMaxBufferedAmount plus one message`,
        hasRead,
      );
    }
  }

  #checkDrained(): void {
    this.#drainTimer = undefined;
    if (this.#flags & TRANSPORT_GONE) return;
    const queued = this.socket.writableLength;
    if (queued <= this.settings.maxBufferedAmount) return;
    const drained = this.#written - queued;
    if (drained === this.#drainMark) {
      this.#dropSlowConsumer(
        `${queued} bytes unsent and none taken for ${this.settings.drainTimeout} ms`,
        false,
      );
      return;
    }
    // It reads: keep watching while the queue stays above the limit.
    this.#drainMark = drained;
    this.#drainTimer = this.settings.clock.setTimeout(
      () => this.#checkDrained(),
      this.settings.drainTimeout,
    );
    unref(this.#drainTimer);
  }

  #stopDrainWatch(): void {
    if (this.#drainTimer === undefined) return;
    this.settings.clock.clearTimeout(this.#drainTimer);
    this.#drainTimer = undefined;
  }

  // A Close frame can still reach a peer that reads: it follows the queue (policy violation),
  // and the close timer bounds how long that may take. A peer that reads nothing would never
  // see it: drop it at once, and its queue with it.
  #dropSlowConsumer(reason: string, canCloseCleanly: boolean): void {
    this.#stopDrainWatch();
    this.#error ??= new WebSocketClosedError(`slow consumer: ${reason}`);
    this.slowConsumer(reason);
    if (canCloseCleanly && !this.protocol.closeSent) {
      this.protocol.fail(CloseCode.POLICY_VIOLATION, 'send queue full');
      const chunks = this.protocol.dataToSend();
      if (chunks.length > 0) this.#write(chunks, undefined);
      this.socket.end();
      this.#armCloseTimer();
      return;
    }
    this.socket.destroy();
  }

  // --- timers ---------------------------------------------------------------------------------

  #armCloseTimer(): void {
    if (this.#closeTimer !== undefined || this.#flags & TRANSPORT_GONE) return;
    this.#closeTimer = this.settings.clock.setTimeout(
      () => this.socket.destroy(),
      this.settings.closeTimeout,
    );
    unref(this.#closeTimer);
  }

  // A Ping every interval while open; one Pong timer at a time (any Pong clears it); none once
  // closing has started.
  #schedulePing(): void {
    const interval = this.settings.pingInterval;
    if (!(interval > 0) || this.isClosing) return;
    const clock = this.settings.clock;
    this.#pingTimer = clock.setTimeout(() => {
      this.#pingTimer = undefined;
      if (this.isClosing) return;
      this.protocol.sendPing();
      this.#flush(false);
      if (this.#pongTimer === undefined) {
        this.#pongTimer = clock.setTimeout(() => {
          this.#pongTimer = undefined;
          if (!this.isClosing) this.pingTimedOut();
        }, this.settings.pingTimeout);
        unref(this.#pongTimer);
      }
      this.#schedulePing();
    }, interval);
    unref(this.#pingTimer);
  }

  #stopPinging(): void {
    const clock = this.settings.clock;
    clock.clearTimeout(this.#pingTimer);
    clock.clearTimeout(this.#pongTimer);
    this.#pingTimer = undefined;
    this.#pongTimer = undefined;
  }

  // --- the end --------------------------------------------------------------------------------

  #transportClosed(): void {
    if (this.#flags & TRANSPORT_GONE) return;
    this.#flags |= TRANSPORT_GONE;
    this.#stopPinging();
    this.#stopDrainWatch();
    this.settings.clock.clearTimeout(this.#closeTimer);
    if (this.protocol.state !== State.CLOSED) this.protocol.receiveEof();
    // Deliver what is left (now, or when a busy delegate is done), then tell the delegate.
    this.#pump();
  }

  #notifyClosed(): void {
    if (this.#flags & CLOSE_NOTIFIED) return;
    this.#flags |= CLOSE_NOTIFIED;
    const protocol = this.protocol;
    const wasClean = protocol.closeSent && protocol.closeReceived;
    const error = wasClean ? undefined : (this.#error ?? protocol.error ?? undefined);
    this.closed({
      code: this.#closeCode,
      reason: this.#closeReason,
      wasClean,
      ...(error === undefined ? {} : { error }),
    });
  }

  /** @internal */
  static resume(connection: Connection): void {
    connection.#resume();
  }

  /** @internal */
  static onSocketData(connection: Connection, chunk: Uint8Array): void {
    connection.receive(chunk);
  }

  /** @internal */
  static onSocketEnd(connection: Connection): void {
    connection.protocol.receiveEof();
    if (connection.#flags & BUSY) {
      connection.#flush(false);
      return;
    }
    connection.#pump();
  }

  /** @internal */
  static onSocketError(connection: Connection, error: Error): void {
    // 'close' follows. A failure the protocol already diagnosed stays the reason.
    if (connection.#error === undefined && connection.protocol.error === null) {
      connection.#error = connection.socketError(error);
    }
  }

  /** @internal */
  static onSocketClose(connection: Connection): void {
    connection.#transportClosed();
  }

  /** @internal */
  static onSocketDrain(connection: Connection): void {
    connection.#stopDrainWatch();
  }
}

const EMPTY = new Uint8Array(0);
const kConnection = Symbol('gale.connection');
type SocketWithConnection = Duplex & { [kConnection]: Connection };

function resumeConnection(connection: Connection): void {
  Connection.resume(connection);
}

function socketOnData(this: SocketWithConnection, chunk: Buffer): void {
  Connection.onSocketData(this[kConnection], chunk);
}

function socketOnEnd(this: SocketWithConnection): void {
  Connection.onSocketEnd(this[kConnection]);
}

function socketOnError(this: SocketWithConnection, error: Error): void {
  Connection.onSocketError(this[kConnection], error);
}

function socketOnClose(this: SocketWithConnection): void {
  Connection.onSocketClose(this[kConnection]);
}

function socketOnDrain(this: SocketWithConnection): void {
  Connection.onSocketDrain(this[kConnection]);
}
