import type { Writable } from 'node:stream';

const NOOP = (): void => {};

/**
 * Calls `write` (which writes to `stream` and hands `callback` to its last `stream.write`) and
 * returns a promise for those bytes: it resolves once Node has handed them to the kernel, and
 * rejects with `failed(cause)` if it never will. Node also calls a write's callback without an
 * error when `destroy()` cancelled the write, so a stream already destroyed by then counts as a
 * failure: destroy a stream after its last write's callback, not in the same tick, when that write
 * did get through. The rejection is handled as it happens, so a caller that ignores the promise
 * never crashes the process; one that awaits it still gets the error.
 */
export function writeSettled(
  stream: Writable,
  write: (callback: (error?: Error | null) => void) => void,
  failed: (cause?: Error) => Error,
): Promise<void> {
  const promise = new Promise<void>((resolve, reject) => {
    // Node calls a write's callback asynchronously, after `promise` is assigned.
    write((error) => {
      if (!error && !stream.destroyed) return resolve();
      promise.catch(NOOP); // handled before it rejects
      reject(failed(error ?? undefined));
    });
  });
  return promise;
}
