import type { Duplex } from 'node:stream';
import type { Protocol } from '@gale/frame';
import { type Control, encodeControl } from '@gale/frame/resume';
import {
  type CloseInfo,
  Connection,
  type ConnectionDelegate,
  type ConnectionSettings,
} from '@gale/io';
import { unref } from '@gale/io/clock';
import type { HandlerConnection } from './handler-connection.js';
import { positionControl, ResumePoints } from './resume-points.js';
import type { ResolvedSettings } from './settings.js';
import type { Delivery, Position, SubscriptionStart } from './topics.js';

/** What every connection of an application shares: settings and the application's callbacks. */
export interface ConnectionHost<D extends ConnectionDelegate = ConnectionDelegate> {
  readonly settings: ResolvedSettings;
  /** The I/O layer's settings, derived once from `settings` (milliseconds, the clock). */
  readonly connectionSettings: ConnectionSettings;
  /** The connection is gone, however it ended. Called exactly once, after every queued message. */
  connectionClosed(delegate: D, info: CloseInfo): void;
  /** A delegate method threw or rejected: log it; the connection fails with 1011. */
  logException(delegate: D, error: unknown, where: string): void;
}

/** How long a gale.v1 client has to send its hello before it is closed with 1002 (spec §2). */
export const HELLO_TIMEOUT = 10_000;

// Where a gale.v1 connection is with its hello. A plain connection is OPEN from the start (the
// upgrade runs open() before it lets messages in).
const AWAITING_HELLO = 0;
const OPENING = 1;
const OPEN = 2;
const FAILED = 3; // open() threw or rejected
const REFUSED = 4; // no hello, or a malformed one: open() was never called
type HelloState =
  | typeof AWAITING_HELLO
  | typeof OPENING
  | typeof OPEN
  | typeof FAILED
  | typeof REFUSED;

/**
 * A server WebSocket: @gale/io's `Connection` with Tornado's rules. A missing Pong closes with
 * 1000 "ping timed out" (Tornado 6.5); a handler exception is logged through the application
 * and fails the connection with 1011; a slow consumer is logged; the application learns of the
 * end before the handler's `onClose`. The server closes TCP first (RFC 6455 §7.1.1), as the
 * I/O layer does for every server protocol. Handlers never see it; `WebSocketHandler` drives it.
 *
 * On a gale.v1 connection (`gale`), topic messages go out in their envelope, each subscription
 * starts with a position or gap control, and the handler's `open()` waits for the client's hello
 * (see {@link awaitHello}): until then the I/O layer's delegate is a gate in front of the handler.
 */
