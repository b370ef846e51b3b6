import { type Control, encodeControl, encodeTopicMessage } from '@gale/frame/resume';
import type { CloseInfo } from '@gale/io';
import { unref } from '@gale/io/clock';
import { type ConnectionHost, HELLO_TIMEOUT } from '../connection.js';
import { WebSocketClosedError } from '../errors.js';
import type { ConnectionTransport, HandlerConnection } from '../handler-connection.js';
import { positionControl, ResumePoints } from '../resume-points.js';
import type { Broker, Delivery, Position, SubscriptionStart } from '../topics.js';
import type { WebSocketHandler } from '../websocket-handler.js';
import type { BunServer, BunServerWebSocket } from './bun-api.js';
import { BunTopic, type BunTopicMember } from './bun-topic.js';

/** What the connections of one Bun server share. */
export interface BunServerState {
  readonly server: BunServer;
  readonly host: ConnectionHost<WebSocketHandler>;
  /** The topics the server's plain sockets joined, each one broker subscriber. */
  readonly topics: Map<string, BunTopic>;
  /** The last topic message put in its gale.v1 envelope, shared by the gale sockets. */
  lastDelivery: Delivery | undefined;
  lastEnvelope: string | Uint8Array | undefined;
}

/** What a socket of the adapter carries in Bun's `ws.data`. */
export interface BunSocketData {
  readonly handler: WebSocketHandler;
  readonly args: readonly string[];
  /** The subprotocol the handler selected, or null (with gale.v1, the application's part). */
  readonly subprotocol: string | null;
  /** Whether the handshake selected gale.v1. */
  readonly gale: boolean;
  /** Whether this connection's messages are compressed (the handler asked, the client agreed). */
  readonly compress: boolean;
  /** Messages shorter than this (in UTF-16 units or bytes) go uncompressed. */
  readonly threshold: number;
  connection: BunConnection | undefined;
}

const MESSAGE = 0;
const PING = 1;
const PONG = 2;
type EventKind = typeof MESSAGE | typeof PING | typeof PONG;
const WHERE = ['onMessage', 'onPing', 'onPong'] as const;

// Where a gale.v1 connection is with its hello (a plain one is OPEN from the start).
const AWAITING_HELLO = 0;
const OPENING = 1;
const OPEN = 2;
const FAILED = 3;
type HelloState = typeof AWAITING_HELLO | typeof OPENING | typeof OPEN | typeof FAILED;

const NOOP = (): void => {};

/** A tracked write waiting for Bun's buffer to pass `mark` bytes. */
interface Waiting {
  readonly mark: number;
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: Error) => void;
}
const SETTLED: Promise<void> = Promise.resolve();
const decoder = new TextDecoder();

/**
 * A Gale connection on Bun's native WebSocket (`Bun.serve`'s `websocket`, uWebSockets): the
 * `HandlerConnection` a `WebSocketHandler` drives, with the rules @gale/io's `Connection` keeps on
 * Node. Bun parses frames, answers Pings and runs the closing handshake; this class keeps Gale's
 * semantics on top:
 *
 * - one handler call at a time: a message (or Ping/Pong) that arrives while `open()` or an async
 *   `onMessage` is pending waits in a queue (Bun cannot pause reading a socket, so the queue is in
 *   memory) and `onClose` follows the last queued message, exactly once;
 * - a handler exception is logged and fails the connection with 1011;
 * - `send(…, true)` settles once Bun's send buffer has passed the message (on `drain`), and
 *   rejects with `WebSocketClosedError` if the connection ends first;
 * - the send-queue policy: past `websocketMaxBufferedAmount` the peer is watched, dropped after
 *   `websocketDrainTimeout` without taking anything, and failed with 1008 past that limit plus
 *   one message;
 * - keepalive (`websocketPingInterval`/`websocketPingTimeout`, 1000 "ping timed out") and the
 *   close timer run on the application's clock;
 * - topics: a plain socket joins the topic natively (`ws.subscribe`), and a message reaches every
 *   such socket of a server with one native publish (framed once, by Bun; see `BunTopic`);
 * - gale.v1: `open()` waits for the client's hello (1002 without one within `HELLO_TIMEOUT`), the
 *   socket subscribes to the broker itself from the position the hello presented, and topic
 *   messages go in their envelope with position and gap controls, as `WebSocketConnection` does.
 */
