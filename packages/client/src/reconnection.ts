import type { Clock } from '@gale/io/clock';
import { backoffDelay, type ReconnectPolicy, resolveReconnect } from './backoff.js';
import { HandshakeError, InvalidArgumentError } from './errors.js';
import type { CloseInfo, ConnectOptions } from './options.js';

/**
 * What follows a lost socket or a failed attempt: retry number `attempt` (0-based) after `delay`
 * ms, or none; `dropReason` then says why the messages still queued are never sent, when it is
 * because reconnection gave up.
 */
export type RetryDecision =
  | { readonly retry: true; readonly attempt: number; readonly delay: number }
  | { readonly retry: false; readonly dropReason: string | undefined };

/** The close code of a server that is restarting (RFC 6455 registry: Service Restart). */
const SERVICE_RESTART = 1012;

/** Milliseconds: a 1012 retry waits a delay drawn uniformly from [0, this]. */
export const SERVICE_RESTART_JITTER = 1000;

/** The default `shouldReconnect`: a handshake refused with 4xx would be refused again. */
function defaultShouldReconnect(info: CloseInfo): boolean {
  const error = info.error;
  if (error instanceof HandshakeError) {
    const status = error.status;
    return !(status >= 400 && status < 500 && status !== 408 && status !== 429);
  }
  return true;
}

/**
 * The `reconnect` option at work: whether a loss is retried (`shouldReconnect`, the default 4xx
 * rule, `maxRetries` consecutive failures), how long to wait first (`backoffDelay`), and the
 * timer that waits (on `clock`; it keeps a Node process alive, as a pending connect does).
 * Call `next()` for each loss, `schedule()` with its delay, `reset()` once a socket opened and
 * `cancel()` when the connection is closed for good.
 */
export class Reconnection {
  readonly #policy: ReconnectPolicy | null;
  readonly #shouldReconnect: (info: CloseInfo) => boolean;
  readonly #clock: Clock;
  readonly #random: () => number;
  #retries = 0;
  #timer: unknown;

  /**
   * `reconnect` is the option as given (off when undefined or false); `random` draws the jitter.
   * Throws `InvalidArgumentError` for a policy that makes no sense.
   */
  constructor(
    reconnect: ConnectOptions['reconnect'],
    clock: Clock,
    random: () => number = Math.random,
  ) {
    this.#policy =
      reconnect === undefined || reconnect === false
        ? null
        : resolveReconnect(reconnect === true ? {} : reconnect);
    this.#shouldReconnect =
      (typeof reconnect === 'object' ? reconnect.shouldReconnect : undefined) ??
      defaultShouldReconnect;
    this.#clock = clock;
    this.#random = random;
  }

  /**
   * Decides what follows a socket or attempt that ended as `info` says, counting the retry.
   * Never retries with reconnection off, after a caller mistake (`InvalidArgumentError`: an
   * option the build cannot honour fails the same way every time), or when `shouldReconnect`
   * says no; gives up once `maxRetries` retries in a row have failed. A socket the server closed
   * with 1012 (Service Restart: it is being redeployed) is retried after a delay drawn uniformly
   * from [0, 1000] ms instead of the backoff, and is not counted: the retry number stays as it
   * was (0, as the socket had opened), so a later failure backs off from there.
   */
  next(info: CloseInfo): RetryDecision {
    const policy = this.#policy;
    if (
      policy === null ||
      info.error instanceof InvalidArgumentError ||
      !this.#shouldReconnect(info)
    ) {
      return { retry: false, dropReason: undefined };
    }
    if (info.code === SERVICE_RESTART) {
      return {
        retry: true,
        attempt: this.#retries,
        delay: SERVICE_RESTART_JITTER * this.#random(),
      };
    }
    if (this.#retries >= policy.maxRetries) {
      return {
        retry: false,
        dropReason: `reconnection gave up after ${this.#retries} attempts`,
      };
    }
    const attempt = this.#retries++;
    return { retry: true, attempt, delay: backoffDelay(attempt, policy, this.#random) };
  }

  /** Calls `retry` after `delay` ms, unless `cancel()` comes first. */
  schedule(delay: number, retry: () => void): void {
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      retry();
    }, delay);
  }

  /** Cancels the scheduled retry, if any. */
  cancel(): void {
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** A socket opened: the next loss starts again from retry 0. */
  reset(): void {
    this.#retries = 0;
  }
}