export class WebSocketConnection<D extends ConnectionDelegate = ConnectionDelegate>
  extends Connection<ConnectionDelegate>
  implements HandlerConnection
{
  /** The handler this connection calls (the I/O layer's `delegate` may be the hello gate). */
  readonly handler: D;
  readonly #host: ConnectionHost<D>;
  // gale.v1: the gate in front of the handler until the hello, and the hello's positions and the
  // resumed topics. A plain connection holds neither: every field counts on an idle server.
  readonly #gate: HelloGate | undefined;
  #resume: ResumePoints | undefined = undefined;

  constructor(
    socket: Duplex,
    protocol: Protocol,
    handler: D,
    host: ConnectionHost<D>,
    resume = false,
  ) {
    const gate = resume ? new HelloGate(handler) : undefined;
    super(socket, protocol, gate ?? handler, host.connectionSettings);
    this.handler = handler;
    this.#host = host;
    this.#gate = gate;
    if (gate !== undefined) gate.connection = this;
  }

  /** Whether the handshake selected gale.v1. */
  get gale(): boolean {
    return this.#gate !== undefined;
  }

  /** Whether the handler's `open()` was called (a gale.v1 connection calls it after the hello). */
  get handlerOpened(): boolean {
    const state = this.#gate?.state ?? OPEN;
    return state !== AWAITING_HELLO && state !== REFUSED;
  }

  /**
   * gale.v1: calls `open` when the client's hello has arrived (its first message); a first
   * message that is not a hello, or none within {@link HELLO_TIMEOUT} on the application's
   * clock, fails the connection with 1002. Call before `start()`.
   */
  awaitHello(open: () => void | Promise<void>): void {
    const gate = this.#gate;
    if (gate === undefined) throw new Error('awaitHello() on a connection without gale.v1');
    gate.state = AWAITING_HELLO;
    gate.open = open;
    gate.timer = this.settings.clock.setTimeout(() => {
      gate.timer = undefined;
      if (gate.state !== AWAITING_HELLO) return;
      gate.state = REFUSED;
      this.fail(1002, 'gale.v1: no hello');
    }, HELLO_TIMEOUT);
    unref(gate.timer);
  }

  /**
   * The position the hello presented for `topic`, if any; taken once (a later subscription to the
   * topic starts fresh).
   */
  takeResumePoint(topic: string): Position | undefined {
    return this.#resume?.take(topic);
  }

  /** Whether the subscription to `topic` started with status 'resumed'. */
  isResumed(topic: string): boolean {
    return this.#resume?.isResumed(topic) ?? false;
  }

  /** The subscription to `topic` ended. */
  forgetTopic(topic: string): void {
    this.#resume?.forget(topic);
  }

  /** A topic's message, as a socket subscriber: the framed bytes every subscriber shares. */
  deliver(_message: string | Uint8Array, delivery: Delivery): void {
    this.sendFrames(this.gale ? delivery.envelope() : delivery.frame());
  }

  /** gale.v1: a subscription starts with a position control, or a gap control. */
  started(topic: string, start: SubscriptionStart): void {
    if (!this.gale) return;
    this.#resume ??= new ResumePoints();
    this.#sendControl(this.#resume.started(topic, start));
  }

  /** gale.v1: the client sent this message itself; it moves past its position. */
  skipped(topic: string, position: Position): void {
    if (this.gale) this.#sendControl(positionControl(topic, position));
  }

  /** A handler callback outside the message loop threw (a topic listener): as `onMessage` would. */
  handlerFailed(error: unknown, where: string): void {
    this.delegateFailed(error, where);
  }

  /** @internal The hello reached the gate: read it, then open the handler. */
  openWithHello(gate: HelloGate, hello: string | Uint8Array): void | Promise<void> {
    this.settings.clock.clearTimeout(gate.timer);
    gate.timer = undefined;
    this.#resume ??= new ResumePoints();
    try {
      this.#resume.readHello(hello);
    } catch {
      gate.state = REFUSED;
      this.fail(1002, 'gale.v1: malformed hello');
      return;
    }
    gate.state = OPENING;
    let opened: void | Promise<void>;
    try {
      opened = gate.open!();
    } catch (error) {
      this.#openFailed(gate, error);
      return;
    }
    if (opened !== undefined && typeof (opened as Promise<void>).then === 'function') {
      // The next message waits for open(), as it does on a plain connection.
      return (opened as Promise<void>).then(
        () => {
          if (gate.state === OPENING) gate.state = OPEN;
        },
        (error: unknown) => this.#openFailed(gate, error),
      );
    }
    if (gate.state === OPENING) gate.state = OPEN;
  }

  #openFailed(gate: HelloGate, error: unknown): void {
    gate.state = FAILED;
    this.#host.logException(this.handler, error, 'open');
    this.fail(1011);
  }

  #sendControl(control: Control): void {
    if (this.isClosing) return;
    this.send(encodeControl(control), false, false);
  }

  protected override pingTimedOut(): void {
    this.close(1000, 'ping timed out');
  }

  protected override delegateFailed(error: unknown, where: string): void {
    this.#host.logException(this.handler, error, where);
    super.delegateFailed(error, where);
  }

  protected override closed(info: CloseInfo): void {
    const gate = this.#gate;
    if (gate !== undefined) {
      this.settings.clock.clearTimeout(gate.timer);
      gate.timer = undefined;
    }
    try {
      this.#host.connectionClosed(this.handler, info);
    } catch (error) {
      this.#host.logException(this.handler, error, 'onClose');
    }
  }

  protected override slowConsumer(reason: string): void {
    this.#host.settings.logger.warn(`closing a slow consumer: ${reason}`);
  }
}

/**
 * The I/O layer's delegate on a gale.v1 connection, and where it is with its hello: the first
 * message is the hello (the connection opens the handler on it); then everything goes to the
 * handler, unchanged.
 */
class HelloGate implements ConnectionDelegate {
  readonly #handler: ConnectionDelegate;
  connection!: WebSocketConnection;
  // OPEN until awaitHello(): the upgrade runs open() itself when it does not wait for a hello.
  state: HelloState = OPEN;
  open: (() => void | Promise<void>) | undefined = undefined;
  timer: unknown = undefined;

  constructor(handler: ConnectionDelegate) {
    this.#handler = handler;
  }

  onMessage(message: string | Uint8Array): void | Promise<void> {
    const state = this.state;
    if (state === OPEN) return this.#handler.onMessage(message);
    if (state !== AWAITING_HELLO) return; // opening, failed or refused: nothing reaches it
    return this.connection.openWithHello(this, message);
  }

  onPing(data: Uint8Array): void {
    if (this.state === OPEN) this.#handler.onPing(data);
  }

  onPong(data: Uint8Array): void {
    if (this.state === OPEN) this.#handler.onPong(data);
  }

  // WebSocketConnection.closed() tells the application, which calls the handler's onClose.
  onClose(): void {}
}
