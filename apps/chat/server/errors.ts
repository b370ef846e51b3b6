import { HTTPError } from '@gale/server';

/**
 * A shared store (Redis) cannot be reached right now. The HTTP routes answer it with 503 and a
 * JSON error, the WebSocket route with an error frame; nothing waits for Redis to come back.
 */
export class StoreUnavailableError extends Error {
  readonly code = 'ERR_STORE_UNAVAILABLE' as const;

  constructor(options?: ErrorOptions) {
    super('The chat store (Redis) cannot be reached', options);
    this.name = 'StoreUnavailableError';
  }
}

/** What people are told while the store is unreachable (503 message, error frame reason). */
export const UNAVAILABLE = 'The chat is unavailable right now; please try again in a moment';

/** The error frame's reason for a message that could not be stored (so was sent to no one). */
export const NOT_SENT = 'Not sent: the chat is unavailable right now; please try again in a moment';

/**
 * `work`, with `StoreUnavailableError` turned into an `HTTPError` 503 (JSON `{status, message}`,
 * `Retry-After: 2`) for the HTTP routes.
 */
export async function orUnavailable<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof StoreUnavailableError) {
      throw new HTTPError(503, UNAVAILABLE, { headers: { 'Retry-After': '2' } });
    }
    throw error;
  }
}