export class BunConnection implements HandlerConnection, BunTopicMember {
  readonly gale: boolean;
  readonly socket: BunTransport = new BunTransport();
  readonly #ws: BunServerWebSocket<BunSocketData>;
  readonly #handler: WebSocketHandler;
  readonly #state: BunServerState;
  readonly #host: ConnectionHost<WebSocketHandler>;
  readonly #compress: boolean;
  readonly #threshold: number;
  // One handler call at a time: events that arrive meanwhile wait here.
  #busy = false;
  #failed = false;
  #queue: Array<[EventKind, string | Uint8Array]> = [];
  #head = 0;
  // What the queue holds, in bytes (UTF-16 units for text): bounded, since Bun keeps reading.
  #queuedBytes = 0;
  // Closing: `#closing` once we sent a Close (or Bun reported the end), `#closeInfo` once Bun did.
  #closing = false;
  #closeInfo: CloseInfo | undefined = undefined;
  #notified = false;
  #closeTimer: unknown = undefined;
  #pingTimer: unknown = undefined;
  #pongTimer: unknown = undefined;
  // Flow control: bytes that entered Bun's send buffer (an estimate that never runs ahead), and
  // the writes waiting until that many bytes left it.
  #queued = 0;
  #buffered = 0;
  #waiting: Waiting[] = [];
  #drainTimer: unknown = undefined;
  #drainMark = 0;
  #topics: Map<string, BunTopic> | undefined = undefined;
  // gale.v1: the hello gate, the hello's positions (each taken once), the resumed topics.
  #hello: HelloState = OPEN;
  #args: readonly string[] = [];
  #helloTimer: unknown = undefined;
  #resume: ResumePoints | undefined = undefined;

  constructor(
    ws: BunServerWebSocket<BunSocketData>,
    handler: WebSocketHandler,
    state: BunServerState,
  ) {
    this.#ws = ws;
    this.#handler = handler;
    this.#state = state;
    this.#host = state.host;
    this.#compress = ws.data.compress;
    this.#threshold = ws.data.threshold;
    this.gale = ws.data.gale;
  }

  /** Whether the handler's `open()` was called (a gale.v1 connection calls it after the hello). */
  get handlerOpened(): boolean {
    return this.#hello === OPEN || this.#hello === OPENING;
  }

  /** The peer's IP address, as Bun reports it. */
  get remoteAddress(): string {
    return this.#ws.remoteAddress;
  }

  get closeCode(): number {
    return this.#closeInfo?.code ?? 1006;
  }

  get closeReason(): string {
    return this.#closeInfo?.reason ?? '';
  }

  /** Runs the handler's `open(...args)`; events wait until it settled. */
  open(args: readonly string[]): void {
    this.#schedulePing();
    if (this.gale) {
      // gale.v1 (spec §2): open() runs once the client's hello, its first message, arrived.
      this.#hello = AWAITING_HELLO;
      this.#args = args;
      const clock = this.#host.connectionSettings.clock;
      this.#helloTimer = clock.setTimeout(() => {
        this.#helloTimer = undefined;
        if (this.#hello !== AWAITING_HELLO) return;
        this.#hello = FAILED;
        this.close(1002, 'gale.v1: no hello');
      }, HELLO_TIMEOUT);
      unref(this.#helloTimer);
      return;
    }
    this.#runOpen(args);
  }

  #runOpen(args: readonly string[]): void {
    let opened: void | Promise<void>;
    try {
      opened = this.#handler.open(...args);
    } catch (error) {
      this.#fail(error, 'open');
      return;
    }
    if (opened !== undefined && typeof (opened as Promise<void>).then === 'function') {
      this.#busy = true;
      (opened as Promise<void>).then(
        () => {
          if (this.#hello === OPENING) this.#hello = OPEN;
          this.#settled();
        },
        (error: unknown) => this.#rejected(error, 'open'),
      );
      return;
    }
    if (this.#hello === OPENING) this.#hello = OPEN;
  }

  // gale.v1: the first message is the hello; the handler never sees it.
  #helloArrived(message: string | Uint8Array): void {
    this.#stopHelloTimer();
    this.#resume ??= new ResumePoints();
    try {
      this.#resume.readHello(message);
    } catch {
      this.#hello = FAILED;
      this.close(1002, 'gale.v1: malformed hello');
      return;
    }
    this.#hello = OPENING;
    this.#runOpen(this.#args);
  }

