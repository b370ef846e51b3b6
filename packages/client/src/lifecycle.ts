import type { Clock } from '@gale/io/clock';
import { ConnectTimeoutError, WebSocketClosedError } from './errors.js';
import { ConnectionCloseEvent, ReconnectingEvent, StateChangeEvent } from './events.js';
import type { CloseInfo, ConnectionState, ConnectOptions, Message } from './options.js';
import type { Reconnection } from './reconnection.js';
import type { Connector, Transport, TransportHandlers } from './transport.js';

const NOOP = (): void => {};
const DEFAULT_CONNECT_TIMEOUT = 20_000;

/**
 * What a `Lifecycle` tells the rest of the connection, synchronously, as things happen. A
 * transport is between `adopt()` and `detach()`; `finished()` comes once, at the end.
 */
export interface LifecycleHooks {
  /** `transport` was adopted: the state becomes `open` right after (pause it now if need be). */
  adopt(transport: Transport): void;
  /** The connection is open on `transport`; `isReconnect` for every socket but the first. */
  opened(transport: Transport, isReconnect: boolean): void;
  /** A message arrived on the current transport. */
  message(data: Message): void;
  /** `close()` started the closing handshake on the open transport. */
  closing(): void;
  /** The transport is gone: lost, or the connection finished. */
  detach(): void;
  /** Closed for good: `why` the messages still queued are never sent, `error` their cause. */
  finished(why: string, error: Error | undefined): void;
}

/** What a `Lifecycle` works with. */
export interface LifecycleParts {
  readonly url: URL;
  /** Given to the connector as they are; `connectTimeout` is read here. */
  readonly options: ConnectOptions;
  readonly connector: Connector;
  readonly reconnection: Reconnection;
  /** The connect timeout's clock. */
  readonly clock: Clock;
  /** Where `statechange`, `reconnecting` and `close` are dispatched: the connection. */
  readonly events: EventTarget;
  readonly hooks: LifecycleHooks;
}

/**
 * A connection's life: its state, one connection attempt at a time (under `connectTimeout`),
 * adopting the transport an attempt yields, what follows its loss (a retry as `Reconnection`
 * decides, or the end), and the end itself, once. Call `start()` once; `close()` and `abort()`
 * end it at the caller's request. There is never more than one socket: a late transport from a
 * superseded attempt is dropped.
 */
export class Lifecycle {
  /** Settles with the first successful handshake; rejects if the connection closes before. */
  readonly opened: Promise<void>;
  /** Resolves once closed for good. */
  readonly closed: Promise<void>;

  readonly #url: URL;
  readonly #options: ConnectOptions;
  readonly #connector: Connector;
  readonly #reconnection: Reconnection;
  readonly #clock: Clock;
  readonly #events: EventTarget;
  readonly #hooks: LifecycleHooks;

  #state: ConnectionState = 'connecting';
  #transport: Transport | null = null;
  // Bumped by each attempt and by cancelling: callbacks of an older attempt or socket find it
  // changed and do nothing.
  #generation = 0;
  #attempt: AbortController | null = null;
  #hasOpened = false;
  #isClosedByCaller = false;
  #closeCode: number | null = null;
  #closeReason: string | null = null;
  #subprotocol: string | null = null;
  #isOpenedSettled = false;
  #resolveOpened!: () => void;
  #rejectOpened!: (error: Error) => void;
  #resolveClosed!: () => void;

  constructor(parts: LifecycleParts) {
    this.#url = parts.url;
    this.#options = parts.options;
    this.#connector = parts.connector;
    this.#reconnection = parts.reconnection;
    this.#clock = parts.clock;
    this.#events = parts.events;
    this.#hooks = parts.hooks;
    this.opened = new Promise<void>((resolve, reject) => {
      this.#resolveOpened = resolve;
      this.#rejectOpened = reject;
    });
    // A caller that only uses events must not get an unhandled rejection.
    this.opened.catch(NOOP);
    this.closed = new Promise<void>((resolve) => {
      this.#resolveClosed = resolve;
    });
  }

  /** Where the connection is in its life. */
  get state(): ConnectionState {
    return this.#state;
  }

  /** The open (or closing) transport, or null. */
  get transport(): Transport | null {
    return this.#transport;
  }

  /** Whether `close()` or `abort()` was called: nothing reconnects, nothing more is written. */
  get isClosedByCaller(): boolean {
    return this.#isClosedByCaller;
  }

  /** The code of the peer's last Close frame, or null if it sent none. */
  get closeCode(): number | null {
    return this.#closeCode;
  }

  /** The reason of the peer's last Close frame, or null if it sent none. */
  get closeReason(): string | null {
    return this.#closeReason;
  }

  /** The subprotocol the server selected on the last socket, or null. */
  get subprotocol(): string | null {
    return this.#subprotocol;
  }

  /** Starts the first attempt. */
  start(): void {
    this.#connect();
  }

