import { setImmediate } from 'node:timers/promises';
import { ManualClock } from '@gale/test-utils';
import { ClientConnection } from '../src/connection.ts';
import { ConnectionError, type MessageDroppedError, WebSocketClosedError } from '../src/errors.ts';
import { type ReconnectingEvent, StateChangeEvent } from '../src/events.ts';
import type { CloseInfo, ConnectionState, ConnectOptions, Message } from '../src/options.ts';
import type { Connector, Transport, TransportHandlers } from '../src/transport.ts';

// A `Connector` whose sockets a test controls: no network, no timers. Each connection attempt is
// a `FakeAttempt` the test opens (getting a `FakeTransport`) or fails; a transport records what
// the connection did to it and lets the test deliver messages and end it.

const NO_HANDLERS: TransportHandlers = {
  onMessage: () => {},
  onPing: () => {},
  onPong: () => {},
  onClose: () => {},
};

/** What the connection sent on a transport. */
export interface SentMessage {
  readonly data: Message;
  readonly binary: boolean;
  /** Whether the connection asked for a promise (writeMessage) or not (send). */
  readonly track: boolean;
}

/** One open socket, as far as the connection can tell. */
export class FakeTransport implements Transport {
  readonly subprotocol: string | null;
  bufferedAmount = 0;
  /** Every message sent, in order. */
  readonly sent: SentMessage[] = [];
  /** `pause`, `resume`, `close <code> <reason>`, `abort <reason>`, `ping`, in order. */
  readonly calls: string[] = [];
  #handlers: TransportHandlers;
  #isPaused = false;
  #isClosed = false;

  /** Without `handlers`, a transport no connection listens to (for a unit on its own). */
  constructor(handlers: TransportHandlers = NO_HANDLERS, subprotocol: string | null = null) {
    this.#handlers = handlers;
    this.subprotocol = subprotocol;
  }

  /** Whether reading is paused now (the last of pause()/resume() was pause()). */
  get isPaused(): boolean {
    return this.#isPaused;
  }

  /** Whether the socket has ended (`end()`, or `abort()` taking effect). */
  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** The data of every message sent, in order. */
  get sentData(): Message[] {
    return this.sent.map((message) => message.data);
  }

  send(data: Message, binary: boolean, track: true): Promise<void>;
  send(data: Message, binary: boolean, track: false): void;
  send(data: Message, binary: boolean, track: boolean): Promise<void> | void {
    if (this.#isClosed) {
      if (!track) return;
      const rejected = Promise.reject(new WebSocketClosedError());
      rejected.catch(() => {});
      return rejected;
    }
    this.sent.push({ data, binary, track });
    return track ? Promise.resolve() : undefined;
  }

  ping(_data: Uint8Array): void {
    this.calls.push('ping');
  }

  close(code: number | undefined, reason: string): void {
    this.calls.push(`close ${code} ${reason}`);
  }

  /** As the real transports do: the close (1006, a ConnectionError) follows on a microtask. */
  abort(reason: string): void {
    this.calls.push(`abort ${reason}`);
    const error = new ConnectionError(`Connection dropped: ${reason}`);
    queueMicrotask(() => this.end({ code: 1006, reason: '', wasClean: false, error }));
  }

  pause(): void {
    this.calls.push('pause');
    this.#isPaused = true;
  }

  resume(): void {
    this.calls.push('resume');
    this.#isPaused = false;
  }

  /** The server sends `message`. */
  receive(message: Message): void {
    void this.#handlers.onMessage(message);
  }

  /** The socket ends as `info` says (by default: lost, 1006, no Close frame). */
  end(info: CloseInfo = { code: 1006, reason: '', wasClean: false }): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#handlers.onClose(info);
  }
}

/** One call of the connector, pending until the test opens or fails it (or its signal aborts). */
export class FakeAttempt {
  readonly url: URL;
  readonly options: ConnectOptions;
  readonly signal: AbortSignal;
  readonly promise: Promise<Transport>;
  /** The transport `open()` made. */
  transport: FakeTransport | null = null;
  readonly #handlers: TransportHandlers;
  #resolve!: (transport: Transport) => void;
  #reject!: (error: unknown) => void;
  #isSettled = false;

