import { InvalidArgumentError } from './errors.js';
import type { ReconnectOptions } from './options.js';

/** A reconnection policy with every default filled in. */
export interface ReconnectPolicy {
  readonly minDelay: number;
  readonly maxDelay: number;
  readonly factor: number;
  readonly jitter: number;
  readonly maxRetries: number;
}

/** The defaults of `ReconnectOptions`. */
export const DEFAULT_RECONNECT: ReconnectPolicy = Object.freeze({
  minDelay: 250,
  maxDelay: 30_000,
  factor: 2,
  jitter: 1,
  maxRetries: Number.POSITIVE_INFINITY,
});

/**
 * The delay before retry `attempt` (0-based): the cap is `min(maxDelay, minDelay * factor **
 * attempt)` and the delay is uniform in `[cap * (1 - jitter), cap]`. With full jitter (the
 * default) clients that lost the same server spread their retries over the whole window instead
 * of arriving together ("Exponential Backoff And Jitter", AWS Architecture Blog, 2015).
 */
export function backoffDelay(
  attempt: number,
  policy: ReconnectPolicy = DEFAULT_RECONNECT,
  random: () => number = Math.random,
): number {
  const cap = backoffCap(attempt, policy);
  return cap * (1 - policy.jitter + policy.jitter * random());
}

/** The upper bound of `backoffDelay(attempt, policy)`. */
export function backoffCap(attempt: number, policy: ReconnectPolicy = DEFAULT_RECONNECT): number {
  return Math.min(policy.maxDelay, policy.minDelay * policy.factor ** attempt);
}

/** Fills in and checks a `reconnect` option; throws `InvalidArgumentError` for values that make no sense. */
export function resolveReconnect(options: ReconnectOptions): ReconnectPolicy {
  const policy: ReconnectPolicy = {
    minDelay: options.minDelay ?? DEFAULT_RECONNECT.minDelay,
    maxDelay: options.maxDelay ?? DEFAULT_RECONNECT.maxDelay,
    factor: options.factor ?? DEFAULT_RECONNECT.factor,
    jitter: options.jitter ?? DEFAULT_RECONNECT.jitter,
    maxRetries: options.maxRetries ?? DEFAULT_RECONNECT.maxRetries,
  };
  if (!(policy.minDelay >= 0)) throw new InvalidArgumentError('reconnect.minDelay must be >= 0');
  if (!(policy.maxDelay >= policy.minDelay)) {
    throw new InvalidArgumentError('reconnect.maxDelay must be >= minDelay');
  }
  if (!(policy.factor >= 1)) throw new InvalidArgumentError('reconnect.factor must be >= 1');
  if (!(policy.jitter >= 0 && policy.jitter <= 1)) {
    throw new InvalidArgumentError('reconnect.jitter must be between 0 and 1');
  }
  if (!(policy.maxRetries >= 0))
    throw new InvalidArgumentError('reconnect.maxRetries must be >= 0');
  return policy;
}