  /**
   * Ends the connection at the caller's request: the closing handshake on an open transport
   * (`closed` follows the transport's close), or at once while connecting or waiting to retry.
   * The caller checks `code` and `reason` and calls this once.
   */
  close(code: number | undefined, reason: string): void {
    this.#isClosedByCaller = true;
    const transport = this.#transport;
    if (this.#state === 'open' && transport !== null) {
      this.#setState('closing');
      transport.close(code, reason);
      this.#hooks.closing();
      return;
    }
    this.#cancelAttempt();
    this.#finish(
      { code: code ?? 1005, reason, wasClean: true },
      new WebSocketClosedError('close() was called before the connection opened'),
    );
  }

  /** Gives up connecting (the signal aborted): closed at once with `error`, unless closing already. */
  abort(error: Error): void {
    if (this.#state === 'closing' || this.#state === 'closed') return;
    this.#isClosedByCaller = true;
    this.#cancelAttempt();
    this.#finish({ code: 1006, reason: '', wasClean: false, error }, error);
  }

  #connect(): void {
    const attempt = new AbortController();
    this.#attempt = attempt;
    const generation = ++this.#generation;
    const timeout = this.#options.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT;
    // Not unref'd: like the socket it waits for, a pending attempt keeps a Node process alive.
    const timer = this.#clock.setTimeout(
      () => attempt.abort(new ConnectTimeoutError(timeout)),
      timeout,
    );
    let isAdopted = false;
    let earlyClose: CloseInfo | null = null;
    const handlers: TransportHandlers = {
      onMessage: (data) => {
        if (generation === this.#generation) this.#hooks.message(data);
      },
      onPing: NOOP,
      onPong: NOOP,
      onClose: (info) => {
        if (generation !== this.#generation) return;
        if (isAdopted) this.#onTransportClosed(info);
        else earlyClose = info;
      },
    };
    let pending: Promise<Transport>;
    try {
      pending = this.#connector(this.#url, this.#options, handlers, attempt.signal);
    } catch (error) {
      pending = Promise.reject(error);
    }
    pending.then(
      (transport) => {
        this.#clock.clearTimeout(timer);
        if (generation !== this.#generation || this.#attempt !== attempt) {
          transport.abort('superseded');
          return;
        }
        this.#attempt = null;
        isAdopted = true;
        this.#adopt(transport);
        if (earlyClose !== null) this.#onTransportClosed(earlyClose);
      },
      (error: unknown) => {
        this.#clock.clearTimeout(timer);
        if (generation !== this.#generation || this.#attempt !== attempt) return;
        this.#attempt = null;
        const reason = attempt.signal.aborted ? attempt.signal.reason : error;
        // Connectors reject with Gale errors and the signal's reason is one of ours; a non-Error
        // value would be a bug, wrapped only so that `info.error` is always an Error.
        this.#onConnectFailed(reason instanceof Error ? reason : new Error(String(reason)));
      },
    );
  }

  #cancelAttempt(): void {
    this.#reconnection.cancel();
    this.#generation++;
    const attempt = this.#attempt;
    this.#attempt = null;
    attempt?.abort(new WebSocketClosedError('The connection was closed'));
  }

  #adopt(transport: Transport): void {
    const isReconnect = this.#hasOpened;
    this.#transport = transport;
    this.#hasOpened = true;
    this.#reconnection.reset();
    this.#subprotocol = transport.subprotocol;
    this.#closeCode = null;
    this.#closeReason = null;
    this.#hooks.adopt(transport);
    this.#setState('open');
    if (!this.#isOpenedSettled) {
      this.#isOpenedSettled = true;
      this.#resolveOpened();
    }
    this.#hooks.opened(transport, isReconnect);
  }

  #onConnectFailed(error: Error): void {
    if (this.#isClosedByCaller) return;
    this.#retryOrFinish({ code: 1006, reason: '', wasClean: false, error });
  }

  #onTransportClosed(info: CloseInfo): void {
    this.#transport = null;
    this.#hooks.detach();
    if (info.code !== 1005 && info.code !== 1006) {
      this.#closeCode = info.code;
      this.#closeReason = info.reason === '' ? null : info.reason;
    }
    if (this.#isClosedByCaller) {
      this.#finish(info, info.error);
      return;
    }
    this.#retryOrFinish(info);
  }

  #retryOrFinish(info: CloseInfo): void {
    const decision = this.#reconnection.next(info);
    if (!decision.retry) {
      this.#finish(info, info.error, decision.dropReason);
      return;
    }
    this.#setState(this.#hasOpened ? 'reconnecting' : 'connecting');
    this.#events.dispatchEvent(new ReconnectingEvent(decision.attempt, decision.delay, info));
    if (this.#isClosedByCaller) return; // a listener closed it
    this.#reconnection.schedule(decision.delay, () => this.#connect());
  }

  // Closed for good: settle everything that is still waiting, report every unsent message.
  #finish(info: CloseInfo, error: Error | undefined, dropReason?: string): void {
    if (this.#state === 'closed') return;
    this.#transport = null;
    this.#hooks.detach();
    this.#setState('closed');
    if (!this.#isOpenedSettled) {
      this.#isOpenedSettled = true;
      this.#rejectOpened(error ?? new WebSocketClosedError('The connection closed before opening'));
    }
    this.#hooks.finished(
      dropReason ?? (this.#isClosedByCaller ? 'close() was called' : 'the connection closed'),
      error,
    );
    this.#resolveClosed();
    this.#events.dispatchEvent(new ConnectionCloseEvent(info));
  }

  #setState(state: ConnectionState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#events.dispatchEvent(new StateChangeEvent(state));
  }
}