  constructor(url: URL, options: ConnectOptions, handlers: TransportHandlers, signal: AbortSignal) {
    this.url = url;
    this.options = options;
    this.signal = signal;
    this.#handlers = handlers;
    this.promise = new Promise<Transport>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // A connector rejects with the signal's reason once it aborts (see `Connector`).
    signal.addEventListener('abort', () => this.#settle() && this.#reject(signal.reason), {
      once: true,
    });
  }

  /** The handshake completes: the connection gets a transport. */
  open(subprotocol: string | null = null): FakeTransport {
    if (!this.#settle()) throw new Error('this attempt has already ended');
    const transport = new FakeTransport(this.#handlers, subprotocol);
    this.transport = transport;
    this.#resolve(transport);
    return transport;
  }

  /** The attempt fails with `error` (a `HandshakeError`, a `ConnectionError`, …). */
  fail(error: Error): void {
    if (!this.#settle()) throw new Error('this attempt has already ended');
    this.#reject(error);
  }

  #settle(): boolean {
    if (this.#isSettled) return false;
    this.#isSettled = true;
    return true;
  }
}

/** Hands out `FakeAttempt`s: `connect` is the `Connector` to give the connection. */
export class FakeConnector {
  readonly attempts: FakeAttempt[] = [];

  readonly connect: Connector = (url, options, handlers, signal) => {
    const attempt = new FakeAttempt(url, options, handlers, signal);
    this.attempts.push(attempt);
    return attempt.promise;
  };

  /** The latest attempt. */
  get last(): FakeAttempt {
    const attempt = this.attempts.at(-1);
    if (attempt === undefined) throw new Error('no connection attempt was made');
    return attempt;
  }
}

/**
 * Lets every pending promise callback run (the connection adopts a transport, write promises
 * settle): one turn of the event loop, not a wait on the clock.
 */
export async function settle(): Promise<void> {
  await setImmediate();
}

/** A connection made by `connectFake()`, with what it runs on. */
export interface FakeConnection {
  readonly clock: ManualClock;
  readonly connector: FakeConnector;
  readonly connection: ClientConnection;
  readonly events: RecordedEvents;
}

/**
 * A `ClientConnection` to `url` over a `FakeConnector`, its timers on a `ManualClock`, its events
 * recorded from the start. Throws as the constructor does for a bad URL or options.
 */
export function connectFake(options: ConnectOptions = {}, url = 'ws://gale.test/'): FakeConnection {
  const clock = new ManualClock();
  const connector = new FakeConnector();
  const connection = new ClientConnection(url, { clock, ...options }, connector.connect);
  return { clock, connector, connection, events: recordEvents(connection) };
}

/** Everything a connection dispatched, in order, by kind. */
export interface RecordedEvents {
  readonly states: ConnectionState[];
  readonly reconnecting: ReconnectingEvent[];
  readonly drops: MessageDroppedError[];
  readonly closes: CloseInfo[];
  /** How many `reconnect` events. */
  reconnects: number;
  /** Every event in order: its type, and for a `statechange` the state (`statechange open`). */
  readonly log: string[];
}

/** Records the events `connection` dispatches from now on. */
export function recordEvents(connection: ClientConnection): RecordedEvents {
  const recorded: RecordedEvents = {
    states: [],
    reconnecting: [],
    drops: [],
    closes: [],
    reconnects: 0,
    log: [],
  };
  for (const type of ['statechange', 'reconnecting', 'reconnect', 'drop', 'close'] as const) {
    connection.addEventListener(type, (event) => {
      recorded.log.push(event instanceof StateChangeEvent ? `${type} ${event.state}` : type);
    });
  }
  connection.addEventListener('statechange', (event) => recorded.states.push(event.state));
  connection.addEventListener('reconnecting', (event) => recorded.reconnecting.push(event));
  connection.addEventListener('drop', (event) => recorded.drops.push(event.error));
  connection.addEventListener('close', (event) => recorded.closes.push(event.info));
  connection.addEventListener('reconnect', () => {
    recorded.reconnects += 1;
  });
  return recorded;
}

/** A timer of `TimerRecordingClock`: when it was set for, and whether it was unref'd. */
export interface RecordedTimer {
  readonly ms: number;
  isUnref: boolean;
}

/**
 * A `ManualClock` whose timers can be unref'd like Node's (`unref` of @gale/io/clock calls
 * their `unref()`), recording which were: a timer left ref'd keeps a Node process alive.
 */
export class TimerRecordingClock extends ManualClock {
  readonly timers: RecordedTimer[] = [];

  override setTimeout(callback: () => void, ms: number): unknown {
    const timer = super.setTimeout(callback, ms) as { unref?: () => void };
    const recorded: RecordedTimer = { ms, isUnref: false };
    this.timers.push(recorded);
    timer.unref = () => {
      recorded.isUnref = true;
    };
    return timer;
  }
}
