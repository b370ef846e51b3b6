// Browser-safe (exported alone as @gale/io/clock): the client's browser build uses it too.

/**
 * Where timers come from: the connection's close, ping and drain timers, the client's backoff,
 * the apps' heartbeats and expiries. Tests pass a clock they step by hand (`ManualClock` in the
 * repository's test utilities) instead of waiting on the wall clock.
 */
export interface Clock {
  /** The current time in milliseconds, for measuring durations (any epoch). */
  now(): number;
  /** Calls `callback` once, `ms` milliseconds from now. Cancel it with {@link Clock.clearTimeout}. */
  setTimeout(callback: () => void, ms: number): unknown;
  /** Cancels a timer {@link Clock.setTimeout} returned; `undefined` and fired timers are ignored. */
  clearTimeout(timer: unknown): void;
}

/** The runtime's own timers and `performance.now()`. */
export const systemClock: Clock = Object.freeze({
  now: () => performance.now(),
  setTimeout: (callback: () => void, ms: number): unknown => setTimeout(callback, ms),
  clearTimeout: (timer: unknown): void => clearTimeout(timer as Parameters<typeof clearTimeout>[0]),
});

/**
 * Lets the process exit while `timer` waits, where the runtime can (Node's `Timeout.unref()`);
 * does nothing elsewhere. For timers that watch something else that keeps the process alive
 * (a socket), so that they never hold it open by themselves.
 */
export function unref(timer: unknown): void {
  (timer as { unref?: () => void } | null | undefined)?.unref?.();
}
