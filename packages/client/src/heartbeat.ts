import { type Clock, unref } from '@gale/io/clock';
import type { ConnectOptions, Message } from './options.js';
import type { Transport } from './transport.js';

const DEFAULT_MESSAGE = '{"type":"ping"}';

/**
 * The `heartbeat` option at work, an application-level ping for browsers (which cannot send
 * protocol pings): every `interval` ms the message goes out on the open transport, and if
 * nothing at all arrives within `timeout` ms after it, the transport is dropped (its close then
 * follows as for any lost socket). Both timers come from `clock` and never keep a Node process
 * alive by themselves: the socket they watch does.
 *
 * Call `start()` once a transport opened, `received()` for everything that arrives, and
 * `stop()` when the transport is gone.
 */
export class Heartbeat {
  readonly #interval: number;
  readonly #timeout: number;
  readonly #message: Message;
  readonly #clock: Clock;
  #transport: Transport | null = null;
  #isOpen: () => boolean = () => false;
  #tick: unknown;
  #deadline: unknown;

  constructor(options: NonNullable<ConnectOptions['heartbeat']>, clock: Clock) {
    this.#interval = options.interval;
    this.#timeout = options.timeout;
    this.#message = options.message ?? DEFAULT_MESSAGE;
    this.#clock = clock;
  }

  /**
   * Starts beating on `transport`; `isOpen()` says whether the connection is still open on it
   * (no heartbeat goes out while closing).
   */
  start(transport: Transport, isOpen: () => boolean): void {
    this.stop();
    this.#transport = transport;
    this.#isOpen = isOpen;
    this.#schedule();
  }

  /** Something arrived: the peer is alive, the pending deadline is lifted. */
  received(): void {
    if (this.#deadline === undefined) return;
    this.#clock.clearTimeout(this.#deadline);
    this.#deadline = undefined;
  }

  /** Stops both timers. */
  stop(): void {
    this.#clock.clearTimeout(this.#tick);
    this.#clock.clearTimeout(this.#deadline);
    this.#tick = undefined;
    this.#deadline = undefined;
    this.#transport = null;
  }

  #schedule(): void {
    this.#tick = this.#clock.setTimeout(this.#beat, this.#interval);
    unref(this.#tick);
  }

  readonly #beat = (): void => {
    const transport = this.#transport;
    if (transport === null) return;
    this.#schedule();
    if (!this.#isOpen()) return;
    const message = this.#message;
    transport.send(message, typeof message !== 'string', false);
    // One deadline at a time: it runs from the first heartbeat nothing has answered.
    if (this.#deadline === undefined) {
      this.#deadline = this.#clock.setTimeout(() => {
        this.#deadline = undefined;
        if (this.#transport === transport) transport.abort('heartbeat timed out');
      }, this.#timeout);
      unref(this.#deadline);
    }
  };
}
