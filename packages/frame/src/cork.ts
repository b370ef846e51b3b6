import type { Writable } from 'node:stream';

// Streams corked in this turn of the event loop, uncorked together by one setImmediate.
let corked = new Set<Writable>();

/**
 * Corks `stream` until the event loop's check phase (`setImmediate`), once per turn however often
 * it is called: write {@link Protocol.dataToSend}'s chunks right after it. Everything written to
 * the stream in one turn then leaves in one `writev`, and every stream corked in the turn is
 * uncorked together, after all the reads of that turn's poll (on a busy server, the replies to
 * every readable socket leave together). A write made while uncorking waits for the next turn.
 */
export function corkUntilImmediate(stream: Writable): void {
  if (corked.has(stream)) return;
  if (corked.size === 0) setImmediate(uncorkAll);
  corked.add(stream);
  stream.cork();
}

function uncorkAll(): void {
  const streams = corked;
  corked = new Set();
  for (const stream of streams) stream.uncork();
}