  #stopHelloTimer(): void {
    if (this.#helloTimer === undefined) return;
    this.#host.connectionSettings.clock.clearTimeout(this.#helloTimer);
    this.#helloTimer = undefined;
  }

  // --- Bun's callbacks ------------------------------------------------------------------------

  /** Bun's `message`. */
  message(message: string | Uint8Array): void {
    this.#event(MESSAGE, message);
  }

  /** Bun's `ping` (Bun has answered it already). */
  pinged(data: Uint8Array): void {
    this.#event(PING, data);
  }

  /** Bun's `pong`: the peer is alive. */
  ponged(data: Uint8Array): void {
    if (this.#pongTimer !== undefined) {
      this.#host.connectionSettings.clock.clearTimeout(this.#pongTimer);
      this.#pongTimer = undefined;
    }
    this.#event(PONG, data);
  }

  /** Bun's `close`: the connection is gone (`code` is the peer's, 1005 or 1006 without one). */
  closed(code: number, reason: string): void {
    if (this.#closeInfo !== undefined) return;
    this.#closing = true;
    this.#closeInfo = { code, reason, wasClean: code !== 1006 };
    this.#stopTimers();
    this.#stopHelloTimer();
    this.socket.markClosed();
    // Bun has left the native topics; the server's topics forget the socket.
    const topics = this.#topics;
    this.#topics = undefined;
    if (topics !== undefined) for (const joined of topics.values()) joined.remove(this);
    const error =
      this.#waiting.length === 0
        ? undefined
        : new WebSocketClosedError('the connection closed before the message was sent');
    for (const waiting of this.#waiting) {
      // Handled as it happens, as on Node: a caller that ignored the promise does not crash.
      waiting.promise.catch(NOOP);
      waiting.reject(error!);
    }
    this.#waiting = [];
    if (!this.#busy) this.#notifyClosed();
  }

  /** Bun's `drain`: some of the send buffer went out. */
  drained(): void {
    this.#measure();
  }

  // --- HandlerConnection ----------------------------------------------------------------------

  send(data: string | Uint8Array, binary: boolean, track: true): Promise<void>;
  send(data: string | Uint8Array, binary: boolean, track: boolean): Promise<void> | void;
  send(data: string | Uint8Array, binary: boolean, track: boolean): Promise<void> | void {
    if (this.#closing) throw new WebSocketClosedError();
    const ws = this.#ws;
    const compress = this.#compress && data.length >= this.#threshold;
    let status: number;
    if (binary) {
      status = ws.sendBinary(typeof data === 'string' ? Buffer.from(data) : data, compress);
    } else {
      status = ws.sendText(typeof data === 'string' ? data : decoder.decode(data), compress);
    }
    // Bun counts the payload's bytes: an empty message that went out is 0 too, the status of a
    // dropped one. Bun drops only far past Gale's own limit, so an empty one is taken as sent.
    if (status > 0 || (status === 0 && data.length === 0)) {
      // Written through; if earlier writes were waiting, Bun's buffer may have emptied with it.
      if (this.#waiting.length > 0) this.#measure();
      return track ? SETTLED : undefined;
    }
    if (status === 0) {
      // Bun dropped it: the buffer is past its backpressure limit (set above Gale's own).
      this.#dropSlowConsumer('Bun dropped a message: its send buffer is full', false);
      if (!track) return;
      const dropped = Promise.reject(new WebSocketClosedError('slow consumer: message dropped'));
      dropped.catch(NOOP);
      return dropped;
    }
    const buffered = this.#ws.getBufferedAmount();
    if (buffered > this.#buffered) this.#queued += buffered - this.#buffered;
    this.#buffered = buffered;
    this.#checkBackpressure(buffered);
    if (!track) return;
    if (this.#closing && this.#closeInfo !== undefined) {
      return Promise.reject(new WebSocketClosedError());
    }
    const waiting = { mark: this.#queued } as Waiting;
    waiting.promise = new Promise<void>((resolve, reject) => {
      waiting.resolve = resolve;
      waiting.reject = reject;
    });
    this.#waiting.push(waiting);
    return waiting.promise;
  }

  ping(data?: Uint8Array): void {
    if (this.#closing) throw new WebSocketClosedError();
    this.#ws.ping(data);
  }

  close(code?: number, reason?: string): void {
    if (this.#closeInfo !== undefined) return;
    if (!this.#closing) {
      this.#closing = true;
      this.#stopPinging();
      if (code === undefined && reason !== undefined && reason !== '') code = 1000;
      this.#ws.close(code, reason);
    }
    this.#armCloseTimer();
  }

  abort(): void {
    if (this.#closeInfo !== undefined) return;
    this.#closing = true;
    this.#ws.terminate();
  }

  handlerFailed(error: unknown, where: string): void {
    this.#fail(error, where);
  }

  takeResumePoint(topic: string): Position | undefined {
    return this.#resume?.take(topic);
  }

  isResumed(topic: string): boolean {
    return this.#resume?.isResumed(topic) ?? false;
  }

  forgetTopic(topic: string): void {
    this.#resume?.forget(topic);
    const joined = this.#topics?.get(topic);
    if (joined === undefined) return;
    this.#topics!.delete(topic);
    if (this.#closeInfo === undefined) this.#ws.unsubscribe(topic);
    joined.remove(this);
  }

  /** The socket joins `topic` natively, and its server's {@link BunTopic} counts it. */
  joinTopic(broker: Broker, topic: string): void | Promise<void> {
    if (this.gale) {
      // A gale.v1 socket subscribes on its own, as on Node: its subscription starts at the
      // position its hello presented (a replay, or a gap), and its messages carry their positions.
      const after = this.takeResumePoint(topic);
      const started =
        after === undefined
          ? broker.subscribe(topic, this)
          : broker.subscribe(topic, this, { after });
      if (started instanceof Promise) return started.then(() => {});
      return;
    }
    if (this.#closeInfo !== undefined || this.#topics?.has(topic) === true) return;
    const state = this.#state;
    const joined =
      state.topics.get(topic) ?? new BunTopic(topic, state.server, broker, state.topics);
    this.#topics ??= new Map();
    this.#topics.set(topic, joined);
    this.#ws.subscribe(topic);
    return joined.add(this);
  }

  publishExcludingSelf(topic: string, message: string | Uint8Array): void {
    this.#ws.publish(topic, message, false);
  }

  /**
   * A topic's message to this socket alone: a gale.v1 socket's, in its envelope (built once for
   * every gale socket of the server); a plain socket's only if a broker was given the connection
   * itself (its handler joins topics natively, through {@link joinTopic}).
   */
  deliver(message: string | Uint8Array, delivery: Delivery): void {
    if (this.#closing) return;
    let data = message;
    if (this.gale) {
      const state = this.#state;
      if (state.lastDelivery !== delivery) {
        state.lastDelivery = delivery;
        state.lastEnvelope = encodeTopicMessage(delivery.topic, delivery.position, message);
      }
      data = state.lastEnvelope!;
    }
    if (typeof data === 'string') this.#ws.sendText(data, false);
    else this.#ws.sendBinary(data, false);
  }

  /** gale.v1: a subscription starts with a position control, or a gap control. */
  started(topic: string, start: SubscriptionStart): void {
    if (!this.gale) return;
    this.#resume ??= new ResumePoints();
    this.#sendControl(this.#resume.started(topic, start));
  }

  /** gale.v1: the client published this message itself; it moves past its position. */
  skipped(topic: string, position: Position): void {
    if (this.gale) this.#sendControl(positionControl(topic, position));
  }

  #sendControl(control: Control): void {
    if (this.#closing) return;
    this.#ws.sendText(encodeControl(control), false);
  }

  // --- internals ------------------------------------------------------------------------------

  #event(kind: EventKind, data: string | Uint8Array): void {
    if (this.#failed) return;
    if (this.#busy) {
      this.#queuedBytes += data.length;
      if (this.#queuedBytes > this.#host.connectionSettings.maxBufferedAmount) {
        // On Node the socket stops being read while the handler is busy, and TCP holds the
        // peer back; Bun keeps reading, so what waits is capped, as what is unsent is.
        this.#failed = true;
        this.#dropQueue();
        this.#host.settings.logger.warn(
          'closing a peer that sent more than websocketMaxBufferedAmount while its handler was busy',
        );
        this.close(1008, 'too much sent while the handler was busy');
        return;
      }
      this.#queue.push([kind, data]);
      return;
    }
    this.#run(kind, data);
  }

  // Before the handler is open (gale.v1): the hello, and nothing else reaches it.
  #gated(kind: EventKind, data: string | Uint8Array): void {
    if (this.#hello === AWAITING_HELLO && kind === MESSAGE) this.#helloArrived(data);
  }

  #run(kind: EventKind, data: string | Uint8Array): void {
    if (this.#hello !== OPEN) {
      this.#gated(kind, data);
      return;
    }
    const handler = this.#handler;
    let result: void | Promise<void>;
    try {
      if (kind === MESSAGE) result = handler.onMessage(data);
      else if (kind === PING) result = handler.onPing(data as Uint8Array);
      else result = handler.onPong(data as Uint8Array);
    } catch (error) {
      this.#fail(error, WHERE[kind]);
      return;
    }
    if (result !== undefined && typeof (result as Promise<void>).then === 'function') {
      this.#busy = true;
      (result as Promise<void>).then(
        () => this.#settled(),
        (error: unknown) => this.#rejected(error, WHERE[kind]),
      );
    }
  }

  #settled(): void {
    this.#busy = false;
    const queue = this.#queue;
    while (!this.#busy && !this.#failed && this.#head < queue.length) {
      const [kind, data] = queue[this.#head]!;
      queue[this.#head++] = undefined as never;
      this.#queuedBytes -= data.length;
      this.#run(kind, data);
    }
    if (this.#head === queue.length) this.#dropQueue();
    if (!this.#busy && this.#closeInfo !== undefined) this.#notifyClosed();
  }

  #rejected(error: unknown, where: string): void {
    this.#fail(error, where);
    this.#settled();
  }

  // A handler call threw or rejected: log it, drop what is queued, fail with 1011.
  #fail(error: unknown, where: string): void {
    this.#host.logException(this.#handler, error, where);
    this.#failed = true;
    this.#dropQueue();
    this.close(1011);
  }

  #dropQueue(): void {
    this.#queue = [];
    this.#head = 0;
    this.#queuedBytes = 0;
  }

  #notifyClosed(): void {
    if (this.#notified) return;
    this.#notified = true;
    this.#dropQueue();
    try {
      this.#host.connectionClosed(this.#handler, this.#closeInfo!);
    } catch (error) {
      this.#host.logException(this.#handler, error, 'onClose');
    }
    this.socket.emitClose();
  }

  // Reads Bun's buffer: settles the writes it has passed, and keeps the slow-consumer watch.
  #measure(): void {
    const buffered = this.#ws.getBufferedAmount();
    this.#buffered = buffered;
    const sent = this.#queued - buffered;
    const waiting = this.#waiting;
    let i = 0;
    while (i < waiting.length && waiting[i]!.mark <= sent) waiting[i++]!.resolve();
    if (i > 0) this.#waiting = i === waiting.length ? [] : waiting.slice(i);
    if (buffered === 0 && this.#waiting.length === 0) {
      this.#queued = 0;
      this.#drainMark = 0;
    }
    if (buffered <= this.#host.connectionSettings.maxBufferedAmount) this.#stopDrainWatch();
  }

  #checkBackpressure(buffered: number): void {
    const settings = this.#host.connectionSettings;
    const limit = settings.maxBufferedAmount;
    if (buffered <= limit || this.#closeInfo !== undefined) return;
    if (this.#drainTimer === undefined) {
      this.#drainMark = this.#queued - buffered;
      this.#drainTimer = settings.clock.setTimeout(
        () => this.#checkDrained(),
        settings.drainTimeout,
      );
      unref(this.#drainTimer);
    }
    if (buffered > limit + this.#host.settings.websocketMaxMessageSize) {
      const hasRead = this.#queued - buffered > this.#drainMark;
      this.#dropSlowConsumer(
        `${buffered} bytes unsent, more than websocketMaxBufferedAmount plus one message`,
        hasRead,
      );
    }
  }

  #checkDrained(): void {
    this.#drainTimer = undefined;
    if (this.#closeInfo !== undefined) return;
    const settings = this.#host.connectionSettings;
    const buffered = this.#ws.getBufferedAmount();
    if (buffered <= settings.maxBufferedAmount) return;
    const sent = this.#queued - buffered;
    if (sent <= this.#drainMark) {
      this.#dropSlowConsumer(
        `${buffered} bytes unsent and none taken for ${settings.drainTimeout} ms`,
        false,
      );
      return;
    }
    this.#drainMark = sent;
    this.#drainTimer = settings.clock.setTimeout(() => this.#checkDrained(), settings.drainTimeout);
    unref(this.#drainTimer);
  }

  #stopDrainWatch(): void {
    if (this.#drainTimer === undefined) return;
    this.#host.connectionSettings.clock.clearTimeout(this.#drainTimer);
    this.#drainTimer = undefined;
  }

  // A peer that reads gets 1008 after its queue; one that reads nothing is dropped at once.
  #dropSlowConsumer(reason: string, canCloseCleanly: boolean): void {
    if (this.#closeInfo !== undefined) return;
    this.#stopDrainWatch();
    this.#host.settings.logger.warn(`closing a slow consumer: ${reason}`);
    if (canCloseCleanly && !this.#closing) {
      this.close(1008, 'send queue full');
      return;
    }
    this.abort();
  }

  #armCloseTimer(): void {
    if (this.#closeTimer !== undefined || this.#closeInfo !== undefined) return;
    const settings = this.#host.connectionSettings;
    this.#closeTimer = settings.clock.setTimeout(() => {
      this.#closeTimer = undefined;
      this.abort();
    }, settings.closeTimeout);
    unref(this.#closeTimer);
  }

  // A Ping every interval while open; one Pong timer at a time (any Pong clears it).
  #schedulePing(): void {
    const settings = this.#host.connectionSettings;
    const interval = settings.pingInterval;
    if (!(interval > 0) || this.#closing) return;
    const clock = settings.clock;
    this.#pingTimer = clock.setTimeout(() => {
      this.#pingTimer = undefined;
      if (this.#closing) return;
      this.#ws.ping();
      if (this.#pongTimer === undefined && settings.pingTimeout > 0) {
        this.#pongTimer = clock.setTimeout(() => {
          this.#pongTimer = undefined;
          this.close(1000, 'ping timed out');
        }, settings.pingTimeout);
        unref(this.#pongTimer);
      }
      this.#schedulePing();
    }, interval);
    unref(this.#pingTimer);
  }

  #stopPinging(): void {
    if (this.#pingTimer === undefined && this.#pongTimer === undefined) return;
    const clock = this.#host.connectionSettings.clock;
    clock.clearTimeout(this.#pingTimer);
    clock.clearTimeout(this.#pongTimer);
    this.#pingTimer = undefined;
    this.#pongTimer = undefined;
  }

  #stopTimers(): void {
    this.#stopPinging();
    this.#stopDrainWatch();
    if (this.#closeTimer === undefined) return;
    this.#host.connectionSettings.clock.clearTimeout(this.#closeTimer);
    this.#closeTimer = undefined;
  }
}

/** The transport as the application sees it: gone or not, and its `'close'` event. */
class BunTransport implements ConnectionTransport {
  #destroyed = false;
  #listeners: Array<() => void> | undefined = undefined;

  get destroyed(): boolean {
    return this.#destroyed;
  }

  once(_event: 'close', listener: () => void): this {
    if (this.#destroyed) {
      queueMicrotask(listener);
      return this;
    }
    this.#listeners ??= [];
    this.#listeners.push(listener);
    return this;
  }

  /** @internal */
  markClosed(): void {
    this.#destroyed = true;
  }

  /** @internal */
  emitClose(): void {
    const listeners = this.#listeners;
    this.#listeners = undefined;
    if (listeners !== undefined) for (const listener of listeners) listener();
  }
}
