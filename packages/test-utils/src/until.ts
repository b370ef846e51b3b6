/**
 * Resolves once `condition()` holds, checking every 10 ms; rejects naming `what` after
 * `limitMs`. For I/O a test cannot step (a socket closing, a message arriving), never for time
 * a clock could drive: the limit only bounds a test that is already failing.
 */
export async function until(
  condition: () => boolean,
  what: string,
  limitMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
